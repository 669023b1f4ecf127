// Tests for capture/log: destinations (stderr, a private append-only file, nowhere), levels
// and the rate limiter, each read back from the descriptor the lines went to.
#include "base/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace mcptap::capture {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

class Log : public ::testing::Test {
 protected:
  void TearDown() override {
    base::log_to_stderr();
    base::set_min_log_level(base::LogLevel::Info);
  }

  // Runs `body` with fd 2 pointing at a file; returns what reached it.
  template <typename Body>
  std::string stderr_of(Body body) {
    const std::string path = dir_ + "/stderr";
    int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int saved = ::dup(STDERR_FILENO);
    ::dup2(file, STDERR_FILENO);
    body();
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    ::close(file);
    return read_file(path);
  }

  // Sends the log to mcptap.log in the test's directory; returns its path.
  std::string log_to_a_file() {
    const std::string path = dir_ + "/mcptap.log";
    base::Status opened = base::log_to_file(path);
    EXPECT_TRUE(opened) << opened.error().message;
    return path;
  }

  test_support::TempDir temp_{"mcptap-log-test"};
  const std::string dir_ = temp_.path();
};

TEST_F(Log, FileIsCreatedPrivateWhateverTheUmask) {
  const std::string path = dir_ + "/mcptap.log";
  mode_t old_mask = ::umask(0);
  base::Status opened = base::log_to_file(path);
  ::umask(old_mask);
  ASSERT_TRUE(opened) << opened.error().message;
  base::log_info("first", {{"route", "r1"}, {"count", 2}});
  base::log_warn("second");
  struct stat info;
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  std::vector<nlohmann::json> lines = json_lines(read_file(path));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["msg"], "first");
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["route"], "r1");
  EXPECT_EQ(lines[0]["count"], 2);
  EXPECT_EQ(lines[1]["level"], "warn");
}

TEST_F(Log, FileLinesNeverReachStderr) {
  const std::string path = dir_ + "/mcptap.log";
  std::string seen = stderr_of([&] {
    base::Status opened = base::log_to_file(path);
    ASSERT_TRUE(opened) << opened.error().message;
    base::log_error("to the file");
  });
  EXPECT_EQ(seen, "");
  EXPECT_EQ(json_lines(read_file(path)).size(), 1u);
}

TEST_F(Log, FileIsAppendedToNeverTruncated) {
  const std::string path = dir_ + "/mcptap.log";
  {
    std::ofstream earlier(path);
    earlier << "{\"msg\":\"an earlier run\"}\n";
  }
  base::Status opened = base::log_to_file(path);
  ASSERT_TRUE(opened) << opened.error().message;
  base::log_info("this run");
  std::vector<nlohmann::json> lines = json_lines(read_file(path));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["msg"], "an earlier run");
  EXPECT_EQ(lines[1]["msg"], "this run");
}

TEST_F(Log, AFileThatCannotBeOpenedSaysWhyAndKeepsTheDestination) {
  base::Status opened;
  std::string seen = stderr_of([&] {
    opened = base::log_to_file(dir_ + "/no/such/dir/mcptap.log");
    base::log_info("still on stderr");
  });
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().message, "No such file or directory");
  ASSERT_EQ(json_lines(seen).size(), 1u);
  EXPECT_EQ(json_lines(seen)[0]["msg"], "still on stderr");
}

TEST_F(Log, NowhereWritesNothingAndStderrComesBack) {
  std::string seen = stderr_of([] {
    base::log_to_nowhere();
    base::log_error("dropped");
    base::log_to_stderr();
    base::log_error("kept");
  });
  std::vector<nlohmann::json> lines = json_lines(seen);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["msg"], "kept");
}

TEST_F(Log, LevelsBelowTheMinimumAreLeftOut) {
  const std::string path = log_to_a_file();
  base::set_min_log_level(base::LogLevel::Warn);
  base::log_info("left out");
  base::log_line(base::LogLevel::Debug, "left out too");
  base::log_warn("kept");
  std::vector<nlohmann::json> lines = json_lines(read_file(path));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["msg"], "kept");
}

TEST_F(Log, RateLimitedLinesReachTheFileOncePerInterval) {
  const std::string path = log_to_a_file();
  base::LogRateLimiter limiter(200);
  auto attempt = [&] {
    uint64_t suppressed = 0;
    if (limiter.allow(&suppressed)) base::log_warn("recurring", {{"suppressed", suppressed}});
  };
  for (int i = 0; i < 5; ++i) attempt();
  ::usleep(250 * 1000);
  attempt();
  std::vector<nlohmann::json> lines = json_lines(read_file(path));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["suppressed"], 0);
  EXPECT_EQ(lines[1]["suppressed"], 4);
}

TEST_F(Log, ParsesLevelNames) {
  EXPECT_EQ(base::parse_log_level("debug"), base::LogLevel::Debug);
  EXPECT_EQ(base::parse_log_level("info"), base::LogLevel::Info);
  EXPECT_EQ(base::parse_log_level("warn"), base::LogLevel::Warn);
  EXPECT_EQ(base::parse_log_level("error"), base::LogLevel::Error);
  EXPECT_EQ(base::parse_log_level("warning"), std::nullopt);
  EXPECT_EQ(base::parse_log_level("INFO"), std::nullopt);
}

}  // namespace
}  // namespace mcptap::capture

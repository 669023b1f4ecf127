// StdioHop: real pipes on the host side, a real child process, the tap and the exit status.
#include "proxy/stdio_hop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace mcptap::proxy {
namespace {

using capture::Direction;

class RecordingTap : public capture::StreamTap {
 public:
  void on_bytes(Direction direction, std::string_view bytes) override {
    (direction == Direction::ClientToServer ? to_child : to_host).append(bytes);
  }
  void on_end(Direction direction) override {
    ++(direction == Direction::ClientToServer ? to_child_ends : to_host_ends);
  }
  void on_close() override { ++closes; }

  std::string to_child, to_host;
  int to_child_ends = 0, to_host_ends = 0, closes = 0;
};

std::string random_bytes(size_t size) {
  std::mt19937 random(42);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

void write_all(int fd, const std::string& bytes) {
  for (size_t done = 0; done < bytes.size();) {
    ssize_t wrote = ::write(fd, bytes.data() + done, bytes.size() - done);
    ASSERT_GT(wrote, 0);
    done += static_cast<size_t>(wrote);
  }
}

std::string read_to_end(int fd) {
  std::string all;
  char chunk[65536];
  for (ssize_t got; (got = ::read(fd, chunk, sizeof chunk)) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    all.append(chunk, static_cast<size_t>(got));
  }
  return all;
}

// The hop between two pipes the test holds the other ends of: the test writes what the
// host would send and reads what the host would receive.
class StdioHopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    int in[2], out[2];
    ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    options_.input_fd = in[0];  // the hop's: closed with its handle
    host_writes_ = in[1];
    options_.output_fd = out[1];
    host_reads_ = out[0];
  }

  void TearDown() override {
    if (host_writes_ >= 0) ::close(host_writes_);
    if (host_reads_ >= 0) ::close(host_reads_);
    EXPECT_EQ(uv_loop_close(&loop_), 0);  // every handle of the hop is closed
  }

  void close_host_input() { ::close(std::exchange(host_writes_, -1)); }

  // Runs the hop over `command` until it is done; returns the start status' message.
  std::string run(const std::vector<std::string>& command) {
    StdioHop hop(&loop_, tap_, limits_, options_);
    base::Status started = hop.start(command);
    if (started && on_started_) on_started_();
    uv_run(&loop_, UV_RUN_DEFAULT);
    exit_code_ = hop.exit_code();
    watermark_pauses_ = hop.watermark_pauses();
    return started ? "" : started.error().message;
  }

  uv_loop_t loop_;
  FlowLimits limits_;
  StdioHopOptions options_;
  RecordingTap tap_;
  int host_writes_ = -1;
  int host_reads_ = -1;
  std::function<void()> on_started_;
  int exit_code_ = -1;
  uint64_t watermark_pauses_ = 0;
};

TEST_F(StdioHopTest, BytesPassBothWaysUnchangedAndTapped) {
  const std::string sent = random_bytes(1u << 20);
  std::string received;
  std::thread host([&] {
    std::thread reader([&] { received = read_to_end(host_reads_); });
    write_all(host_writes_, sent);
    close_host_input();  // the child's stdin sees EOF, so cat ends
    reader.join();
  });
  EXPECT_EQ(run({"cat"}), "");
  host.join();
  EXPECT_EQ(exit_code_, 0);
  EXPECT_TRUE(received == sent);
  EXPECT_TRUE(tap_.to_child == sent);
  EXPECT_TRUE(tap_.to_host == sent);
  EXPECT_EQ(tap_.to_child_ends, 1);
  EXPECT_EQ(tap_.to_host_ends, 1);
  EXPECT_EQ(tap_.closes, 1);
}

// A host that reads late: the queue toward it passes the high watermark, reading the
// child's output stops, and everything still arrives in order once the host reads.
TEST_F(StdioHopTest, SlowReaderPausesTheChildsOutput) {
  limits_.read_buffer_bytes = 4096;
  limits_.high_watermark_bytes = 16u << 10;
  limits_.low_watermark_bytes = 4u << 10;
  const std::string sent = random_bytes(8u << 20);
  std::string received;
  std::thread host([&] {
    std::thread writer([&] {
      write_all(host_writes_, sent);
      close_host_input();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    received = read_to_end(host_reads_);
    writer.join();
  });
  EXPECT_EQ(run({"cat"}), "");
  host.join();
  EXPECT_EQ(exit_code_, 0);
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent);
  EXPECT_GT(watermark_pauses_, 0u);
}

// The end of the host's input reaches the child as EOF on its stdin.
TEST_F(StdioHopTest, EndOfInputReachesTheChild) {
  std::string received;
  std::thread host([&] {
    write_all(host_writes_, std::string(12345, 'x'));
    close_host_input();
    received = read_to_end(host_reads_);
  });
  EXPECT_EQ(run({"wc", "-c"}), "");
  host.join();
  EXPECT_EQ(received, "12345\n");
  EXPECT_EQ(exit_code_, 0);
}

// The child's exit ends the hop even while the host keeps its input open.
TEST_F(StdioHopTest, ExitStatusIsTheChilds) {
  EXPECT_EQ(run({"sh", "-c", "printf bye; exit 7"}), "");
  EXPECT_EQ(exit_code_, 7);
  EXPECT_EQ(read_to_end(host_reads_), "bye");
  EXPECT_EQ(tap_.to_host, "bye");
  EXPECT_EQ(tap_.to_child_ends, 1);  // its input ended with it
}

TEST_F(StdioHopTest, DeathBySignalIs128PlusN) {
  EXPECT_EQ(run({"sh", "-c", "kill -KILL $$"}), "");
  EXPECT_EQ(exit_code_, 128 + SIGKILL);
}

// SIGTERM to us goes to the child; its death by it becomes our exit status.
TEST_F(StdioHopTest, SignalsAreForwardedToTheChild) {
  std::thread signaller;
  on_started_ = [&] {
    signaller = std::thread([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      ::kill(::getpid(), SIGTERM);
    });
  };
  auto began = std::chrono::steady_clock::now();
  EXPECT_EQ(run({"sleep", "30"}), "");
  signaller.join();
  EXPECT_EQ(exit_code_, 128 + SIGTERM);
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(10));
}

// A grandchild that keeps the child's stdout open does not hold the hop past the grace.
TEST_F(StdioHopTest, OutputHeldByAGrandchildEndsAfterTheGrace) {
  options_.exit_grace_ms = 200;
  auto began = std::chrono::steady_clock::now();
  EXPECT_EQ(run({"sh", "-c", "sleep 5 & exit 3"}), "");
  EXPECT_EQ(exit_code_, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(4));
}

TEST_F(StdioHopTest, ACommandThatCannotRunIsAnError) {
  EXPECT_EQ(run({"/nonexistent/mcp-server"}),
            "cannot run /nonexistent/mcp-server: no such file or directory");
  EXPECT_EQ(exit_code_, 127);
  EXPECT_EQ(tap_.closes, 1);
}

}  // namespace
}  // namespace mcptap::proxy

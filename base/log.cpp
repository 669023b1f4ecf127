// JSON-lines logging to stderr, to a file, or nowhere.
#include "base/log.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "base/clock.h"
#include "base/json_text.h"

namespace mcptap::base {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::Info)};
std::mutex write_mutex;
// Guarded by write_mutex. -1 discards every line; a descriptor other than stderr's is ours.
int log_fd = STDERR_FILENO;
std::atomic<bool> discarding{false};  // log_fd < 0: lines are not even built

// Under write_mutex.
void set_log_fd(int fd) {
  if (log_fd != STDERR_FILENO && log_fd >= 0) ::close(log_fd);
  log_fd = fd;
  discarding = fd < 0;
}

// Under write_mutex. One write(2) per line when it fits, so that with O_APPEND the lines of
// several processes sharing one file never interleave within a line.
void write_all(std::string_view text) {
  if (log_fd < 0) return;
  while (!text.empty()) {
    ssize_t wrote = ::write(log_fd, text.data(), text.size());
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return;  // nowhere to log a logging failure: the line is lost
    text.remove_prefix(static_cast<size_t>(wrote));
  }
}

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "info";
}

std::string utc_timestamp() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  tm parts;
  gmtime_r(&now.tv_sec, &parts);
  char text[40];
  size_t length = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  snprintf(text + length, sizeof text - length, ".%03ldZ", now.tv_nsec / 1000000);
  return text;
}

}  // namespace

void set_min_log_level(LogLevel level) {
  min_level = static_cast<int>(level);
}

std::optional<LogLevel> parse_log_level(std::string_view name) {
  for (LogLevel level : {LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error}) {
    if (name == level_name(level)) return level;
  }
  return std::nullopt;
}

void log_to_stderr() {
  std::lock_guard lock(write_mutex);
  set_log_fd(STDERR_FILENO);
}

void log_to_nowhere() {
  std::lock_guard lock(write_mutex);
  set_log_fd(-1);
}

Status log_to_file(const std::string& path) {
  // O_CLOEXEC: a child (mcptap stdio's server) must not inherit our log.
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) return fail(std::strerror(errno));
  std::lock_guard lock(write_mutex);
  set_log_fd(fd);
  return {};
}

// Logging is called from the data path: a line that cannot be built (out of memory) is
// dropped rather than thrown at a caller that must not fail.
void log_line(LogLevel level, std::string_view message, const nlohmann::json& fields) noexcept {
  if (static_cast<int>(level) < min_level || discarding) return;
  try {
    nlohmann::json line = {{"ts", utc_timestamp()}, {"level", level_name(level)}, {"msg", message}};
    if (fields.is_object()) {
      for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
    }
    std::string text = json_text(line);
    text.push_back('\n');
    std::lock_guard lock(write_mutex);
    write_all(text);
  } catch (...) {
    // Dropped: the caller goes on as if the line had been written.
  }
}

bool LogRateLimiter::allow(uint64_t* suppressed) {
  int64_t now = monotonic_now_us() / 1000;
  if (last_ms_ >= 0 && now - last_ms_ < interval_ms_) {
    ++held_back_;
    return false;
  }
  last_ms_ = now;
  *suppressed = held_back_;
  held_back_ = 0;
  return true;
}

void log_limited(LogRateLimiter& limiter, LogLevel level, std::string_view message,
                 nlohmann::json fields) noexcept {
  uint64_t suppressed = 0;
  if (!limiter.allow(&suppressed)) return;
  try {
    if (suppressed > 0) fields["suppressed"] = suppressed;
  } catch (...) {
    // The count is a courtesy; the line is still worth writing without it.
  }
  log_line(level, message, fields);
}

}  // namespace mcptap::base

// JSON-lines logging to stderr.
#include "capture/log.h"

#include <time.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "capture/json_text.h"

namespace mcptap::capture {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::Info)};
std::mutex write_mutex;

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
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

int64_t monotonic_ms() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

}  // namespace

void set_min_log_level(LogLevel level) { min_level = static_cast<int>(level); }

void log_line(LogLevel level, std::string_view message, const nlohmann::json& fields) {
  if (static_cast<int>(level) < min_level) return;
  nlohmann::json line = {{"ts", utc_timestamp()}, {"level", level_name(level)}, {"msg", message}};
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  std::string text = json_text(line);
  text.push_back('\n');
  std::lock_guard lock(write_mutex);
  fwrite(text.data(), 1, text.size(), stderr);
}

bool LogRateLimiter::allow(uint64_t* suppressed) {
  int64_t now = monotonic_ms();
  if (last_ms_ >= 0 && now - last_ms_ < interval_ms_) {
    ++held_back_;
    return false;
  }
  last_ms_ = now;
  *suppressed = held_back_;
  held_back_ = 0;
  return true;
}

}  // namespace mcptap::capture

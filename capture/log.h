// Structured logging shared by every module: one JSON object per line on stderr.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace mcptap::capture {

enum class LogLevel { Debug, Info, Warn, Error };

// Writes {"ts":...,"level":...,"msg":...,<fields>} as one line. Thread-safe. Payloads
// never go through here: callers pass identifiers and counts only.
void log_line(LogLevel level, std::string_view message, const nlohmann::json& fields = {});

inline void log_info(std::string_view message, const nlohmann::json& fields = {}) {
  log_line(LogLevel::Info, message, fields);
}
inline void log_warn(std::string_view message, const nlohmann::json& fields = {}) {
  log_line(LogLevel::Warn, message, fields);
}
inline void log_error(std::string_view message, const nlohmann::json& fields = {}) {
  log_line(LogLevel::Error, message, fields);
}

// Lets a caller log a recurring condition at most once per interval: true when the line
// should be written now. `suppressed` counts the calls that were held back since.
class LogRateLimiter {
 public:
  explicit LogRateLimiter(int64_t interval_ms) : interval_ms_(interval_ms) {}
  bool allow(uint64_t* suppressed);

 private:
  int64_t interval_ms_;
  int64_t last_ms_ = -1;
  uint64_t held_back_ = 0;
};

void set_min_log_level(LogLevel level);

}  // namespace mcptap::capture

// Structured logging shared by every module: one JSON object per line, on stderr by default.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace mcptap::base {

enum class LogLevel { Debug, Info, Warn, Error };

// Writes {"ts":...,"level":...,"msg":...,<fields>} as one line. Thread-safe and never
// throws: a line that cannot be built or written is dropped. Payloads never go through
// here: callers pass identifiers and counts only.
void log_line(LogLevel level, std::string_view message, const nlohmann::json& fields = {}) noexcept;

inline void log_info(std::string_view message, const nlohmann::json& fields = {}) noexcept {
  log_line(LogLevel::Info, message, fields);
}
inline void log_warn(std::string_view message, const nlohmann::json& fields = {}) noexcept {
  log_line(LogLevel::Warn, message, fields);
}
inline void log_error(std::string_view message, const nlohmann::json& fields = {}) noexcept {
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

// Writes the line if `limiter` allows one now, adding how many were held back since
// ("suppressed"): for conditions that can recur on every record or every retry.
void log_limited(LogRateLimiter& limiter, LogLevel level, std::string_view message,
                 nlohmann::json fields = {}) noexcept;

void set_min_log_level(LogLevel level);
// "debug", "info", "warn" or "error"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name);

// Where log lines go; set at start-up. Stderr is the default. `mcptap stdio` shares its
// stderr with the child it runs (an MCP host shows it to its user), so it logs to a file
// or nowhere. Fatal start-up errors never go through here: the CLI prints them itself.
void log_to_stderr();
void log_to_nowhere();
// Appends to `path`, creating it private to the user (0600). Fails with the system's
// reason ("Permission denied") when it cannot be opened; the destination is then unchanged.
Status log_to_file(const std::string& path);

}  // namespace mcptap::base

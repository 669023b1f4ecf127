// Replaces secrets in captured JSON and HTTP headers before anything leaves the process.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace mcptap::capture {

struct RedactOptions {
  // Object keys whose values are secrets, matched case-insensitively at any depth.
  std::vector<std::string> json_keys{"password", "token", "api_key", "secret", "authorization"};
  // Keys ending with one of these (case-insensitive) are secrets too: github_token, aws_key.
  std::vector<std::string> json_key_suffixes{"_token", "_key", "_secret"};
  // HTTP header names (case-insensitive) whose values are replaced in meta.
  std::vector<std::string> headers{"authorization", "cookie", "set-cookie", "x-api-key",
                                   "proxy-authorization"};
};

inline constexpr std::string_view kRedactedValue = "[REDACTED]";

class Redactor {
 public:
  explicit Redactor(RedactOptions options);

  bool is_secret_key(std::string_view key) const;
  // Replaces the value of every secret key at any depth by "[REDACTED]", iteratively (no
  // recursion per level). Returns true when at least one value was replaced.
  bool redact_json(nlohmann::json& document) const;
  // Same for an object of header name -> value (or array of values); a header given as an
  // array is replaced as a whole by one marker.
  bool redact_headers(nlohmann::json& headers) const;

 private:
  std::vector<std::string> keys_;      // lowercased
  std::vector<std::string> suffixes_;  // lowercased
  std::vector<std::string> headers_;   // lowercased
};

}  // namespace mcptap::capture

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
  // Replace well-known secret shapes inside any string value, header value or query value:
  // "Bearer <token>", sk-/sk-proj- keys, GitHub (ghp_, gho_, ghs_, ghu_, ghr_, github_pat_),
  // Slack (xoxb-, xoxp-, ...), AWS access key ids (AKIA/ASIA), JWTs and PEM private keys.
  // Only the secret itself becomes "[REDACTED]"; the text around it stays.
  bool value_patterns = true;
  // More token prefixes treated like "sk-": the prefix followed by at least 8 token
  // characters ([A-Za-z0-9_-]) is a secret. Matched case-sensitively at a word start.
  std::vector<std::string> extra_value_prefixes;
  // A string value that itself holds JSON ("{..." or "[...") is parsed (depth-bounded),
  // redacted like a document, and written back when something was replaced.
  bool nested_json = true;
  // Query parameter names (case-insensitive) whose values are replaced in request-targets,
  // on top of every name is_secret_key() accepts (token, api_key, access_token, ...).
  std::vector<std::string> query_params{"key",  "sig",           "signature", "auth",
                                        "code", "client_secret", "password"};
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
  // Header values under other names still get the value patterns (a custom header
  // carrying "Bearer ..."), and Referer/Location get redact_target().
  bool redact_headers(nlohmann::json& headers) const;
  // Replaces every secret shape (see RedactOptions::value_patterns) inside text. One pass,
  // O(size); text with no candidate start is left untouched without allocating.
  bool redact_string(std::string& text) const;
  // Whether redact_json() would change this string value of a document (its patterns or,
  // for a string holding JSON, that JSON redacted), without changing anything.
  bool would_redact_string_value(std::string_view text) const;
  // A request-target or URL with the values of secret query parameters replaced:
  // "/mcp?token=abc&x=1" -> "/mcp?token=[REDACTED]&x=1". Other values get the patterns.
  std::string redact_target(std::string_view target) const;

 private:
  std::vector<std::string> keys_;          // lowercased
  std::vector<std::string> suffixes_;      // lowercased
  std::vector<std::string> headers_;       // lowercased
  std::vector<std::string> query_params_;  // lowercased
  std::vector<std::string> extra_prefixes_;
  bool value_patterns_;
  bool nested_json_;

  bool redact_json_at(nlohmann::json& document, int embedding_level) const;
  bool redact_string_value(std::string& text, int embedding_level) const;
  bool redact_header_value(std::string_view name, nlohmann::json& value) const;
  std::string redact_query_pair(std::string_view pair) const;
};

}  // namespace mcptap::capture

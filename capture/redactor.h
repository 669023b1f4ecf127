// Replaces secrets in captured JSON and HTTP headers before anything leaves the process.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace mcptap::capture {

// Every configured name is matched the same way: ASCII case folded and '-' and '_' dropped,
// so "api_key" also covers "apiKey", "api-key", "API_KEY" and "APIKEY".
struct RedactOptions {
  // Object keys whose values are secrets, matched as normalised names at any depth.
  std::vector<std::string> json_keys{
      "password",      "passwd",        "pwd",        "passphrase",    "secret",
      "token",         "api_key",       "auth",       "authorization", "credential",
      "credentials",   "private_key",   "secret_key", "client_secret", "access_token",
      "refresh_token", "session_token", "auth_token", "api_token",     "id_token",
      "cookie",        "set_cookie"};
  // Keys ending with one of these are secrets too. A suffix written with a leading '-', '_'
  // or capital ("_token", "-token", "Token") must start a word of the key: after '-' or
  // '_', or at a capital in camelCase (githubToken, OAuth2Token, APIKey), and after at least
  // one other character. So "_token" matches github_token and authToken but not
  // max_tokens, tokens or progresstoken; "_key" matches apiKey but not monkey or keyboard.
  // A suffix starting with a small letter is a plain ending of the normalised key.
  std::vector<std::string> json_key_suffixes{"_token",    "_key",    "_secret",
                                             "_password", "_passwd", "_credentials"};
  // Keys a suffix would match that name no secret; exact json_keys still win over them.
  // MCP's progressToken correlates progress notifications and is chosen by the client.
  std::vector<std::string> json_key_exceptions{"progressToken"};
  // HTTP header names whose values are replaced in meta, normalised like the keys.
  std::vector<std::string> headers{"authorization",
                                   "proxy-authorization",
                                   "cookie",
                                   "set-cookie",
                                   "x-api-key",
                                   "api-key",
                                   "x-auth-token",
                                   "x-access-token",
                                   "x-api-token",
                                   "x-goog-api-key",
                                   "x-amz-security-token",
                                   "private-token",
                                   "ocp-apim-subscription-key"};
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
  // Query parameter names whose values are replaced in request-targets, on top of every
  // name is_secret_key() accepts (token, api_key, access-token, apiKey, x-api-key, ...).
  // Names are percent-decoded first ("%74oken" is "token"), then normalised like the keys.
  std::vector<std::string> query_params{"key",  "sig",           "signature", "auth",
                                        "code", "client_secret", "password"};
};

// Names normalised for matching (see RedactOptions): whole names, and endings a key may
// have. Bucketed by their last three characters, so a key is compared only with the names
// that end like it, and most keys with none. Reads the key in place: no copy, no allocation.
class NormalizedNames {
 public:
  enum class Match { None, Whole, Ending };

  NormalizedNames() = default;
  explicit NormalizedNames(const std::vector<std::string>& whole_names,
                           const std::vector<std::string>& endings = {});

  // Whole: the key, normalised, is one of the whole names. Ending: it is not, but ends with
  // one of the endings, at a word start where that ending asks for one (json_key_suffixes).
  Match match(std::string_view key) const;
  bool contains(std::string_view key) const { return match(key) == Match::Whole; }

 private:
  struct Name {
    std::string text;  // normalised; never empty
    bool whole;        // a whole name, else an ending
    bool word_start;   // an ending that must begin a word of the key
  };
  static constexpr size_t kBuckets = 1024;

  // The short names and the names that end like the key, one by one: the rare slow path
  // of match().
  [[gnu::noinline]] Match match_candidates(std::string_view key) const;
  bool matches(std::string_view key, const Name& name, size_t* normalized_length) const;

  // Three characters or more, sorted by bucket.
  std::vector<Name> names_;
  std::array<uint32_t, kBuckets + 1> bucket_start_{};  // bucket b: [start[b], start[b + 1])
  std::array<uint64_t, kBuckets / 64> nonempty_buckets_{};
  std::vector<Name> short_names_;  // one or two characters: compared with every key
};

inline constexpr std::string_view kRedactedValue = "[REDACTED]";

class Redactor {
 public:
  explicit Redactor(RedactOptions options);

  // Whether the value of this object key (or query parameter name) is a secret: one of
  // json_keys, or ending with one of json_key_suffixes and not one of json_key_exceptions.
  // Called for every key of every message: compares in place, never allocates.
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
  NormalizedNames keys_;  // json_keys whole, json_key_suffixes as endings
  NormalizedNames exceptions_;
  NormalizedNames headers_;
  NormalizedNames query_params_;
  std::vector<std::string> extra_prefixes_;
  bool value_patterns_;
  bool nested_json_;

  bool redact_json_at(nlohmann::json& document, int embedding_level) const;
  bool redact_string_value(std::string& text, int embedding_level) const;
  bool redact_header_value(std::string_view name, nlohmann::json& value) const;
  std::string redact_query_pair(std::string_view pair) const;
};

}  // namespace mcptap::capture

// Secret redaction in captured JSON documents and HTTP header maps.
#include "capture/redactor.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "base/ascii_case.h"
#include "base/json_text.h"
#include "base/text.h"
#include "capture/json_bounded.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

// ---- Key names: ASCII case folded, '-' and '_' dropped, compared in place. ----
// ASCII folding is enough: the configured names are ASCII, and a non-ASCII byte simply
// never matches one.

bool is_separator(char c) {
  return c == '-' || c == '_';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string normalize_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (!is_separator(c)) out.push_back(base::fold_ascii(c));
  }
  return out;
}

// Where key[at] begins a word that has another character before it: after '-' or '_', at a
// capital after a small letter or digit (apiKey, oauth2Token), or at the last capital of a
// run that a small letter follows (APIKey). "monkey" and "maxtokens" have no word there.
bool starts_inner_word(std::string_view key, size_t at) {
  if (at == 0) return false;
  const char previous = key[at - 1];
  const char c = key[at];
  if (is_separator(previous)) return true;
  if (!is_upper(c)) return false;
  if (is_lower(previous) || is_digit(previous)) return true;
  return is_upper(previous) && at + 1 < key.size() && is_lower(key[at + 1]);
}

// Reads key backwards against a normalised name, skipping separators. Returns where in key
// the name's first character is, or npos when key does not end with the name.
size_t match_from_end(std::string_view key, std::string_view name) {
  size_t at = key.size();
  for (size_t n = name.size(); n > 0; --n) {
    while (at > 0 && is_separator(key[at - 1])) --at;
    if (at == 0 || base::fold_ascii(key[at - 1]) != name[n - 1]) return std::string_view::npos;
    --at;
  }
  return at;
}

// The normalised length of key: its characters other than separators.
size_t count_normalized(std::string_view key) {
  return static_cast<size_t>(
      std::count_if(key.begin(), key.end(), [](char c) { return !is_separator(c); }));
}

void replace_with_marker(json& value) {
  value = std::string(kRedactedValue);
}

// ---- Secret shapes, matched by hand: one pass over the text, no backtracking regex. ----

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_upper_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_word(char c) {
  return is_alnum(c) || c == '_' || c == '-';
}
// base64url, the alphabet of JWT segments.
bool is_b64url(char c) {
  return is_word(c);
}
// RFC 6750 b64token, what follows "Bearer ".
bool is_b64token(char c) {
  return is_word(c) || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

// Length of the run of characters accepted by `accept` starting at `from`.
template <typename Accept>
size_t run_length(std::string_view text, size_t from, Accept accept) {
  size_t end = from;
  while (end < text.size() && accept(text[end])) ++end;
  return end - from;
}

bool starts_with_at(std::string_view text, size_t at, std::string_view prefix) {
  return text.size() - at >= prefix.size() && text.substr(at, prefix.size()) == prefix;
}

bool starts_with_folded_at(std::string_view text, size_t at, std::string_view lower_prefix) {
  return text.size() - at >= lower_prefix.size() &&
         base::equals_folded(text.substr(at, lower_prefix.size()), lower_prefix);
}

// A secret found in text: [begin, end) is replaced by the marker.
struct Span {
  size_t begin = 0;
  size_t end = 0;
};

// prefix + at least min_body characters of `accept`; the whole token is the secret.
template <typename Accept>
std::optional<Span> prefixed_token(std::string_view text, size_t at, std::string_view prefix,
                                   size_t min_body, Accept accept) {
  if (!starts_with_at(text, at, prefix)) return std::nullopt;
  size_t body = run_length(text, at + prefix.size(), accept);
  if (body < min_body) return std::nullopt;
  return Span{at, at + prefix.size() + body};
}

std::optional<Span> match_bearer(std::string_view text, size_t at) {
  for (std::string_view scheme : {std::string_view("bearer "), std::string_view("basic ")}) {
    if (!starts_with_folded_at(text, at, scheme)) continue;
    size_t start = at + scheme.size();
    while (start < text.size() && text[start] == ' ') ++start;
    size_t body = run_length(text, start, is_b64token);
    // Short words after "Bearer" are prose ("bearer of"), not credentials.
    if (body < 8) continue;
    // A credential (token68) has '=' only as trailing padding. `realm=x` or
    // `resource_metadata="…"` is an auth-param of a WWW-Authenticate challenge, which
    // names where to authenticate and holds no secret.
    std::string_view run = text.substr(start, body);
    size_t equals = run.find('=');
    bool auth_param = equals != std::string_view::npos &&
                      (run.find_first_not_of('=', equals) != std::string_view::npos ||
                       (start + body < text.size() && text[start + body] == '"'));
    if (!auth_param) return Span{start, start + body};
  }
  return std::nullopt;
}

std::optional<Span> match_jwt(std::string_view text, size_t at) {
  // header.payload[.signature], both JSON objects in base64url, so both start "eyJ".
  if (!starts_with_at(text, at, "eyJ")) return std::nullopt;
  size_t end = at + run_length(text, at, is_b64url);
  if (end - at < 10 || end >= text.size() || text[end] != '.') return std::nullopt;
  if (!starts_with_at(text, end + 1, "eyJ")) return std::nullopt;
  size_t payload_end = end + 1 + run_length(text, end + 1, is_b64url);
  if (payload_end - end - 1 < 10) return std::nullopt;
  if (payload_end < text.size() && text[payload_end] == '.') {
    payload_end += 1 + run_length(text, payload_end + 1, is_b64url);
  }
  return Span{at, payload_end};
}

std::optional<Span> match_private_key(std::string_view text, size_t at) {
  constexpr std::string_view kBegin = "-----BEGIN ";
  if (!starts_with_at(text, at, kBegin)) return std::nullopt;
  // The label ends at the next "-----" on the same line: "RSA PRIVATE KEY", "PRIVATE KEY".
  // Looking only in a short window keeps a run of unterminated "-----BEGIN " linear.
  size_t label_end =
      text.substr(0, std::min(text.size(), at + 80)).find("-----", at + kBegin.size());
  if (label_end == std::string_view::npos) return std::nullopt;
  std::string_view label = text.substr(at + kBegin.size(), label_end - at - kBegin.size());
  if (label.size() < 11 || label.substr(label.size() - 11) != "PRIVATE KEY") return std::nullopt;
  // Up to and including the END line; a block cut short is a secret to the end of the text.
  size_t end_marker = text.find("-----END ", label_end + 5);
  if (end_marker == std::string_view::npos) return Span{at, text.size()};
  size_t close = text.find("-----", end_marker + 9);
  return Span{at, close == std::string_view::npos ? text.size() : close + 5};
}

std::optional<Span> match_aws_key_id(std::string_view text, size_t at) {
  if (!starts_with_at(text, at, "AKIA") && !starts_with_at(text, at, "ASIA")) return std::nullopt;
  size_t body = run_length(text, at + 4, is_upper_alnum);
  if (body != 16 || (at + 20 < text.size() && is_alnum(text[at + 20]))) return std::nullopt;
  return Span{at, at + 20};
}

std::optional<Span> match_vendor_token(std::string_view text, size_t at) {
  auto alnum_or_underscore = [](char c) { return is_alnum(c) || c == '_'; };
  auto slack = [](char c) { return is_alnum(c) || c == '-'; };
  switch (text[at]) {
    case 's':  // OpenAI/Anthropic style, sk-proj-... and sk-ant-... included.
      return prefixed_token(text, at, "sk-", 16, is_word);
    case 'g':
      if (auto span = prefixed_token(text, at, "github_pat_", 20, alnum_or_underscore)) return span;
      for (std::string_view prefix : {"ghp_", "gho_", "ghs_", "ghu_", "ghr_"}) {
        if (auto span = prefixed_token(text, at, prefix, 20, is_alnum)) return span;
      }
      return std::nullopt;
    case 'x':
      for (std::string_view prefix : {"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-"}) {
        if (auto span = prefixed_token(text, at, prefix, 10, slack)) return span;
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// The characters a secret can start with. Checking one table entry per byte is the
// prefilter: ordinary text costs a lookup per character and no allocation.
constexpr std::array<bool, 256> candidate_starts() {
  std::array<bool, 256> table{};
  for (unsigned char c : std::string_view("bBsgxeA-")) table[c] = true;
  return table;
}
constexpr std::array<bool, 256> kCandidateStart = candidate_starts();

std::optional<Span> match_at(std::string_view text, size_t at,
                             const std::vector<std::string>& extra_prefixes) {
  for (const std::string& prefix : extra_prefixes) {
    if (auto span = prefixed_token(text, at, prefix, 8, is_word)) return span;
  }
  unsigned char c = static_cast<unsigned char>(text[at]);
  if (!kCandidateStart[c]) return std::nullopt;
  switch (c) {
    case 'b':
    case 'B':
      return match_bearer(text, at);
    case 'e':
      return match_jwt(text, at);
    case 'A':
      return match_aws_key_id(text, at);
    case '-':
      return match_private_key(text, at);
    default:
      return match_vendor_token(text, at);
  }
}

// The first secret at or after `from`. Secrets start at a word boundary: "task-..." does
// not hold an "sk-" key.
std::optional<Span> next_secret(std::string_view text, size_t from,
                                const std::vector<std::string>& extra_prefixes) {
  for (size_t at = from; at < text.size(); ++at) {
    if (at > 0 && is_word(text[at - 1])) continue;
    if (std::optional<Span> span = match_at(text, at, extra_prefixes)) return span;
  }
  return std::nullopt;
}

// Replaces every match; text between matches is copied once, so the pass is O(size).
bool replace_secrets(std::string& text, const std::vector<std::string>& extra_prefixes) {
  std::string_view view(text);
  std::string out;
  size_t copied = 0;
  for (size_t at = 0; at < view.size();) {
    std::optional<Span> span = next_secret(view, at, extra_prefixes);
    if (!span) break;
    if (out.empty()) out.reserve(view.size());
    out.append(view.substr(copied, span->begin - copied));
    out.append(kRedactedValue);
    copied = span->end;
    at = span->end;
  }
  if (copied == 0 && out.empty()) return false;
  out.append(view.substr(copied));
  text = std::move(out);
  return true;
}

// A string that may hold JSON: after leading blanks, an object or array opens.
bool looks_like_json(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
}

// "%74oken" -> "token". A '%' not followed by two hex digits stays as it is, as servers
// leave it.
std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    int high = i + 2 < text.size() && text[i] == '%' ? base::hex_value(text[i + 1]) : -1;
    int low = high >= 0 ? base::hex_value(text[i + 2]) : -1;
    if (low < 0) {
      out.push_back(text[i]);
      continue;
    }
    out.push_back(static_cast<char>(high << 4 | low));
    i += 2;
  }
  return out;
}

// JSON held in a string held in JSON... is followed this many levels down; each level is a
// bounded parse, so the cost stays linear in practice and the recursion is capped.
constexpr int kMaxEmbeddingLevels = 4;

// The last three characters of a key once normalised, packed, and how many there are (a
// key with fewer can only match a short name).
struct KeyEnding {
  uint32_t packed = 0;
  int count = 0;
};

KeyEnding ending_of(std::string_view key) {
  const size_t size = key.size();
  auto byte = [key](size_t at) {
    return static_cast<uint32_t>(static_cast<unsigned char>(base::fold_ascii(key[at])));
  };
  // Most keys end in three characters that are not separators.
  if (size >= 3 && !is_separator(key[size - 1]) && !is_separator(key[size - 2]) &&
      !is_separator(key[size - 3])) {
    return {byte(size - 1) | byte(size - 2) << 8 | byte(size - 3) << 16, 3};
  }
  KeyEnding ending;
  for (size_t at = size; at > 0 && ending.count < 3; --at) {
    if (is_separator(key[at - 1])) continue;
    ending.packed |= byte(at - 1) << (8 * ending.count);
    ++ending.count;
  }
  return ending;
}

size_t bucket_of(KeyEnding ending) {
  return (ending.packed * 0x9E3779B1u) >> 22;  // the top 10 bits: 1024 buckets
}

}  // namespace

NormalizedNames::NormalizedNames(const std::vector<std::string>& whole_names,
                                 const std::vector<std::string>& endings) {
  auto add = [this](const std::string& name, bool whole) {
    std::string text = normalize_name(name);
    // A name of separators only would match every key (as an ending) or none: dropped.
    if (text.empty()) return;
    const bool word_start = !whole && (is_separator(name.front()) || is_upper(name.front()));
    (text.size() < 3 ? short_names_ : names_).push_back({std::move(text), whole, word_start});
  };
  for (const std::string& name : whole_names) add(name, true);
  for (const std::string& name : endings) add(name, false);
  auto bucket = [](const Name& name) { return bucket_of(ending_of(name.text)); };
  std::stable_sort(names_.begin(), names_.end(),
                   [&](const Name& a, const Name& b) { return bucket(a) < bucket(b); });
  size_t next = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    bucket_start_[b] = static_cast<uint32_t>(next);
    while (next < names_.size() && bucket(names_[next]) == b) ++next;
    if (next > bucket_start_[b]) nonempty_buckets_[b / 64] |= uint64_t{1} << (b % 64);
  }
  bucket_start_[kBuckets] = static_cast<uint32_t>(names_.size());
}

bool NormalizedNames::matches(std::string_view key, const Name& name,
                              size_t* normalized_length) const {
  if (name.text.size() > key.size()) return false;
  if (name.whole) {
    // Counted once per key, and only for a key some whole name ends like.
    if (*normalized_length == 0) *normalized_length = count_normalized(key);
    return name.text.size() == *normalized_length &&
           match_from_end(key, name.text) != std::string_view::npos;
  }
  size_t at = match_from_end(key, name.text);
  return at != std::string_view::npos && (!name.word_start || starts_inner_word(key, at));
}

NormalizedNames::Match NormalizedNames::match(std::string_view key) const {
  // Most keys: no name ends like them, known after three characters and one bit test.
  if (short_names_.empty()) {
    const KeyEnding ending = ending_of(key);
    if (ending.count < 3) return Match::None;
    const size_t bucket = bucket_of(ending);
    if (!((nonempty_buckets_[bucket / 64] >> (bucket % 64)) & 1)) return Match::None;
  }
  return match_candidates(key);
}

NormalizedNames::Match NormalizedNames::match_candidates(std::string_view key) const {
  Match found = Match::None;
  size_t normalized_length = 0;
  auto consider = [&](const Name& name) {
    if (!matches(key, name, &normalized_length)) return false;
    found = name.whole ? Match::Whole : Match::Ending;
    return name.whole;  // a whole name decides; an ending may still be one too
  };
  for (const Name& name : short_names_) {
    if (consider(name)) return found;
  }
  const KeyEnding ending = ending_of(key);
  if (ending.count < 3) return found;
  const size_t bucket = bucket_of(ending);
  for (uint32_t i = bucket_start_[bucket]; i < bucket_start_[bucket + 1]; ++i) {
    if (consider(names_[i])) return found;
  }
  return found;
}

Redactor::Redactor(RedactOptions options)
    : keys_(options.json_keys, options.json_key_suffixes),
      exceptions_(options.json_key_exceptions),
      headers_(options.headers),
      query_params_(options.query_params),
      extra_prefixes_(std::move(options.extra_value_prefixes)),
      value_patterns_(options.value_patterns),
      nested_json_(options.nested_json) {
  // An empty prefix would match everywhere and redact every word.
  std::erase_if(extra_prefixes_, [](const std::string& prefix) { return prefix.empty(); });
}

bool Redactor::is_secret_key(std::string_view key) const {
  switch (keys_.match(key)) {
    case NormalizedNames::Match::Whole:
      return true;
    case NormalizedNames::Match::Ending:
      return !exceptions_.contains(key);
    case NormalizedNames::Match::None:
      break;
  }
  return false;
}

bool Redactor::redact_json(nlohmann::json& document) const {
  return redact_json_at(document, 0);
}

bool Redactor::redact_string(std::string& text) const {
  return value_patterns_ && replace_secrets(text, extra_prefixes_);
}

bool Redactor::would_redact_string_value(std::string_view text) const {
  if (nested_json_ && looks_like_json(text)) {
    // Rare enough to take the real path: JSON held in a string is redacted as a document.
    std::string copy(text);
    return redact_string_value(copy, 0);
  }
  return value_patterns_ && next_secret(text, 0, extra_prefixes_).has_value();
}

bool Redactor::redact_string_value(std::string& text, int embedding_level) const {
  if (nested_json_ && embedding_level < kMaxEmbeddingLevels && looks_like_json(text)) {
    base::Result<json> inner = parse_json_bounded(text, kDefaultMaxJsonDepth);
    if (inner && inner->is_structured()) {
      if (!redact_json_at(*inner, embedding_level + 1)) return false;
      text = base::json_text(*inner);
      return true;
    }
  }
  return redact_string(text);
}

bool Redactor::redact_json_at(nlohmann::json& document, int embedding_level) const {
  // Containers still to visit. Documents come from the depth-bounded parser, but the walk
  // does not rely on that: its stack lives on the heap, not in call frames.
  std::vector<json*> to_visit;
  if (document.is_structured()) to_visit.push_back(&document);
  bool replaced = false;
  bool scan_strings = value_patterns_ || nested_json_;
  auto visit_value = [&](json& value) {
    if (value.is_structured()) {
      to_visit.push_back(&value);
    } else if (scan_strings && value.is_string()) {
      replaced |= redact_string_value(value.get_ref<std::string&>(), embedding_level);
    }
  };
  while (!to_visit.empty()) {
    json& container = *to_visit.back();
    to_visit.pop_back();
    if (container.is_array()) {
      for (json& element : container) visit_value(element);
      continue;
    }
    for (auto& [key, value] : container.get_ref<json::object_t&>()) {
      if (is_secret_key(key)) {
        replace_with_marker(value);
        replaced = true;
      } else {
        visit_value(value);
      }
    }
  }
  return replaced;
}

bool Redactor::redact_headers(nlohmann::json& headers) const {
  if (!headers.is_object()) return false;
  bool replaced = false;
  for (auto& [name, value] : headers.get_ref<json::object_t&>()) {
    if (!headers_.contains(name)) {
      replaced |= redact_header_value(name, value);
      continue;
    }
    // A repeated header (several Set-Cookie lines) becomes one marker as well.
    replace_with_marker(value);
    replaced = true;
  }
  return replaced;
}

bool Redactor::redact_header_value(std::string_view name, nlohmann::json& value) const {
  // Headers that carry a URL can carry a credential in its query string.
  bool is_url = base::equals_folded(name, "referer") || base::equals_folded(name, "location") ||
                base::equals_folded(name, "content-location");
  auto redact_one = [&](json& element) {
    if (!element.is_string()) return false;
    std::string& text = element.get_ref<std::string&>();
    if (is_url) {
      std::string redacted = redact_target(text);
      if (redacted == text) return false;
      text = std::move(redacted);
      return true;
    }
    return redact_string(text);
  };
  if (!value.is_array()) return redact_one(value);
  bool replaced = false;
  for (json& element : value) replaced |= redact_one(element);
  return replaced;
}

std::string Redactor::redact_target(std::string_view target) const {
  size_t query = target.find('?');
  std::string path(target.substr(0, query));
  // Path segments can hold a token too (/hooks/ghp_...); the patterns look there as well.
  redact_string(path);
  if (query == std::string_view::npos) return path;
  std::string out = std::move(path);
  out.push_back('?');
  std::string_view rest = target.substr(query + 1);
  while (true) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    out.append(redact_query_pair(pair));
    if (amp == std::string_view::npos) break;
    out.push_back('&');
    rest.remove_prefix(amp + 1);
  }
  return out;
}

std::string Redactor::redact_query_pair(std::string_view pair) const {
  size_t eq = pair.find('=');
  if (eq == std::string_view::npos) return std::string(pair);
  std::string_view name = pair.substr(0, eq);
  std::string value(pair.substr(eq + 1));
  // The server decodes the name before reading it, so "%74oken" is a token too.
  std::string decoded;
  if (name.find('%') != std::string_view::npos) decoded = percent_decode(name);
  std::string_view server_name = decoded.empty() ? name : std::string_view(decoded);
  if (is_secret_key(server_name) || query_params_.contains(server_name)) {
    if (!value.empty()) value = kRedactedValue;
  } else {
    redact_string(value);
  }
  std::string out(name);
  out.push_back('=');
  out.append(value);
  return out;
}

}  // namespace mcptap::capture

// Fuzzes the redactor's in-place name matching against a plain reference: the key split
// into words and normalised into new strings, every rule applied the obvious way.
//
// Input: lines. The first is the key; then whole names, suffixes and exceptions in turn.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "capture/redactor.h"

namespace {

using mcptap::capture::RedactOptions;
using mcptap::capture::Redactor;

bool separator(char c) {
  return c == '-' || c == '_';
}
bool upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool digit(char c) {
  return c >= '0' && c <= '9';
}

std::string normalise(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (separator(c)) continue;
    out.push_back(upper(c) ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

// Indexes where a word of the key starts, after at least one other character.
std::vector<size_t> inner_word_starts(std::string_view key) {
  std::vector<size_t> starts;
  for (size_t i = 1; i < key.size(); ++i) {
    const char p = key[i - 1];
    const char c = key[i];
    if (separator(c)) continue;
    const bool after_separator = separator(p);
    const bool camel = upper(c) && (lower(p) || digit(p));
    const bool acronym_end = upper(c) && upper(p) && i + 1 < key.size() && lower(key[i + 1]);
    if (after_separator || camel || acronym_end) starts.push_back(i);
  }
  return starts;
}

bool whole(std::string_view key, const std::vector<std::string>& names) {
  const std::string k = normalise(key);
  for (const std::string& name : names) {
    const std::string n = normalise(name);
    if (!n.empty() && k == n) return true;
  }
  return false;
}

bool suffixed(std::string_view key, const std::vector<std::string>& suffixes) {
  const std::string k = normalise(key);
  for (const std::string& suffix : suffixes) {
    const std::string n = normalise(suffix);
    if (n.empty()) continue;
    if (separator(suffix.front()) || upper(suffix.front())) {
      for (size_t start : inner_word_starts(key)) {
        if (normalise(key.substr(start)) == n) return true;
      }
    } else if (k.size() >= n.size() && k.compare(k.size() - n.size(), n.size(), n) == 0) {
      return true;
    }
  }
  return false;
}

bool reference_is_secret(std::string_view key, const RedactOptions& o) {
  if (whole(key, o.json_keys)) return true;
  return suffixed(key, o.json_key_suffixes) && !whole(key, o.json_key_exceptions);
}

std::string percent_decode(std::string_view text) {
  auto hex = [](char c) {
    if (digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

void check(const Redactor& redactor, const RedactOptions& options, std::string_view key) {
  if (redactor.is_secret_key(key) != reference_is_secret(key, options)) __builtin_trap();
  // As a query parameter name: decoded, then the same rules or query_params.
  if (key.find_first_of("&=?#") != std::string_view::npos) return;
  const std::string name = percent_decode(key);
  const bool secret = reference_is_secret(name, options) || whole(name, options.query_params);
  const std::string target = "/p?" + std::string(key) + "=v";
  const std::string expected = secret ? "/p?" + std::string(key) + "=[REDACTED]" : target;
  if (redactor.redact_target(target) != expected) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const RedactOptions defaults;
  static const Redactor default_redactor(defaults);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (size > 4096) return 0;
  std::vector<std::string_view> lines;
  while (true) {
    size_t end = input.find('\n');
    lines.push_back(input.substr(0, end));
    if (end == std::string_view::npos) break;
    input.remove_prefix(end + 1);
  }
  const std::string_view key = lines[0];
  check(default_redactor, defaults, key);

  RedactOptions options;
  options.json_keys.clear();
  options.json_key_suffixes.clear();
  options.json_key_exceptions.clear();
  options.query_params.clear();
  for (size_t i = 1; i < lines.size() && i <= 64; ++i) {
    std::vector<std::string>* lists[] = {&options.json_keys, &options.json_key_suffixes,
                                         &options.json_key_exceptions, &options.query_params};
    lists[(i - 1) % 4]->emplace_back(lines[i]);
  }
  check(Redactor(options), options, key);
  return 0;
}

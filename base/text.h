// Small text helpers every layer needs: trimming, hex digits, percent-decoding.
#pragma once

#include <string>
#include <string_view>

namespace mcptap::base {

// `text` without leading and trailing spaces and tabs (HTTP's optional whitespace).
inline std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// 0-15 for a hex digit of either case; -1 for anything else.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace mcptap::base

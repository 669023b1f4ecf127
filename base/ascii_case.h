// ASCII case folding for protocol tokens: header names, media types, configured key names.
// Only A-Z fold, so a UTF-8 byte passes through unchanged and never matches an ASCII name,
// and no locale is consulted (std::tolower's lookup showed up in per-message profiles).
#pragma once

#include <string>
#include <string_view>

namespace mcptap::base {

inline char fold_ascii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string lowercase_ascii(std::string text) {
  for (char& c : text) c = fold_ascii(c);
  return text;
}

// Compares without building a lowercased copy of `text`; `lower` is already lowercase.
inline bool equals_folded(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (fold_ascii(text[i]) != lower[i]) return false;
  }
  return true;
}

inline bool starts_with_folded(std::string_view text, std::string_view lower_prefix) {
  return text.size() >= lower_prefix.size() &&
         equals_folded(text.substr(0, lower_prefix.size()), lower_prefix);
}

inline bool ends_with_folded(std::string_view text, std::string_view lower_suffix) {
  return text.size() >= lower_suffix.size() &&
         equals_folded(text.substr(text.size() - lower_suffix.size()), lower_suffix);
}

inline bool equals_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (fold_ascii(a[i]) != fold_ascii(b[i])) return false;
  }
  return true;
}

}  // namespace mcptap::base

// Secret comparison whose running time does not depend on where two strings differ.
#pragma once

#include <cstddef>
#include <string_view>

namespace mcptap::proxy {

// True when `given` equals `expected`. The loop always walks the whole of `expected` and
// never stops at the first difference, so the time taken reveals the length of the expected
// secret (and whether the lengths match) but nothing of its content. That is the accepted
// leak: tokens are long random strings, and their length is not what keeps them secret.
inline bool constant_time_equals(std::string_view given, std::string_view expected) {
  // volatile keeps the compiler from turning the accumulation into an early exit.
  volatile unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    // Past the end of `given` compare with a byte that differs from expected[i] for sure;
    // the branch depends only on the length the client chose, which it already knows.
    unsigned char theirs = i < given.size() ? static_cast<unsigned char>(given[i])
                                            : static_cast<unsigned char>(~expected[i]);
    difference = difference | (theirs ^ static_cast<unsigned char>(expected[i]));
  }
  return difference == 0;
}

// True when an Authorization header value is "Bearer <token>" with exactly `expected_token`.
// The scheme is matched case-insensitively (RFC 9110 §11.1) and may be followed by several
// spaces; surrounding whitespace is ignored. An empty expected token never matches: "no token
// configured" is the caller's decision, not something a header can satisfy.
inline bool bearer_token_matches(std::string_view authorization_header,
                                 std::string_view expected_token) {
  if (expected_token.empty()) return false;
  std::string_view value = authorization_header;
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() || !is_space(value[kScheme.size()])) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = value[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return false;  // the scheme is public: no need for constant time
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  return constant_time_equals(value, expected_token);
}

}  // namespace mcptap::proxy

// UUIDv7 identifiers: time-ordered, so rows keyed by them cluster by capture time.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mcptap::base {

struct Uuid {
  std::array<uint8_t, 16> bytes{};

  // A fresh UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Ids made by one
  // process within the same millisecond still sort in creation order (monotonic counter).
  static Uuid v7();
  static Uuid v7_at(int64_t unix_ms);
  static std::optional<Uuid> parse(std::string_view text);

  std::string to_string() const;  // canonical 8-4-4-4-12 lowercase hex
  int64_t unix_ms() const;        // the timestamp a v7 id carries

  bool operator==(const Uuid&) const = default;
  auto operator<=>(const Uuid&) const = default;
};

}  // namespace mcptap::base

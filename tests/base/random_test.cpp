// Tests for base/random: every length is filled, outputs differ, and bytes look uniform.
#include "base/random.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace mcptap::base {
namespace {

std::string random_string(size_t length) {
  std::string bytes(length, '\0');
  random_bytes(bytes.data(), bytes.size());
  return bytes;
}

TEST(RandomBytes, ZeroLengthTouchesNothing) {
  std::array<uint8_t, 4> guard = {0xAA, 0xAA, 0xAA, 0xAA};
  random_bytes(guard.data(), 0);
  random_bytes(nullptr, 0);
  EXPECT_EQ(guard, (std::array<uint8_t, 4>{0xAA, 0xAA, 0xAA, 0xAA}));
}

// Each length from 1 to 300 fills exactly that many bytes: the byte after the buffer keeps
// its guard value, and two draws of the same length differ.
TEST(RandomBytes, EveryLengthFilledExactly) {
  for (size_t length = 1; length <= 300; ++length) {
    std::vector<uint8_t> buffer(length + 1, 0x5C);
    random_bytes(buffer.data(), length);
    EXPECT_EQ(buffer[length], 0x5C) << "length " << length;
    if (length >= 8) {
      EXPECT_NE(random_string(length), random_string(length)) << "length " << length;
      // A draw left all-guard would mean nothing was written.
      EXPECT_NE(std::vector<uint8_t>(buffer.begin(), buffer.end() - 1),
                std::vector<uint8_t>(length, 0x5C))
          << "length " << length;
    }
  }
}

TEST(RandomBytes, TenThousandSixteenByteDrawsAreDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 10'000; ++i) seen.insert(random_string(16));
  EXPECT_EQ(seen.size(), 10'000u);
}

// One MiB: every byte value appears, none far from its expected 4096 (a broken source that
// repeats or zeroes would fail this; a good one exceeds the bounds with negligible chance).
TEST(RandomBytes, LargeDrawHasEveryByteValueInProportion) {
  const std::string bytes = random_string(1 << 20);
  std::array<size_t, 256> counts{};
  for (char byte : bytes) ++counts[static_cast<uint8_t>(byte)];
  for (size_t value = 0; value < counts.size(); ++value) {
    EXPECT_GT(counts[value], 3500u) << "byte " << value;
    EXPECT_LT(counts[value], 4700u) << "byte " << value;
  }
}

}  // namespace
}  // namespace mcptap::base

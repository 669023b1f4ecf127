#include "base/result.h"

#include <gtest/gtest.h>

#include <memory>

#include "base/clock.h"

namespace mcptap::base {
namespace {

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return fail(std::string("not a digit: ") + c, "EINVAL");
  return c - '0';
}

Status check_positive(int value) {
  if (value <= 0) return fail("not positive");
  return {};
}

TEST(ResultTest, HoldsTheValueOrTheError) {
  Result<int> good = parse_digit('7');
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  Result<int> bad = parse_digit('x');
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "not a digit: x");
  EXPECT_EQ(bad.error().code, "EINVAL");
}

TEST(ResultTest, StatusIsOkOrCarriesTheError) {
  EXPECT_TRUE(check_positive(1).ok());
  Status failed = check_positive(0);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "not positive");
  EXPECT_TRUE(failed.error().code.empty());
}

TEST(ResultTest, MovesAValueOut) {
  Result<std::unique_ptr<int>> made = std::make_unique<int>(5);
  ASSERT_TRUE(made.ok());
  std::unique_ptr<int> taken = std::move(made).value();
  EXPECT_EQ(*taken, 5);
}

TEST(ClockTest, WallClockIsUnixMicrosecondsAndMonotonicNeverGoesBack) {
  int64_t wall = unix_now_us();
  EXPECT_GT(wall, int64_t{1'700'000'000} * 1'000'000);  // after November 2023
  int64_t first = monotonic_now_us();
  int64_t second = monotonic_now_us();
  EXPECT_GE(second, first);
}

}  // namespace
}  // namespace mcptap::base

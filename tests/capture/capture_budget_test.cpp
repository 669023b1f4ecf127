// Tests for capture/capture_budget and capture/capture_rate: token buckets and the window.
#include "capture/capture_budget.h"

#include <gtest/gtest.h>

#include "capture/capture_rate.h"

namespace mcptap::capture {
namespace {

constexpr int64_t kSecond = 1000000;
constexpr int64_t kStart = 1000 * kSecond;

TEST(TokenBucket, BurstIsOneSecondThenTheRate) {
  TokenBucket bucket(10, kStart);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(bucket.try_take(1, kStart)) << i;
  EXPECT_FALSE(bucket.try_take(1, kStart));
  EXPECT_FALSE(bucket.try_take(1, kStart + kSecond / 20));  // half a token came back
  EXPECT_TRUE(bucket.try_take(1, kStart + kSecond / 10));   // one came back
  EXPECT_FALSE(bucket.try_take(1, kStart + kSecond / 10));
  // A long pause refills up to the burst, never beyond.
  EXPECT_DOUBLE_EQ(bucket.tokens(kStart + 60 * kSecond), 10);
}

TEST(TokenBucket, OverTimeTheRateHolds) {
  TokenBucket bucket(50, kStart);
  int taken = 0;
  for (int64_t t = kStart; t < kStart + 10 * kSecond; t += 1000) taken += bucket.try_take(1, t);
  EXPECT_GE(taken, 50 * 10 + 50 - 1);  // the burst, then 50 a second
  EXPECT_LE(taken, 50 * 10 + 50);
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
  TokenBucket bucket(0, kStart);
  EXPECT_TRUE(bucket.unlimited());
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(bucket.try_take(1e9, kStart));
}

TEST(TokenBucket, ForcedCostGoesIntoDebtThatMustBeRepaid) {
  TokenBucket bucket(2, kStart);
  EXPECT_TRUE(bucket.try_take(1, kStart));
  EXPECT_TRUE(bucket.try_take(1, kStart));
  bucket.force_take(2, kStart);  // -2: two seconds of refill owed
  EXPECT_DOUBLE_EQ(bucket.tokens(kStart), -2);
  EXPECT_FALSE(bucket.try_take(1, kStart + kSecond));
  EXPECT_TRUE(bucket.try_take(1, kStart + kSecond * 3 / 2));
}

TEST(TokenBucket, CostAboveTheBurstIsTakenFromAFullBucket) {
  TokenBucket bucket(1000, kStart);  // bytes: a 5000-byte message is bigger than a second
  EXPECT_TRUE(bucket.try_take(5000, kStart));
  EXPECT_FALSE(bucket.try_take(1, kStart + 4 * kSecond));  // still repaying
  EXPECT_TRUE(bucket.try_take(5000, kStart + 5 * kSecond));
}

TEST(TokenBucket, NewRateKeepsTokensUpToTheNewBurst) {
  TokenBucket bucket(100, kStart);
  bucket.set_rate(5, kStart);
  EXPECT_DOUBLE_EQ(bucket.tokens(kStart), 5);
  bucket.set_rate(0, kStart);
  EXPECT_TRUE(bucket.unlimited());
  bucket.set_rate(3, kStart);  // from unlimited: full
  EXPECT_DOUBLE_EQ(bucket.tokens(kStart), 3);
}

TEST(CaptureBudget, BothBucketsMustHoldTheMessage) {
  CaptureBudget budget({10, 1000}, kStart);
  EXPECT_TRUE(budget.admit(600, kStart));
  EXPECT_FALSE(budget.admit(600, kStart));  // 400 bytes left
  EXPECT_TRUE(budget.admit(400, kStart));
  // The byte refusal spent no message token: 8 of 10 are left for tiny messages.
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(budget.admit(0, kStart)) << i;
  EXPECT_FALSE(budget.admit(0, kStart));
}

TEST(CaptureBudget, ChargeIsUnconditional) {
  CaptureBudget budget({1, 0}, kStart);
  EXPECT_TRUE(budget.admit(10, kStart));
  budget.charge(10, kStart);                         // the answer of the admitted request
  EXPECT_FALSE(budget.admit(10, kStart + kSecond));  // one second repaid the debt only
  EXPECT_TRUE(budget.admit(10, kStart + 2 * kSecond));
}

TEST(CaptureBudget, NoLimitsAdmitEverything) {
  CaptureBudget budget({}, kStart);
  EXPECT_TRUE(budget.unlimited());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(budget.admit(1 << 20, kStart));
}

TEST(CaptureRateWindow, RatesOverTheLastTenSeconds) {
  CaptureRateWindow window(kStart);
  for (int second = 0; second < 20; ++second) {
    for (int i = 0; i < 5; ++i) window.add(200, kStart + second * kSecond + i * 1000);
  }
  CaptureRates rates = window.rates(kStart + 20 * kSecond - 1);  // the end of second 19
  EXPECT_NEAR(rates.rows_per_second, 5, 0.01);
  EXPECT_NEAR(rates.bytes_per_second, 1000, 2);
  EXPECT_NEAR(rates.window_seconds, 10, 0.01);
  // Traffic stops: the figures fall as the window moves past it (seconds 16-19 of the last
  // 9 s are still in it), and to zero once it has passed.
  EXPECT_NEAR(window.rates(kStart + 25 * kSecond).rows_per_second, 20.0 / 9, 0.01);
  EXPECT_EQ(window.rates(kStart + 40 * kSecond).rows_per_second, 0);
}

TEST(CaptureRateWindow, JustAfterStartTheWindowIsShort) {
  CaptureRateWindow window(kStart);
  for (int i = 0; i < 30; ++i) window.add(100, kStart + i * 100000);  // 30 rows in 3 s
  CaptureRates rates = window.rates(kStart + 3 * kSecond);
  EXPECT_NEAR(rates.window_seconds, 3, 0.01);
  EXPECT_NEAR(rates.rows_per_second, 10, 0.01);
}

}  // namespace
}  // namespace mcptap::capture

// Tests for sink/backoff.h: growth, cap, jitter range, reset.
#include "sink/backoff.h"

#include <gtest/gtest.h>

namespace mcptap::sink {
namespace {

using std::chrono::milliseconds;

TEST(SinkBackoffTest, DoublesUpToTheCapWithJitterInTheUpperHalf) {
  Backoff backoff(milliseconds(100), milliseconds(1000));
  const long long ceilings[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (long long ceiling : ceilings) {
    long long delay = backoff.next().count();
    EXPECT_GE(delay, ceiling / 2) << "ceiling " << ceiling;
    EXPECT_LE(delay, ceiling) << "ceiling " << ceiling;
  }
}

TEST(SinkBackoffTest, ResetStartsOverAtTheInitialDelay) {
  Backoff backoff(milliseconds(100), milliseconds(1000));
  for (int i = 0; i < 5; ++i) backoff.next();
  backoff.reset();
  long long delay = backoff.next().count();
  EXPECT_GE(delay, 50);
  EXPECT_LE(delay, 100);
}

TEST(SinkBackoffTest, JitterActuallyVaries) {
  Backoff backoff(milliseconds(1000), milliseconds(1000));
  long long first = backoff.next().count();
  bool varied = false;
  for (int i = 0; i < 50 && !varied; ++i) varied = backoff.next().count() != first;
  EXPECT_TRUE(varied);
}

TEST(SinkBackoffTest, NonsenseSettingsStillGiveAPositiveDelay) {
  // Both bounds are raised to 1 ms, so every delay is exactly that: never 0, which would
  // turn a reconnect loop into a busy loop.
  Backoff backoff(milliseconds(0), milliseconds(0));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(backoff.next().count(), 1) << "attempt " << i;
  Backoff negative(milliseconds(-5), milliseconds(-1));
  EXPECT_EQ(negative.next().count(), 1);
}

}  // namespace
}  // namespace mcptap::sink

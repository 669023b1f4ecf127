// A route's capture volume budget: token buckets for messages and bytes per second.
#pragma once

#include <cstdint>

namespace mcptap::capture {

// Microseconds on a clock that never steps back (budgets and rates must not jump when the
// wall clock is set).

// How much of a route's traffic may be captured per second; 0 means no limit.
struct CaptureBudgetLimits {
  double max_messages_per_second = 0;
  double max_bytes_per_second = 0;  // counted in payload_bytes, the size on the wire
  bool unlimited() const { return max_messages_per_second <= 0 && max_bytes_per_second <= 0; }
  bool operator==(const CaptureBudgetLimits&) const = default;
};

// Holds at most one second's worth of tokens (the burst), refilled continuously. A cost
// can be forced past what the bucket holds (the answer of an exchange already captured):
// the bucket then goes into debt, and nothing more is admitted until it is repaid, so the
// rate holds over time. A rate of 0 admits everything.
class TokenBucket {
 public:
  explicit TokenBucket(double per_second = 0, int64_t now_us = 0);

  // Takes `cost` when the bucket holds it. A cost larger than the burst is taken from a
  // full bucket, so a single large message is not refused for ever.
  bool try_take(double cost, int64_t now_us);
  bool holds(double cost, int64_t now_us);
  // Takes `cost` whatever the bucket holds.
  void force_take(double cost, int64_t now_us);
  // A new rate keeps what the bucket holds, up to the new burst; from unlimited it starts
  // full.
  void set_rate(double per_second, int64_t now_us);

  bool unlimited() const { return rate_ <= 0; }
  double rate() const { return rate_; }
  double tokens(int64_t now_us);

 private:
  void refill(int64_t now_us);

  double rate_ = 0;
  double tokens_ = 0;
  int64_t refilled_at_us_ = 0;
};

// Both buckets of a route. A message that starts something (a request, or a message on its
// own) is admitted only when both hold it; the answer to an admitted request is charged
// unconditionally, because a request and its answer are captured together or not at all.
class CaptureBudget {
 public:
  explicit CaptureBudget(CaptureBudgetLimits limits = {}, int64_t now_us = 0);

  void set_limits(const CaptureBudgetLimits& limits, int64_t now_us);
  const CaptureBudgetLimits& limits() const { return limits_; }
  bool unlimited() const { return limits_.unlimited(); }

  // True (and both buckets charged) when one message of `bytes` fits the budget now.
  bool admit(uint64_t bytes, int64_t now_us);
  // Charges a message that is captured whatever the budget says.
  void charge(uint64_t bytes, int64_t now_us);

 private:
  CaptureBudgetLimits limits_;
  TokenBucket messages_;
  TokenBucket bytes_;
};

}  // namespace mcptap::capture

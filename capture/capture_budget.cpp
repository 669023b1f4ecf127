// Token buckets of the capture budget.
#include "capture/capture_budget.h"

#include <time.h>

#include <algorithm>

namespace mcptap::capture {

TokenBucket::TokenBucket(double per_second, int64_t now_us)
    : rate_(std::max(per_second, 0.0)), tokens_(rate_), refilled_at_us_(now_us) {}

void TokenBucket::refill(int64_t now_us) {
  if (now_us <= refilled_at_us_) return;
  double elapsed_s = static_cast<double>(now_us - refilled_at_us_) / 1e6;
  tokens_ = std::min(rate_, tokens_ + elapsed_s * rate_);
  refilled_at_us_ = now_us;
}

double TokenBucket::tokens(int64_t now_us) {
  refill(now_us);
  return tokens_;
}

bool TokenBucket::holds(double cost, int64_t now_us) {
  if (unlimited()) return true;
  refill(now_us);
  return tokens_ >= std::min(cost, rate_);
}

bool TokenBucket::try_take(double cost, int64_t now_us) {
  if (!holds(cost, now_us)) return false;
  force_take(cost, now_us);
  return true;
}

void TokenBucket::force_take(double cost, int64_t now_us) {
  if (unlimited()) return;
  refill(now_us);
  tokens_ -= cost;
}

void TokenBucket::set_rate(double per_second, int64_t now_us) {
  per_second = std::max(per_second, 0.0);
  if (per_second == rate_) return;
  refill(now_us);
  bool was_unlimited = unlimited();
  rate_ = per_second;
  tokens_ = was_unlimited ? rate_ : std::min(tokens_, rate_);
  refilled_at_us_ = now_us;
}

CaptureBudget::CaptureBudget(CaptureBudgetLimits limits, int64_t now_us)
    : limits_(limits),
      messages_(limits.max_messages_per_second, now_us),
      bytes_(limits.max_bytes_per_second, now_us) {}

void CaptureBudget::set_limits(const CaptureBudgetLimits& limits, int64_t now_us) {
  limits_ = limits;
  messages_.set_rate(limits.max_messages_per_second, now_us);
  bytes_.set_rate(limits.max_bytes_per_second, now_us);
}

bool CaptureBudget::admit(uint64_t bytes, int64_t now_us) {
  // Both or neither: a message refused for its bytes must not spend a message token.
  if (!messages_.holds(1, now_us) || !bytes_.holds(static_cast<double>(bytes), now_us)) {
    return false;
  }
  charge(bytes, now_us);
  return true;
}

void CaptureBudget::charge(uint64_t bytes, int64_t now_us) {
  messages_.force_take(1, now_us);
  bytes_.force_take(static_cast<double>(bytes), now_us);
}

}  // namespace mcptap::capture

// Capped exponential backoff with jitter, for reconnecting to PostgreSQL.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace mcptap::sink {

// Each delay doubles up to the cap; the one handed out is drawn from its upper half, so
// sidecars that lost the same server do not come back in lockstep.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(std::max(initial, std::chrono::milliseconds(1))),
        max_(std::max(max, initial_)),
        current_(initial_),
        random_(std::random_device{}()) {}

  std::chrono::milliseconds next() {
    std::chrono::milliseconds ceiling = current_;
    current_ = std::min(current_ * 2, max_);
    std::uniform_int_distribution<long long> jitter(0, ceiling.count() / 2);
    return ceiling - std::chrono::milliseconds(jitter(random_));
  }

  void reset() { current_ = initial_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds current_;
  std::minstd_rand random_;
};

}  // namespace mcptap::sink

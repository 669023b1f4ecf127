// Captured rows and bytes per second over the last few seconds, for status and sizing.
#pragma once

#include <cstdint>

namespace mcptap::capture {

struct CaptureRates {
  double rows_per_second = 0;
  double bytes_per_second = 0;
  double window_seconds = 0;  // how much time the figures cover (less just after start)
};

// One slot per second of the window, reused as time moves on: adding is O(1) and reading
// sums ten slots, cheap enough for the loop thread on every status request.
class CaptureRateWindow {
 public:
  static constexpr int kSeconds = 10;

  explicit CaptureRateWindow(int64_t now_us = 0) : started_us_(now_us) {}

  void add(uint64_t bytes, int64_t now_us);
  CaptureRates rates(int64_t now_us) const;

 private:
  struct Slot {
    int64_t second = -1;
    uint64_t rows = 0;
    uint64_t bytes = 0;
  };
  Slot slots_[kSeconds];
  int64_t started_us_;
};

}  // namespace mcptap::capture

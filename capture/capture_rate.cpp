// The sliding window of captured rows and bytes.
#include "capture/capture_rate.h"

#include <algorithm>

namespace mcptap::capture {
namespace {

constexpr int64_t kSecondUs = 1000000;

}  // namespace

void CaptureRateWindow::add(uint64_t bytes, int64_t now_us) {
  int64_t second = now_us / kSecondUs;
  Slot& slot = slots_[second % kSeconds];
  if (slot.second != second) slot = Slot{second, 0, 0};
  ++slot.rows;
  slot.bytes += bytes;
}

CaptureRates CaptureRateWindow::rates(int64_t now_us) const {
  int64_t now_second = now_us / kSecondUs;
  int64_t first_second = now_second - (kSeconds - 1);
  uint64_t rows = 0;
  uint64_t bytes = 0;
  for (const Slot& slot : slots_) {
    if (slot.second < first_second || slot.second > now_second) continue;
    rows += slot.rows;
    bytes += slot.bytes;
  }
  // The slots cover from the start of the oldest second to now, or from start-up if that
  // is later; at least a second, so a first message does not read as a huge rate.
  int64_t covered_us = now_us - std::max(first_second * kSecondUs, started_us_);
  double seconds = static_cast<double>(std::max(covered_us, kSecondUs)) / 1e6;
  return {static_cast<double>(rows) / seconds, static_cast<double>(bytes) / seconds, seconds};
}

}  // namespace mcptap::capture

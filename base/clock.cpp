#include "base/clock.h"

#include <ctime>

namespace mcptap::base {
namespace {

int64_t read_us(clockid_t clock) {
  timespec now;
  clock_gettime(clock, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
}

}  // namespace

int64_t unix_now_us() {
  return read_us(CLOCK_REALTIME);
}

int64_t monotonic_now_us() {
  return read_us(CLOCK_MONOTONIC);
}

}  // namespace mcptap::base

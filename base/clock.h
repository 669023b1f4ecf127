// The one clock: wall time for what is recorded, monotonic time for what is measured.
#pragma once

#include <cstdint>

namespace mcptap::base {

// Microseconds since the Unix epoch (CLOCK_REALTIME): timestamps stored in records and
// used for partition days. It can jump; never subtract two of them to time something.
int64_t unix_now_us();

// Microseconds on CLOCK_MONOTONIC: for durations, rates and deadlines.
int64_t monotonic_now_us();

}  // namespace mcptap::base

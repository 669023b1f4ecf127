// Cryptographically strong random bytes, for identifiers and secrets.
#pragma once

#include <cstddef>

namespace mcptap::base {

// Fills `out` with `length` bytes from libcrypto's DRBG (seeded by the operating system).
// If libcrypto cannot supply them, this logs and aborts: it never falls back to weaker
// randomness. Thread-safe; a length of 0 does nothing.
void random_bytes(void* out, size_t length);

}  // namespace mcptap::base

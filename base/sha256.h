// Streaming SHA-256 (FIPS 180-4), for fingerprinting messages too large to keep whole.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace mcptap::base {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  // Both finish the digest and reset the hasher, so it can hash the next input.
  std::array<uint8_t, 32> finish();
  std::string finish_hex();

 private:
  void compress(const uint8_t* block);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> block_;
  size_t block_used_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace mcptap::base

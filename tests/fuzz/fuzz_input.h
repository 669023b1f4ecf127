// Splits a fuzzer's input into option bytes and variably sized chunks, for the harnesses.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mcptap::fuzz {

// Reads the input front to back. Chunk sizes come from the input itself, so the fuzzer
// explores how a decoder copes with a message split at every possible place.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return rest_.empty(); }
  std::string_view rest() const { return rest_; }

  uint8_t byte() {
    if (rest_.empty()) return 0;
    uint8_t value = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return value;
  }

  // One chunk of 1..256 bytes, its length taken from the next byte.
  std::string_view chunk() {
    size_t want = static_cast<size_t>(byte()) + 1;
    std::string_view piece = rest_.substr(0, std::min(want, rest_.size()));
    rest_.remove_prefix(piece.size());
    return piece;
  }

 private:
  std::string_view rest_;
};

}  // namespace mcptap::fuzz

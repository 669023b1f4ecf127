// Fuzzes NdjsonDecoder: lines of any length and content, split anywhere.
#include <cstddef>
#include <cstdint>

#include "capture/ndjson_decoder.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcptap::fuzz::FuzzInput input(data, size);
  uint64_t max_line = uint64_t{1} << (input.byte() % 16);
  mcptap::capture::NdjsonDecoder decoder(max_line);
  size_t checksum = 0;
  auto on_line = [&](const mcptap::capture::NdjsonLine& line) {
    if (line.text.size() > max_line) __builtin_trap();
    for (char c : line.text) checksum += static_cast<unsigned char>(c);
  };
  while (!input.empty()) decoder.feed(input.chunk(), on_line);
  decoder.finish(on_line);
  return checksum == 1 ? 1 : 0;
}

// Fuzzes SseParser: any bytes, any split, with small caps so truncation paths run too.
#include <cstddef>
#include <cstdint>

#include "capture/sse_parser.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcptap::fuzz::FuzzInput input(data, size);
  uint8_t options = input.byte();
  uint64_t max_event = uint64_t{1} << (options % 17);
  size_t max_field = size_t{1} << ((options >> 4) % 13);
  mcptap::capture::SseParser parser(max_event, max_field);
  size_t checksum = 0;
  auto on_event = [&](const mcptap::capture::SseEvent& event) {
    if (event.data.size() > max_event) __builtin_trap();
    if (!event.truncated && event.data.size() != event.data_size) __builtin_trap();
    checksum += event.event_type.size() + event.id.size() + event.sha256_hex.size();
    for (char c : event.data) checksum += static_cast<unsigned char>(c);
  };
  while (!input.empty()) parser.feed(input.chunk(), on_event);
  (void)parser.finish();
  return checksum == 1 ? 1 : 0;
}

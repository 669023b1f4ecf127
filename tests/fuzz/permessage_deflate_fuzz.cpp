// Fuzzes the Sec-WebSocket-Extensions parser and the message inflater (bombs, corrupt data).
#include <cstddef>
#include <cstdint>
#include <string>

#include "capture/permessage_deflate.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcptap::fuzz::FuzzInput input(data, size);
  uint8_t options = input.byte();
  if (options & 1) {
    (void)mcptap::capture::parse_permessage_deflate(input.rest());
    return 0;
  }
  int window_bits = 8 + ((options >> 1) % 8);
  mcptap::capture::MessageInflater inflater(window_bits, options & 16);
  // The inflater streams; a bomb must not make it hold more than one chunk at a time.
  uint64_t produced = 0;
  auto on_output = [&](std::string_view chunk) { produced += chunk.size(); };
  while (!input.empty()) {
    uint8_t control = input.byte();
    if (!inflater.feed(input.chunk(), on_output)) return 0;
    if ((control & 7) == 0 && !inflater.finish_message(on_output)) return 0;
  }
  (void)inflater.finish_message(on_output);
  return 0;
}

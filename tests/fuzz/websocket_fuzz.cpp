// Fuzzes WebSocketDecoder as client or server side, with and without permessage-deflate,
// with capture switching off and on.
#include <cstddef>
#include <cstdint>

#include "capture/websocket_decoder.h"
#include "tests/fuzz/fuzz_input.h"

using mcptap::capture::WebSocketDecoder;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcptap::fuzz::FuzzInput input(data, size);
  uint8_t options = input.byte();
  WebSocketDecoder::Options decoder_options;
  decoder_options.from_client = options & 1;
  decoder_options.max_payload_bytes = uint64_t{1} << ((options >> 4) % 16);
  if (options & 2) {
    mcptap::capture::DeflateParams params;
    params.client_no_context_takeover = options & 4;
    params.server_no_context_takeover = options & 8;
    params.client_max_window_bits = 8 + (input.byte() % 8);
    params.server_max_window_bits = params.client_max_window_bits;
    decoder_options.deflate = params;
  }
  WebSocketDecoder decoder(decoder_options);
  size_t checksum = 0;
  auto on_message = [&](mcptap::capture::WebSocketMessage&& message) {
    if (message.payload.size() > decoder_options.max_payload_bytes) __builtin_trap();
    checksum += message.size + message.frames;
  };
  while (!input.empty()) {
    auto chunk = input.chunk();
    // Capture switched off and on between chunks (decided by the chunk's length, so the
    // seeds keep their meaning): messages are then only followed, never delivered half.
    bool capture = chunk.size() % 3 != 0;
    if (decoder.feed(chunk, on_message, capture) != WebSocketDecoder::Status::Ok) break;
  }
  (void)decoder.buffered_bytes();
  return checksum == 1 ? 1 : 0;
}

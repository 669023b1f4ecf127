// Fuzzes ContentDecoder: a Content-Encoding header (first line) and the encoded body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "capture/content_decoder.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcptap::fuzz::FuzzInput input(data, size);
  std::string_view all = input.rest();
  size_t newline = all.find('\n');
  if (newline == std::string_view::npos || newline > 200) return 0;
  std::string encoding(all.substr(0, newline));
  mcptap::fuzz::FuzzInput body(data + newline + 1, size - newline - 1);
  mcptap::capture::ContentDecoderLimits limits;
  limits.max_output_bytes = 4096;
  limits.max_decoded_bytes = 1u << 22;  // small, so bombs hit the guard quickly
  limits.max_ratio = 200;
  auto created = mcptap::capture::ContentDecoder::create(encoding, limits);
  if (!created) return 0;
  mcptap::capture::ContentDecoder* decoder = created->get();
  std::string kept;
  if (encoding.size() & 1) decoder->hash_only_past_cap(&kept);
  uint64_t delivered = 0;
  auto on_output = [&](std::string_view chunk) {
    delivered += chunk.size();
    if (!(encoding.size() & 1))
      kept.append(chunk.substr(0, 4096 - std::min<size_t>(4096, kept.size())));
  };
  while (!body.empty()) {
    if (!decoder->feed(body.chunk(), on_output)) return 0;
  }
  if (decoder->finish().ok() && decoder->total_output() > limits.max_decoded_bytes) {
    __builtin_trap();
  }
  (void)decoder->sha256_hex();
  return 0;
}

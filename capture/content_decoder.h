// HTTP Content-Encoding (RFC 9110 section 8.4) of captured bodies: encoded bytes in, body out.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace mcptap::capture {

struct ContentDecoderLimits {
  // Decoded bytes handed to the output callback; the rest is only counted and hashed.
  uint64_t max_output_bytes = 16u << 20;
  // Decompression-bomb guard. Output past max_output_bytes is not kept, yet inflating it
  // still costs the loop thread CPU. So once any layer's output exceeds max_output_bytes,
  // decoding stops with the error "decompression bomb" as soon as that layer has produced
  // more than max_decoded_bytes, or more than max_ratio times the encoded bytes consumed.
  // A single deflate layer cannot pass about 1032:1, so 1000:1 stops runs of one byte and
  // stacked codings while leaving real JSON and SSE (rarely past 50:1) alone. Every layer
  // is checked, not only the last, so a layer that expands into an inner layer producing
  // nothing (empty deflate blocks) is stopped too. The check follows each 16 KiB output
  // chunk, so a layer may pass a limit by at most one chunk. max_ratio 0 turns it off.
  uint64_t max_decoded_bytes = uint64_t{1} << 30;
  uint64_t max_ratio = 1000;
};

// Decodes a body sent with a Content-Encoding of "gzip" (or "x-gzip"), "deflate" or
// "identity", or a comma-separated list of them applied in the order listed (decoded in
// reverse). "deflate" is meant to be zlib-wrapped, but many servers send raw deflate: the
// first two bytes decide. Concatenated gzip members decode as one body.
//
// Output is streamed: on_output receives decoded chunks (at most 16 KiB each) until
// max_output_bytes have been delivered, so memory stays bounded whatever the ratio. Past
// that the body is marked truncated, and the decoder keeps inflating only to count
// total_output() and to hash the full body (sha256_hex), subject to the bomb guard.
//
// After an error (corrupt data with zlib's message, a body that ends inside a stream, or
// "decompression bomb") feed and finish return that same error and do nothing more; the
// caller records the body as not decodable. Bytes already delivered stay valid as a prefix.
class ContentDecoder {
 public:
  using OutputCallback = std::function<void(std::string_view chunk)>;
  static constexpr size_t kMaxCodings = 8;

  // Fails for a coding it cannot decode, e.g. "unsupported content-encoding: br", or for
  // more than kMaxCodings codings. An empty header means identity.
  static base::Result<std::unique_ptr<ContentDecoder>> create(std::string_view content_encoding,
                                                              const ContentDecoderLimits& limits);
  static base::Result<std::unique_ptr<ContentDecoder>> create(std::string_view content_encoding,
                                                              uint64_t max_output_bytes);
  ~ContentDecoder();
  ContentDecoder(const ContentDecoder&) = delete;
  ContentDecoder& operator=(const ContentDecoder&) = delete;

  // The caller appends every delivered chunk to *kept (and nothing else, and keeps it until
  // finish). The full-body hash then starts only when the body outgrows max_output_bytes,
  // seeded with *kept: a body within the cap, the usual case, is never hashed, and
  // sha256_hex() stays empty for it. Call before the first feed; *kept must outlive it.
  void hash_only_past_cap(const std::string* kept);
  // Decodes the next encoded bytes of the body, split anywhere.
  base::Status feed(std::string_view encoded, const OutputCallback& on_output);
  // End of the body: fails if a compressed stream is incomplete. No output is left to
  // deliver at this point (feed delivers everything it can), hence no callback. An empty
  // body is a valid empty body whatever the coding.
  base::Status finish();

  uint64_t total_input() const;   // encoded bytes fed
  uint64_t total_output() const;  // decoded bytes, delivered or not
  bool truncated() const;         // total_output() > max_output_bytes
  // SHA-256 (hex) of the whole decoded body, available after a successful finish() (with
  // hash_only_past_cap, only for a truncated body).
  const std::string& sha256_hex() const;

 private:
  struct State;
  explicit ContentDecoder(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace mcptap::capture

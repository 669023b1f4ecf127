// Newline-delimited JSON (stdio framing carried over a socket): bytes in, lines out.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/sha256.h"

namespace mcptap::capture {

struct NdjsonLine {
  std::string_view text;  // the line without its \n (and \r), at most max_line_bytes
  uint64_t size = 0;      // full length of the line
  bool truncated = false;
  std::string sha256_hex;  // of the full line, when truncated
};

class NdjsonDecoder {
 public:
  explicit NdjsonDecoder(uint64_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}
  using LineCallback = std::function<void(const NdjsonLine&)>;

  // Splits bytes into lines, a line may span any number of calls. Empty lines are skipped.
  void feed(std::string_view bytes, const LineCallback& on_line);
  // End of stream: a last line without its newline still counts.
  void finish(const LineCallback& on_line);

 private:
  void append(std::string_view part);
  void emit(const LineCallback& on_line);

  uint64_t max_line_bytes_;
  std::string pending_;  // the current line, up to max_line_bytes_
  uint64_t pending_size_ = 0;
  base::Sha256 overflow_hash_;  // runs over the whole line once it outgrows the cap
  bool hashing_ = false;
};

}  // namespace mcptap::capture

// zlib's deflate as the peers mcptap decodes use it: HTTP content codings (gzip, zlib, raw)
// and WebSocket permessage-deflate (RFC 7692) messages.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>

namespace mcptap::test_support {

// Bytes written as numbers: bytes({0x00, 0x00, 0xff, 0xff}).
inline std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int value : values) out.push_back(static_cast<char>(value));
  return out;
}

// Random letters: compressible by Huffman coding but with few LZ77 matches of their own,
// so repeats must reach back into the window. The same seed gives the same text.
inline std::string random_text(size_t size, uint32_t seed) {
  std::mt19937 generator(seed);
  std::string text(size, 'a');
  for (char& c : text) c = static_cast<char>('a' + generator() % 26);
  return text;
}

// zlib's window_bits convention: which framing deflate writes.
constexpr int kGzipBits = 31;
constexpr int kZlibBits = 15;
constexpr int kRawBits = -15;

// One deflate stream. Input can be fed in slices (a large body need not exist in memory at
// once); each call returns the bytes deflate produced for it.
class Deflater {
 public:
  explicit Deflater(int window_bits, int level = 6, int mem_level = 8) {
    EXPECT_EQ(deflateInit2(&stream_, level, Z_DEFLATED, window_bits, mem_level, Z_DEFAULT_STRATEGY),
              Z_OK);
  }
  ~Deflater() { deflateEnd(&stream_); }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // flush is Z_NO_FLUSH, Z_SYNC_FLUSH or Z_FINISH.
  std::string compress(std::string_view input, int flush) {
    std::string out;
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    stream_.avail_in = static_cast<uInt>(input.size());
    char buffer[16384];
    int result;
    do {
      stream_.next_out = reinterpret_cast<Bytef*>(buffer);
      stream_.avail_out = sizeof buffer;
      result = deflate(&stream_, flush);
      EXPECT_TRUE(result == Z_OK || result == Z_BUF_ERROR || result == Z_STREAM_END) << result;
      out.append(buffer, sizeof buffer - stream_.avail_out);
    } while (stream_.avail_out == 0 || stream_.avail_in != 0 ||
             (flush == Z_FINISH && result != Z_STREAM_END && result != Z_BUF_ERROR));
    return out;
  }

  std::string finish() { return compress({}, Z_FINISH); }
  void reset() { deflateReset(&stream_); }

 private:
  z_stream stream_{};
};

// The whole input in one stream: gzip(text) is deflate_all(text, kGzipBits).
inline std::string deflate_all(std::string_view input, int window_bits, int level = 6) {
  Deflater deflater(window_bits, level);
  return deflater.compress(input, Z_FINISH);
}

// A permessage-deflate sender: raw DEFLATE with the agreed window, each message ended by a
// sync flush whose 00 00 ff ff tail is removed (RFC 7692 section 7.2.1). Without context
// takeover the window starts empty for every message.
class MessageDeflater {
 public:
  explicit MessageDeflater(int window_bits = 15, bool no_context_takeover = false, int level = 6,
                           int mem_level = 8)
      : deflater_(-window_bits, level, mem_level), no_context_takeover_(no_context_takeover) {}

  // Part of a message (a fragment); flush is Z_NO_FLUSH or Z_SYNC_FLUSH.
  std::string compress(std::string_view text, int flush) { return deflater_.compress(text, flush); }

  // A whole message's body.
  std::string compress_message(std::string_view text) {
    std::string out = deflater_.compress(text, Z_SYNC_FLUSH);
    if (out.size() < 4) {
      ADD_FAILURE() << "a sync flush ends with 4 bytes, got " << out.size();
      return out;
    }
    EXPECT_EQ(out.substr(out.size() - 4), bytes({0x00, 0x00, 0xff, 0xff}));
    out.resize(out.size() - 4);
    if (no_context_takeover_) deflater_.reset();
    return out;
  }

 private:
  Deflater deflater_;
  bool no_context_takeover_;
};

}  // namespace mcptap::test_support

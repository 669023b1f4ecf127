// Tests for capture/content_decoder: each coding, stacked codings, splits, limits and bombs.
#include "capture/content_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/sha256.h"
#include "tests/support/deflate.h"

namespace mcptap::capture {
namespace {

using test_support::kGzipBits;
using test_support::kRawBits;
using test_support::kZlibBits;

// Compresses input framed by window_bits (gzip, zlib or raw), at the highest level.
std::string compress(std::string_view input, int window_bits) {
  return test_support::deflate_all(input, window_bits, Z_BEST_COMPRESSION);
}

std::string sha256_hex(std::string_view bytes) {
  base::Sha256 hash;
  hash.update(bytes);
  return hash.finish_hex();
}

// Some JSON-RPC traffic long enough to span several inflate output chunks.
std::string sample_body() {
  std::string body;
  for (int i = 0; i < 2000; ++i) {
    body += R"({"jsonrpc":"2.0","id":)" + std::to_string(i) +
            R"(,"result":{"content":[{"type":"text","text":"line )" + std::to_string(i * 7) +
            "\"}]}}\n";
  }
  return body;
}

struct Decoded {
  bool created = false;
  bool ok = false;
  std::string output;
  std::string error;
  uint64_t total_output = 0;
  bool truncated = false;
  std::string sha256_hex;
};

// The decoding failed, with this message.
::testing::AssertionResult failed_with(const Decoded& decoded, const std::string& error) {
  if (decoded.ok) return ::testing::AssertionFailure() << "decoded, expected: " << error;
  if (decoded.error != error)
    return ::testing::AssertionFailure() << "failed with: " << decoded.error;
  return ::testing::AssertionSuccess();
}

// Decodes the pieces one feed each, then finishes.
Decoded decode_pieces(std::string_view encoding, const std::vector<std::string_view>& pieces,
                      const ContentDecoderLimits& limits) {
  Decoded result;
  auto created = ContentDecoder::create(encoding, limits);
  if (!created) {
    result.error = created.error().message;
    return result;
  }
  result.created = true;
  ContentDecoder* decoder = created->get();
  auto collect = [&](std::string_view chunk) { result.output.append(chunk); };
  base::Status status;
  for (std::string_view piece : pieces) {
    if (status) status = decoder->feed(piece, collect);
  }
  if (status) status = decoder->finish();
  result.ok = status.ok();
  if (!status) {
    result.error = status.error().message;
    // The error sticks: later calls do nothing more and say the same.
    EXPECT_EQ(decoder->finish().error().message, result.error);
  }
  result.total_output = decoder->total_output();
  result.truncated = decoder->truncated();
  result.sha256_hex = decoder->sha256_hex();
  return result;
}

ContentDecoderLimits with_cap(uint64_t max_output_bytes) {
  ContentDecoderLimits limits;
  limits.max_output_bytes = max_output_bytes;
  return limits;
}

Decoded decode(std::string_view encoding, std::string_view body, uint64_t cap = 1 << 24) {
  return decode_pieces(encoding, {body}, with_cap(cap));
}

Decoded decode_in_pieces(std::string_view encoding, std::string_view body, size_t piece_size,
                         const ContentDecoderLimits& limits = with_cap(1 << 24)) {
  std::vector<std::string_view> pieces;
  for (size_t at = 0; at < body.size(); at += piece_size) {
    pieces.push_back(body.substr(at, piece_size));
  }
  return decode_pieces(encoding, pieces, limits);
}

void expect_decoded(const Decoded& result, std::string_view plain) {
  EXPECT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.output, plain);
  EXPECT_EQ(result.total_output, plain.size());
  EXPECT_FALSE(result.truncated);
  EXPECT_EQ(result.sha256_hex, sha256_hex(plain));
}

TEST(ContentDecoder, Gzip) {
  const std::string body = sample_body();
  const std::string gzip = compress(body, kGzipBits);
  ASSERT_LT(gzip.size(), body.size() / 4);
  expect_decoded(decode("gzip", gzip), body);
  expect_decoded(decode("x-gzip", gzip), body);
  expect_decoded(decode(" GZip ", gzip), body);
}

TEST(ContentDecoder, ZlibWrappedDeflate) {
  const std::string body = sample_body();
  expect_decoded(decode("deflate", compress(body, kZlibBits)), body);
}

TEST(ContentDecoder, RawDeflateIsRecognised) {
  const std::string body = sample_body();
  const std::string raw = compress(body, kRawBits);
  expect_decoded(decode("deflate", raw), body);
  expect_decoded(decode_in_pieces("deflate", raw, 1), body);
}

TEST(ContentDecoder, ConcatenatedGzipMembers) {
  const std::string gzip = compress("first member, ", kGzipBits) + compress("", kGzipBits) +
                           compress("second member", kGzipBits);
  const std::string plain = "first member, second member";
  expect_decoded(decode("gzip", gzip), plain);
  for (size_t split = 0; split <= gzip.size(); ++split) {
    const std::string_view whole = gzip;
    SCOPED_TRACE("split at byte " + std::to_string(split));
    expect_decoded(
        decode_pieces("gzip", {whole.substr(0, split), whole.substr(split)}, with_cap(1 << 20)),
        plain);
  }
}

TEST(ContentDecoder, SmallGzipAtEveryByteBoundary) {
  const std::string plain = R"({"jsonrpc":"2.0","id":3,"result":{"ok":true}})";
  const std::string gzip = compress(plain, kGzipBits);
  const std::string_view whole = gzip;
  for (size_t split = 0; split <= gzip.size(); ++split) {
    SCOPED_TRACE("split at byte " + std::to_string(split));
    expect_decoded(
        decode_pieces("gzip", {whole.substr(0, split), whole.substr(split)}, with_cap(1 << 20)),
        plain);
  }
  expect_decoded(decode_in_pieces("gzip", gzip, 1), plain);
}

TEST(ContentDecoder, StackedCodingsAreUndoneInReverse) {
  const std::string body = sample_body();
  // "deflate, gzip": deflate was applied first, then gzip.
  const std::string deflate_then_gzip = compress(compress(body, kZlibBits), kGzipBits);
  expect_decoded(decode("deflate, gzip", deflate_then_gzip), body);
  expect_decoded(decode_in_pieces("deflate,gzip", deflate_then_gzip, 7), body);
  const std::string gzip_then_raw_deflate = compress(compress(body, kGzipBits), kRawBits);
  expect_decoded(decode("gzip, identity, deflate", gzip_then_raw_deflate), body);
  // The wrong order must not decode.
  Decoded wrong = decode("gzip, deflate", deflate_then_gzip);
  EXPECT_FALSE(wrong.ok);
  EXPECT_FALSE(wrong.error.empty());
}

TEST(ContentDecoder, IdentityPassesBytesThrough) {
  const std::string body = "not compressed \x1f\x8b at all";
  expect_decoded(decode("identity", body), body);
  expect_decoded(decode("", body), body);
  expect_decoded(decode(" , identity,", body), body);
}

TEST(ContentDecoder, UnsupportedCodingIsRefusedByName) {
  Decoded brotli = decode("br", "\x0b\x02\x80hello\x03");
  EXPECT_FALSE(brotli.created);
  EXPECT_EQ(brotli.error, "unsupported content-encoding: br");
  Decoded stacked = decode("gzip, zstd", "");
  EXPECT_FALSE(stacked.created);
  EXPECT_EQ(stacked.error, "unsupported content-encoding: zstd");
}

TEST(ContentDecoder, TooManyCodingsAreRefused) {
  std::string header = "gzip";
  for (size_t i = 1; i <= ContentDecoder::kMaxCodings; ++i) header += ", gzip";
  Decoded result = decode(header, "");
  EXPECT_FALSE(result.created);
  EXPECT_EQ(result.error, "too many content-encodings: 9");
}

TEST(ContentDecoder, CorruptDataReportsZlibsMessage) {
  Decoded not_gzip = decode("gzip", "this is plain text, not gzip");
  EXPECT_TRUE(failed_with(not_gzip, "gzip: incorrect header check"));

  std::string gzip = compress(sample_body(), kGzipBits);
  gzip[gzip.size() - 6] ^= 0x55;  // the CRC-32 in the gzip trailer
  Decoded bad_crc = decode("gzip", gzip);
  EXPECT_TRUE(failed_with(bad_crc, "gzip: incorrect data check"));

  std::string deflate = compress(sample_body(), kZlibBits);
  deflate[2] = static_cast<char>(0xff);  // first block header: reserved block type 3
  Decoded bad_block = decode("deflate", deflate);
  EXPECT_TRUE(failed_with(bad_block, "deflate: invalid block type"));
}

TEST(ContentDecoder, AnErrorSticksAndNothingMoreIsDecoded) {
  auto created = ContentDecoder::create("gzip", 1 << 20);
  ASSERT_TRUE(created) << created.error().message;
  ContentDecoder& decoder = **created;
  std::string output;
  auto collect = [&](std::string_view chunk) { output.append(chunk); };
  const std::string_view not_gzip = "this is plain text, not gzip";
  base::Status first = decoder.feed(not_gzip, collect);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().message, "gzip: incorrect header check");
  // A valid body after the failure is neither decoded nor counted.
  base::Status later = decoder.feed(compress(sample_body(), kGzipBits), collect);
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().message, "gzip: incorrect header check");
  base::Status finished = decoder.finish();
  ASSERT_FALSE(finished.ok());
  EXPECT_EQ(finished.error().message, "gzip: incorrect header check");
  EXPECT_EQ(output, "");
  EXPECT_EQ(decoder.total_input(), not_gzip.size());
}

TEST(ContentDecoder, BodyEndingInsideTheStreamFails) {
  const std::string gzip = compress(sample_body(), kGzipBits);
  Decoded cut = decode("gzip", std::string_view(gzip).substr(0, gzip.size() - 4));
  EXPECT_TRUE(failed_with(cut, "gzip: body ends inside the compressed stream"));
  Decoded one_byte = decode("deflate", "\x78");
  EXPECT_TRUE(failed_with(one_byte, "deflate: body ends inside the compressed stream"));
}

TEST(ContentDecoder, DataAfterADeflateStreamFails) {
  Decoded result = decode("deflate", compress("body", kZlibBits) + "junk");
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.output, "body");
  EXPECT_EQ(result.error, "deflate: data after the end of the stream");
}

TEST(ContentDecoder, EmptyBodyIsEmptyWhateverTheCoding) {
  expect_decoded(decode("gzip", ""), "");
  expect_decoded(decode("deflate, gzip", ""), "");
}

TEST(ContentDecoder, OutputPastTheCapIsCountedAndHashed) {
  const std::string body = sample_body();
  for (size_t piece : {size_t{1} << 20, size_t{333}}) {
    Decoded result = decode_in_pieces("gzip", compress(body, kGzipBits), piece, with_cap(1000));
    EXPECT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.output, body.substr(0, 1000));
    EXPECT_TRUE(result.truncated);
    EXPECT_EQ(result.total_output, body.size());
    EXPECT_EQ(result.sha256_hex, sha256_hex(body));
  }
  Decoded exact = decode("identity", "12345", 5);
  EXPECT_EQ(exact.output, "12345");
  EXPECT_FALSE(exact.truncated);
}

// 100 MiB of zeros, gzip-compressed (about 100 KB), built without holding the zeros.
std::string zero_bomb(uint64_t zero_bytes) {
  test_support::Deflater deflater(kGzipBits, Z_BEST_COMPRESSION);
  const std::string zeros(1 << 20, '\0');
  std::string bomb;
  for (uint64_t done = 0; done < zero_bytes; done += zeros.size()) {
    bomb += deflater.compress(zeros, Z_NO_FLUSH);
  }
  return bomb + deflater.finish();
}

TEST(ContentDecoder, GzipBombStaysBounded) {
  constexpr uint64_t kZeros = uint64_t{100} << 20;
  constexpr uint64_t kCap = 1 << 20;
  const std::string bomb = zero_bomb(kZeros);
  ASSERT_LT(bomb.size(), 200'000u);
  Decoded result = decode_in_pieces("gzip", bomb, 4096, with_cap(kCap));
  EXPECT_EQ(result.output.size(), kCap);
  EXPECT_EQ(result.output.find_first_not_of('\0'), std::string::npos);
  EXPECT_TRUE(result.truncated);
  // Zeros pass 1000:1, so the default guard stops decoding long before the end.
  EXPECT_TRUE(failed_with(result, "decompression bomb"));
  EXPECT_LT(result.total_output, kZeros / 10);
}

TEST(ContentDecoder, SizeLimitStopsDecodingPastTheCap) {
  ContentDecoderLimits limits = with_cap(1024);
  limits.max_decoded_bytes = 4 << 20;
  limits.max_ratio = 0;  // off: only the size limit applies
  Decoded result = decode_in_pieces("gzip", zero_bomb(16 << 20), 4096, limits);
  EXPECT_TRUE(failed_with(result, "decompression bomb"));
  EXPECT_EQ(result.output.size(), 1024u);
  EXPECT_TRUE(result.truncated);
  // Decoding stops within one output chunk (16 KiB) past the limit.
  EXPECT_GT(result.total_output, limits.max_decoded_bytes);
  EXPECT_LE(result.total_output, limits.max_decoded_bytes + (16 << 10));
  // Under the limit the same guard lets the whole body through.
  limits.max_decoded_bytes = 32 << 20;
  Decoded whole = decode_in_pieces("gzip", zero_bomb(16 << 20), 4096, limits);
  EXPECT_TRUE(whole.ok) << whole.error;
  EXPECT_EQ(whole.total_output, uint64_t{16} << 20);
}

TEST(ContentDecoder, RatioLimitIsMeasuredAgainstConsumedInput) {
  const std::string body = sample_body();  // compresses between 5:1 and 50:1
  const std::string gzip = compress(body, kGzipBits);
  ASSERT_GT(body.size() / gzip.size(), 5u);
  ASSERT_LT(body.size() / gzip.size(), 50u);
  ContentDecoderLimits limits = with_cap(100);
  limits.max_ratio = 5;
  Decoded dense = decode_pieces("gzip", {gzip}, limits);
  EXPECT_TRUE(failed_with(dense, "decompression bomb"));
  limits.max_ratio = 50;
  Decoded fine = decode_pieces("gzip", {gzip}, limits);
  EXPECT_TRUE(fine.ok) << fine.error;
  EXPECT_EQ(fine.total_output, body.size());
  // Below the cap no ratio is too high: the caller asked for that much output.
  limits.max_output_bytes = body.size();
  limits.max_ratio = 2;
  expect_decoded(decode_pieces("gzip", {gzip}, limits), body);
}

TEST(ContentDecoder, InnerLayerThatExpandsIntoNothingIsStopped) {
  // Raw deflate made only of empty stored blocks: megabytes that decode to no bytes at all.
  std::string empty_blocks;
  for (int i = 0; i < 1'000'000; ++i) empty_blocks.append("\x00\x00\x00\xff\xff", 5);
  const std::string encoded = compress(empty_blocks, kGzipBits);
  ContentDecoderLimits limits = with_cap(1024);
  limits.max_decoded_bytes = 1 << 20;
  limits.max_ratio = 0;
  Decoded result = decode_in_pieces("deflate, gzip", encoded, 4096, limits);
  EXPECT_TRUE(failed_with(result, "decompression bomb"));
  EXPECT_EQ(result.total_output, 0u);
}

// hash_only_past_cap: a body within the cap is not hashed at all; one past it gets the hash
// of the whole body, seeded with the prefix the caller kept, wherever the cap falls in a feed.
TEST(ContentDecoder, HashOnlyPastTheCapCoversTheWholeBody) {
  const std::string body = sample_body();
  for (uint64_t cap : {uint64_t{1000}, uint64_t{16 << 10}, uint64_t{body.size() - 1}}) {
    for (size_t piece : {size_t{1} << 20, size_t{333}, size_t{1}}) {
      for (std::string_view coding : {"identity", "gzip"}) {
        std::string kept;
        auto created = ContentDecoder::create(coding, cap);
        ASSERT_TRUE(created) << created.error().message;
        ContentDecoder* decoder = created->get();
        decoder->hash_only_past_cap(&kept);
        std::string encoded = coding == "gzip" ? compress(body, kGzipBits) : body;
        for (size_t at = 0; at < encoded.size(); at += piece) {
          ASSERT_TRUE(decoder
                          ->feed(std::string_view(encoded).substr(at, piece),
                                 [&](std::string_view chunk) { kept.append(chunk); })
                          .ok());
        }
        ASSERT_TRUE(decoder->finish().ok());
        EXPECT_EQ(kept, body.substr(0, cap));
        EXPECT_TRUE(decoder->truncated());
        EXPECT_EQ(decoder->sha256_hex(), sha256_hex(body)) << coding << " cap " << cap;
      }
    }
  }
  std::string kept;
  auto created = ContentDecoder::create("identity", body.size());
  ASSERT_TRUE(created);
  ContentDecoder* decoder = created->get();
  decoder->hash_only_past_cap(&kept);
  ASSERT_TRUE(decoder->feed(body, [&](std::string_view chunk) { kept.append(chunk); }).ok());
  ASSERT_TRUE(decoder->finish().ok());
  EXPECT_FALSE(decoder->truncated());
  EXPECT_EQ(kept, body);
  EXPECT_EQ(decoder->sha256_hex(), "");  // never computed for a body that fits
}

}  // namespace
}  // namespace mcptap::capture

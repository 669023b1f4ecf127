// Tests for capture/sha256: the FIPS 180-2 / NIST example vectors, padding edges, streaming.
#include "base/sha256.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace mcptap::capture {
namespace {

std::string sha256_hex(std::string_view bytes) {
  base::Sha256 hasher;
  hasher.update(bytes);
  return hasher.finish_hex();
}

// Feeds bytes in chunks of chunk_size, so block boundaries fall inside update calls.
std::string sha256_hex_in_chunks(std::string_view bytes, size_t chunk_size) {
  base::Sha256 hasher;
  for (size_t at = 0; at < bytes.size(); at += chunk_size)
    hasher.update(bytes.substr(at, chunk_size));
  return hasher.finish_hex();
}

TEST(Sha256, EmptyInput) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, Abc) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, TwoBlockMessage448Bits) {
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, Message896Bits) {
  EXPECT_EQ(
      sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmno"
                 "pqklmnopqrlmnopqrsmnopqrstnopqrstu"),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, OneMillionAInOddChunks) {
  const std::string million(1000000, 'a');
  const std::string expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  for (size_t chunk : {1u, 3u, 55u, 63u, 64u, 65u, 127u, 1000u, 4099u, 1000000u}) {
    EXPECT_EQ(sha256_hex_in_chunks(million, chunk), expected) << "chunk " << chunk;
  }
}

// Lengths around 56 and 64 bytes decide whether the length field needs an extra block.
TEST(Sha256, PaddingEdges) {
  const std::pair<size_t, const char*> cases[] = {
      {55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072"},
      {56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e"},
      {63, "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2"},
      {64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c"},
      {65, "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9"},
      {119, "000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c"},
      {120, "13f05a0b594787f5ecd315edc96141bd3243203d1b7d4f0836f37308b276ba98"},
  };
  for (const auto& [length, expected] : cases) {
    std::string input(length, 'x');
    EXPECT_EQ(sha256_hex(input), expected) << "length " << length;
    for (size_t chunk = 1; chunk <= length; ++chunk) {
      ASSERT_EQ(sha256_hex_in_chunks(input, chunk), expected) << length << " by " << chunk;
    }
  }
}

TEST(Sha256, FinishResetsForTheNextInput) {
  base::Sha256 hasher;
  hasher.update("some earlier message");
  hasher.finish_hex();
  hasher.update("abc");
  EXPECT_EQ(hasher.finish_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, RawDigestMatchesHex) {
  base::Sha256 hasher;
  hasher.update("abc");
  std::array<uint8_t, 32> digest = hasher.finish();
  EXPECT_EQ(digest[0], 0xba);
  EXPECT_EQ(digest[31], 0xad);
}

// Eight MiB of varied bytes, hashed in one call and in uneven pieces, must give one digest,
// and it must differ from the digest of the same input with one bit flipped.
TEST(Sha256, LargeInputInUnevenChunksMatchesOneShot) {
  std::string input(8 << 20, '\0');
  uint32_t state = 2463534242u;  // xorshift32: deterministic bytes with no structure
  for (char& byte : input) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    byte = static_cast<char>(state);
  }
  const std::string one_shot = sha256_hex(input);
  base::Sha256 hasher;
  size_t at = 0;
  for (size_t step = 1; at < input.size(); step = step * 3 % 1'000'003 + 1) {
    std::string_view piece = std::string_view(input).substr(at, step);
    hasher.update(piece);
    at += piece.size();
  }
  EXPECT_EQ(hasher.finish_hex(), one_shot);
  input[input.size() / 2] ^= 1;
  EXPECT_NE(sha256_hex(input), one_shot);
}

// A copy taken mid-stream carries on independently of the original.
TEST(Sha256, CopyMidStreamContinuesIndependently) {
  base::Sha256 original;
  original.update("ab");
  base::Sha256 copy = original;
  original.update("c");
  copy.update("c");
  EXPECT_EQ(original.finish_hex(), copy.finish_hex());
  copy.update("different");
  base::Sha256 assigned;
  assigned.update("ignored");
  assigned = copy;
  assigned.update("tail");
  EXPECT_EQ(assigned.finish_hex(), sha256_hex("differenttail"));
  EXPECT_EQ(copy.finish_hex(), sha256_hex("different"));
}

// A moved-from hasher is empty and usable; the moved-to one keeps the running digest.
TEST(Sha256, MoveKeepsStateAndLeavesSourceEmpty) {
  base::Sha256 source;
  source.update("a");
  base::Sha256 target = std::move(source);
  target.update("bc");
  EXPECT_EQ(target.finish_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(source.finish_hex(),  // NOLINT(bugprone-use-after-move): the state is specified
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace mcptap::capture

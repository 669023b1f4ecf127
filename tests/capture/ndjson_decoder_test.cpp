// Tests for capture/ndjson_decoder: lines across any split, CRLF, the cap and its hash.
#include "capture/ndjson_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/sha256.h"

namespace mcptap::capture {
namespace {

struct Line {
  std::string text;
  uint64_t size;
  bool truncated;
  std::string sha;
};

std::vector<Line> decode(const std::string& wire, size_t chunk, uint64_t cap, bool finish) {
  NdjsonDecoder decoder(cap);
  std::vector<Line> lines;
  auto collect = [&](const NdjsonLine& line) {
    lines.push_back({std::string(line.text), line.size, line.truncated, line.sha256_hex});
  };
  for (size_t at = 0; at < wire.size(); at += chunk) {
    decoder.feed(std::string_view(wire).substr(at, chunk), collect);
  }
  if (finish) decoder.finish(collect);
  return lines;
}

TEST(NdjsonDecoder, LinesAtEveryChunkSize) {
  const std::string wire = "{\"id\":1}\n\n{\"id\":2}\r\n  \n{\"id\":3}";
  for (size_t chunk = 1; chunk <= wire.size(); ++chunk) {
    auto lines = decode(wire, chunk, 1024, false);
    ASSERT_EQ(lines.size(), 2u) << "chunk " << chunk;
    EXPECT_EQ(lines[0].text, "{\"id\":1}");
    EXPECT_EQ(lines[1].text, "{\"id\":2}");
    EXPECT_EQ(lines[1].size, 8u);
    auto finished = decode(wire, chunk, 1024, true);
    ASSERT_EQ(finished.size(), 3u);
    EXPECT_EQ(finished[2].text, "{\"id\":3}");
  }
}

TEST(NdjsonDecoder, LongLineIsCutAndHashed) {
  std::string big = "{\"data\":\"" + std::string(10000, 'x') + "\"}";
  std::string wire = big + "\n{\"id\":9}\n";
  base::Sha256 expected;
  expected.update(big);
  std::string expected_hex = expected.finish_hex();
  for (size_t chunk : {1u, 7u, 100u, 4096u, 20000u}) {
    auto lines = decode(wire, chunk, 1024, false);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_TRUE(lines[0].truncated);
    EXPECT_EQ(lines[0].text.size(), 1024u);
    EXPECT_EQ(lines[0].text, big.substr(0, 1024));
    EXPECT_EQ(lines[0].size, big.size());
    EXPECT_EQ(lines[0].sha, expected_hex);
    EXPECT_FALSE(lines[1].truncated);
    EXPECT_EQ(lines[1].text, "{\"id\":9}");
  }
}

}  // namespace
}  // namespace mcptap::capture

// Tests for capture/permessage_deflate: the agreed-parameter parser and the message inflater,
// against zlib's own deflate and the examples of RFC 7692 section 7.2.3.
#include "capture/permessage_deflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/support/deflate.h"

namespace mcptap::capture {
namespace {

// ---- parse_permessage_deflate -------------------------------------------------------------

// The parameters agreed, or why the header cannot be followed.
std::string reason(const base::Result<std::optional<DeflateParams>>& parsed) {
  return parsed.ok() ? "" : parsed.error().message;
}

TEST(ParsePermessageDeflate, AbsentWhenNotAgreed) {
  for (const char* header :
       {"", "x-webkit-deflate-frame; no_context_takeover", "permessage-deflated"}) {
    auto params = parse_permessage_deflate(header);
    ASSERT_TRUE(params) << header << ": " << reason(params);
    EXPECT_FALSE(*params) << header;
  }
}

TEST(ParsePermessageDeflate, BareExtensionHasDefaults) {
  auto parsed = parse_permessage_deflate("permessage-deflate");
  ASSERT_TRUE(parsed) << reason(parsed);
  const std::optional<DeflateParams>& params = *parsed;
  ASSERT_TRUE(params);
  EXPECT_FALSE(params->server_no_context_takeover);
  EXPECT_FALSE(params->client_no_context_takeover);
  EXPECT_EQ(params->server_max_window_bits, 15);
  EXPECT_EQ(params->client_max_window_bits, 15);
}

TEST(ParsePermessageDeflate, AllParametersAmongOtherExtensions) {
  auto parsed = parse_permessage_deflate(
      "x-webkit-deflate-frame,  PerMessage-Deflate ; Server_No_Context_Takeover ;"
      "client_no_context_takeover; server_max_window_bits=\"10\" ;\tclient_max_window_bits = 9 ");
  ASSERT_TRUE(parsed) << reason(parsed);
  const std::optional<DeflateParams>& params = *parsed;
  ASSERT_TRUE(params);
  EXPECT_TRUE(params->server_no_context_takeover);
  EXPECT_TRUE(params->client_no_context_takeover);
  EXPECT_EQ(params->server_max_window_bits, 10);
  EXPECT_EQ(params->client_max_window_bits, 9);
}

TEST(ParsePermessageDeflate, QuotedCommaDoesNotSplitExtensions) {
  auto parsed = parse_permessage_deflate(
      "foo; label=\"a, permessage-deflate; server_max_window_bits=9\", permessage-deflate; "
      "server_max_window_bits=12");
  ASSERT_TRUE(parsed) << reason(parsed);
  const std::optional<DeflateParams>& params = *parsed;
  ASSERT_TRUE(params);
  EXPECT_EQ(params->server_max_window_bits, 12);
}

TEST(ParsePermessageDeflate, ClientWindowBitsWithoutValueKeepsFifteen) {
  auto parsed = parse_permessage_deflate("permessage-deflate; client_max_window_bits");
  ASSERT_TRUE(parsed) << reason(parsed);
  const std::optional<DeflateParams>& params = *parsed;
  ASSERT_TRUE(params);
  EXPECT_EQ(params->client_max_window_bits, 15);
}

TEST(ParsePermessageDeflate, EveryWindowSizeFromEightToFifteen) {
  for (int bits = 8; bits <= 15; ++bits) {
    std::string header = "permessage-deflate; server_max_window_bits=" + std::to_string(bits) +
                         "; client_max_window_bits=" + std::to_string(bits);
    auto parsed = parse_permessage_deflate(header);
    ASSERT_TRUE(parsed) << header << ": " << reason(parsed);
    const std::optional<DeflateParams>& params = *parsed;
    ASSERT_TRUE(params) << header;
    EXPECT_EQ(params->server_max_window_bits, bits);
    EXPECT_EQ(params->client_max_window_bits, bits);
  }
}

TEST(ParsePermessageDeflate, InvalidParametersAreErrors) {
  const char* headers[] = {
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; server_max_window_bits=08",
      "permessage-deflate; server_max_window_bits=1O",
      "permessage-deflate; client_max_window_bits=",
      "permessage-deflate; client_max_window_bits=\"\"",
      "permessage-deflate; client_max_window_bits=-9",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; client_no_context_takeover=",
      "permessage-deflate; mystery_parameter",
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; server_max_window_bits=10; SERVER_MAX_WINDOW_BITS=11",
      "permessage-deflate, permessage-deflate; client_max_window_bits=10",
  };
  for (const char* header : headers) {
    auto parsed = parse_permessage_deflate(header);
    ASSERT_FALSE(parsed) << header;
    const std::string& error = parsed.error().message;
    EXPECT_NE(error.find("permessage-deflate"), std::string::npos) << header << ": " << error;
  }
}

TEST(ParsePermessageDeflate, EachErrorSaysWhatIsWrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"permessage-deflate; server_max_window_bits=99",
       "permessage-deflate: invalid server_max_window_bits value '99'"},
      {"permessage-deflate; server_max_window_bits",
       "permessage-deflate: invalid server_max_window_bits value ''"},
      {"permessage-deflate; client_no_context_takeover=1",
       "permessage-deflate: client_no_context_takeover takes no value"},
      {"permessage-deflate; mystery", "permessage-deflate: unknown parameter mystery"},
      {"permessage-deflate; client_no_context_takeover; Client_No_Context_Takeover",
       "permessage-deflate: parameter Client_No_Context_Takeover given twice"},
      {"permessage-deflate, permessage-deflate", "permessage-deflate accepted more than once"},
  };
  for (const auto& [header, expected] : cases) {
    auto parsed = parse_permessage_deflate(header);
    ASSERT_FALSE(parsed) << header;
    EXPECT_EQ(parsed.error().message, expected);
  }
}

// ---- MessageInflater ----------------------------------------------------------------------

using test_support::bytes;

// Raw DEFLATE as a permessage-deflate sender makes it (tests/support/deflate.h).
using Deflater = test_support::MessageDeflater;

struct Inflated {
  bool ok = true;
  std::string error;  // why, when not ok
  std::string text;
  std::vector<size_t> chunk_sizes;
};

// Inflates one message, feeding its compressed bytes in pieces of piece_size.
Inflated inflate_message(MessageInflater& inflater, std::string_view compressed,
                         size_t piece_size = SIZE_MAX) {
  Inflated result;
  auto collect = [&](std::string_view chunk) {
    result.text.append(chunk);
    result.chunk_sizes.push_back(chunk.size());
  };
  base::Status status;
  for (size_t at = 0; at < compressed.size() && status.ok(); at += piece_size) {
    status = inflater.feed(compressed.substr(at, piece_size), collect);
  }
  if (status) status = inflater.finish_message(collect);
  result.ok = status.ok();
  if (!status) result.error = status.error().message;
  return result;
}

using test_support::random_text;

const std::string kHelloCompressed = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});

TEST(MessageInflater, Rfc7692HelloInOneBlock) {
  MessageInflater inflater(15, false);
  Inflated hello = inflate_message(inflater, kHelloCompressed);
  ASSERT_TRUE(hello.ok) << hello.error;
  EXPECT_EQ(hello.text, "Hello");
}

TEST(MessageInflater, Rfc7692HelloSplitAcrossFragments) {
  MessageInflater inflater(15, false);
  Inflated hello = inflate_message(inflater, kHelloCompressed, 3);
  ASSERT_TRUE(hello.ok) << hello.error;
  EXPECT_EQ(hello.text, "Hello");
}

TEST(MessageInflater, Rfc7692SharedSlidingWindow) {
  const std::string second = bytes({0xf2, 0x00, 0x11, 0x00, 0x00});
  MessageInflater inflater(15, false);
  EXPECT_EQ(inflate_message(inflater, kHelloCompressed).text, "Hello");
  Inflated again = inflate_message(inflater, second);
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.text, "Hello");

  // The second message is only a back-reference: without the first one's window it fails.
  MessageInflater fresh(15, false);
  Inflated alone = inflate_message(fresh, second);
  EXPECT_FALSE(alone.ok);
  EXPECT_EQ(alone.error, "inflate: invalid distance too far back");
}

TEST(MessageInflater, Rfc7692BlockWithNoCompression) {
  MessageInflater inflater(15, false);
  Inflated hello = inflate_message(
      inflater, bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}));
  ASSERT_TRUE(hello.ok) << hello.error;
  EXPECT_EQ(hello.text, "Hello");
}

// RFC 7692 section 7.2.3.4: a BFINAL block, then one byte of padding (an empty stored block
// header). The window must survive for the next message.
TEST(MessageInflater, Rfc7692BlockWithBfinalSet) {
  MessageInflater inflater(15, false);
  Inflated hello =
      inflate_message(inflater, bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}));
  ASSERT_TRUE(hello.ok) << hello.error;
  EXPECT_EQ(hello.text, "Hello");
  Inflated again = inflate_message(inflater, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}));
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.text, "Hello");
}

TEST(MessageInflater, BfinalBlockWithoutPaddingIsTolerated) {
  MessageInflater inflater(15, false);
  EXPECT_EQ(inflate_message(inflater, bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})).text,
            "Hello");
  Inflated again = inflate_message(inflater, kHelloCompressed);
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.text, "Hello");
}

TEST(MessageInflater, Rfc7692EmptyMessage) {
  MessageInflater inflater(15, false);
  Inflated empty = inflate_message(inflater, bytes({0x00}));
  ASSERT_TRUE(empty.ok) << empty.error;
  EXPECT_EQ(empty.text, "");
  EXPECT_EQ(inflate_message(inflater, kHelloCompressed).text, "Hello");
}

TEST(MessageInflater, ContextTakeoverAcrossSeveralMessages) {
  const std::string base = random_text(4000, 1);
  std::vector<std::string> messages = {base, base + "!", "prefix " + base, base.substr(100)};
  Deflater deflater(15);
  MessageInflater inflater(15, false);
  for (size_t i = 0; i < messages.size(); ++i) {
    std::string compressed = deflater.compress_message(messages[i]);
    // Each later message is mostly a reference into the previous ones.
    if (i > 0) {
      EXPECT_LT(compressed.size(), 100u) << i;
    }
    Inflated result = inflate_message(inflater, compressed);
    ASSERT_TRUE(result.ok) << i << ": " << result.error;
    EXPECT_EQ(result.text, messages[i]) << i;
  }
}

TEST(MessageInflater, NoContextTakeoverStartsEachMessageFresh) {
  const std::string base = random_text(3000, 2);
  Deflater resetting(15, true);
  MessageInflater inflater(15, true);
  for (int i = 0; i < 4; ++i) {
    Inflated result = inflate_message(inflater, resetting.compress_message(base));
    ASSERT_TRUE(result.ok) << i << ": " << result.error;
    EXPECT_EQ(result.text, base);
  }
  // A second message that leans on the first one's window cannot inflate after a reset,
  // which shows the reset happens.
  Deflater keeping(15);
  MessageInflater forgetting(15, true);
  EXPECT_TRUE(inflate_message(forgetting, keeping.compress_message(base)).ok);
  Inflated second = inflate_message(forgetting, keeping.compress_message(base));
  EXPECT_FALSE(second.ok);
  EXPECT_EQ(second.error, "inflate: invalid distance too far back");
}

// Distances just under each window size must inflate with that window.
TEST(MessageInflater, EveryWindowSizeFromNineToFifteen) {
  for (int bits = 9; bits <= 15; ++bits) {
    size_t window = size_t{1} << bits;
    std::string block = random_text(window - 300, static_cast<uint32_t>(bits));
    std::string text = block + block + block;
    for (bool takeover : {true, false}) {
      Deflater deflater(bits, !takeover);
      MessageInflater inflater(bits, !takeover);
      for (int message = 0; message < 3; ++message) {
        Inflated result = inflate_message(inflater, deflater.compress_message(text), 777);
        ASSERT_TRUE(result.ok) << bits << ": " << result.error;
        ASSERT_EQ(result.text, text) << bits;
      }
    }
  }
}

TEST(MessageInflater, WindowEightInflatesWhatZlibSendsForIt) {
  // Window 8 is inflated with 9 (zlib's raw inflate is not reliable with 8), so distances up
  // to 512 pass. A 400-byte message repeated reaches 400 bytes into the previous one; zlib's
  // deflate only reaches that far with a larger window, hence 10 on the sending side.
  const std::string text = random_text(400, 8);
  Deflater deflater(10);
  MessageInflater inflater(8, false);
  for (int message = 0; message < 3; ++message) {
    std::string compressed = deflater.compress_message(text);
    if (message > 0) {
      ASSERT_LT(compressed.size(), 20u);
    }
    Inflated result = inflate_message(inflater, compressed);
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.text, text);
  }
}

TEST(MessageInflater, WindowTooSmallForTheSenderIsDetected) {
  std::string block = random_text(20000, 3);
  Deflater deflater(15);
  MessageInflater inflater(10, false);
  Inflated result = inflate_message(inflater, deflater.compress_message(block + block));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error, "inflate: invalid distance too far back");
}

TEST(MessageInflater, OutputComesInBoundedChunks) {
  std::string text = random_text(1 << 20, 4);
  Deflater deflater(15);
  std::string compressed = deflater.compress_message(text);
  MessageInflater inflater(15, false);
  Inflated result = inflate_message(inflater, compressed);
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.text, text);
  EXPECT_GE(result.chunk_sizes.size(), (1u << 20) / (16u << 10));
  for (size_t size : result.chunk_sizes) EXPECT_LE(size, 16u << 10);
}

TEST(MessageInflater, HighlyCompressedMessageStillComesInChunks) {
  std::string text(8 << 20, 'z');
  Deflater deflater(15);
  std::string compressed = deflater.compress_message(text);
  ASSERT_LT(compressed.size(), 64u << 10);
  MessageInflater inflater(15, false);
  Inflated result = inflate_message(inflater, compressed);
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.text.size(), text.size());
  EXPECT_EQ(result.text, text);
  for (size_t size : result.chunk_sizes) EXPECT_LE(size, 16u << 10);
}

TEST(MessageInflater, ByteByByteEqualsWhole) {
  std::string first = random_text(5000, 5), second = first.substr(10, 3000) + "tail";
  Deflater deflater(12);
  std::string c1 = deflater.compress_message(first), c2 = deflater.compress_message(second);
  MessageInflater inflater(12, false);
  EXPECT_EQ(inflate_message(inflater, c1, 1).text, first);
  EXPECT_EQ(inflate_message(inflater, c2, 1).text, second);
}

TEST(MessageInflater, CorruptDataIsAnError) {
  MessageInflater inflater(15, false);
  // 0x06: BFINAL 0, BTYPE 11, which DEFLATE reserves.
  base::Status corrupt = inflater.feed(bytes({0x06, 0x12, 0x34}), [](std::string_view) {});
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.error().message, "inflate: invalid block type");
  // The inflater stays failed: its stream can no longer be followed.
  base::Status later = inflater.feed(kHelloCompressed, [](std::string_view) {});
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().message, "inflate: invalid block type");
  base::Status finished = inflater.finish_message([](std::string_view) {});
  ASSERT_FALSE(finished.ok());
  EXPECT_EQ(finished.error().message, "inflate: invalid block type");
}

TEST(MessageInflater, MessageCutInsideABlockIsAnError) {
  Deflater deflater(15);
  std::string compressed = deflater.compress_message(random_text(10000, 6));
  MessageInflater inflater(15, false);
  Inflated cut = inflate_message(inflater, compressed.substr(0, compressed.size() / 2));
  EXPECT_FALSE(cut.ok);
  EXPECT_EQ(cut.error.rfind("inflate: ", 0), 0u) << cut.error;
}

TEST(MessageInflater, StoredBlockCutShortIsAnError) {
  MessageInflater inflater(15, false);
  // A stored block that announces 10 bytes but carries 3: with the 4 tail bytes it is still
  // short, so the message ends inside it.
  Inflated cut = inflate_message(inflater, bytes({0x00, 0x0a, 0x00, 0xf5, 0xff, 0x48, 0x65, 0x6c}));
  EXPECT_FALSE(cut.ok);
  EXPECT_EQ(cut.error, "inflate: message ends inside a block");
}

}  // namespace
}  // namespace mcptap::capture

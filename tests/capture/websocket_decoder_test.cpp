// Tests for capture/websocket_decoder: RFC 6455 framing and RFC 7692 compression at every
// split of every fixture, the capture cap and its hash, protocol violations, and byte
// fixtures produced by python-websockets.
#include "capture/websocket_decoder.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/sha256.h"
#include "tests/support/deflate.h"

namespace mcptap::capture {
namespace {

using Status = WebSocketDecoder::Status;
using Options = WebSocketDecoder::Options;
using MaskKey = std::array<uint8_t, 4>;

constexpr uint8_t kContinuation = 0x0, kText = 0x1, kBinary = 0x2;
constexpr uint8_t kClose = 0x8, kPing = 0x9, kPong = 0xa;
constexpr MaskKey kRfcMask = {0x37, 0xfa, 0x21, 0x3d};  // the key of RFC 6455 section 5.7

using test_support::bytes;

std::string sha256_of(std::string_view data) {
  base::Sha256 hasher;
  hasher.update(data);
  return hasher.finish_hex();
}

// ---- building frames ----------------------------------------------------------------------

struct FrameSpec {
  uint8_t opcode = kText;
  std::string payload;
  bool fin = true;
  bool rsv1 = false;
  bool rsv2 = false;
  bool rsv3 = false;
  std::optional<MaskKey> mask;
  int length_bytes = -1;  // 0, 2 or 8 forces an encoding; -1 picks the shortest
};

std::string frame_header(const FrameSpec& spec, uint64_t length) {
  std::string out;
  out.push_back(static_cast<char>((spec.fin ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) |
                                  (spec.rsv2 ? 0x20 : 0) | (spec.rsv3 ? 0x10 : 0) | spec.opcode));
  int length_bytes = spec.length_bytes;
  if (length_bytes < 0) length_bytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const uint8_t mask_bit = spec.mask ? 0x80 : 0;
  const uint8_t length_field = length_bytes == 0 ? length : length_bytes == 2 ? 126 : 127;
  out.push_back(static_cast<char>(mask_bit | length_field));
  for (int shift = 8 * (length_bytes - 1); shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((length >> shift) & 0xff));
  }
  if (spec.mask) out.append(spec.mask->begin(), spec.mask->end());
  return out;
}

std::string mask_payload(std::string_view payload, const MaskKey& key) {
  std::string out(payload);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(out[i] ^ key[i % 4]);
  return out;
}

std::string build_frame(const FrameSpec& spec) {
  std::string payload = spec.mask ? mask_payload(spec.payload, *spec.mask) : spec.payload;
  return frame_header(spec, spec.payload.size()) + payload;
}

// A server's frame (never masked).
std::string server_frame(uint8_t opcode, std::string_view payload, bool fin = true,
                         bool rsv1 = false) {
  return build_frame({opcode, std::string(payload), fin, rsv1, false, false, std::nullopt, -1});
}

// A client's frame (always masked).
std::string client_frame(uint8_t opcode, std::string_view payload, bool fin = true,
                         bool rsv1 = false, MaskKey mask = kRfcMask) {
  return build_frame({opcode, std::string(payload), fin, rsv1, false, false, mask, -1});
}

Options server_side(std::optional<DeflateParams> deflate = std::nullopt, uint64_t cap = 16u << 20) {
  return Options{false, deflate, cap};
}

Options client_side(std::optional<DeflateParams> deflate = std::nullopt, uint64_t cap = 16u << 20) {
  return Options{true, deflate, cap};
}

// ---- decoding -----------------------------------------------------------------------------

struct Decoded {
  std::vector<WebSocketMessage> messages;
  Status status = Status::Ok;
  std::string reason;
};

// Feeds wire in the pieces that the cut positions make (empty pieces included).
Decoded decode_with_cuts(std::string_view wire, const Options& options,
                         const std::vector<size_t>& cuts) {
  WebSocketDecoder decoder(options);
  Decoded decoded;
  auto collect = [&](WebSocketMessage&& message) {
    decoded.messages.push_back(std::move(message));
  };
  size_t from = 0;
  for (size_t cut : cuts) {
    decoded.status = decoder.feed(wire.substr(from, cut - from), collect);
    from = cut;
  }
  decoded.status = decoder.feed(wire.substr(from), collect);
  decoded.reason = decoder.failure().message;
  return decoded;
}

Decoded decode(std::string_view wire, const Options& options) {
  return decode_with_cuts(wire, options, {});
}

Decoded decode_in_chunks(std::string_view wire, const Options& options, size_t chunk) {
  std::vector<size_t> cuts;
  for (size_t at = chunk; at < wire.size(); at += chunk) cuts.push_back(at);
  return decode_with_cuts(wire, options, cuts);
}

const char* status_name(Status status) {
  switch (status) {
    case Status::Ok:
      return "Ok";
    case Status::Closed:
      return "Closed";
    case Status::Failed:
      return "Failed";
  }
  return "?";
}

// Everything observable about a decoding, as text: equal texts mean equal results.
std::string describe(const Decoded& decoded) {
  std::ostringstream out;
  out << status_name(decoded.status) << " '" << decoded.reason << "'\n";
  for (const WebSocketMessage& m : decoded.messages) {
    out << "opcode=" << int{m.opcode} << " size=" << m.size << " wire=" << m.wire_bytes
        << " frames=" << m.frames << " compressed=" << m.compressed << " truncated=" << m.truncated
        << " sha=" << m.sha256_hex << " payload_size=" << m.payload.size()
        << " payload_sha=" << sha256_of(m.payload) << " starts='" << m.payload.substr(0, 24)
        << "'\n";
  }
  return out.str();
}

// Where to cut a wire in two: everywhere when it is at most cut_everywhere_up_to bytes;
// otherwise every position in the first and last 100 bytes and about 300 in between.
std::vector<size_t> cut_positions(size_t size, size_t cut_everywhere_up_to) {
  std::vector<size_t> positions;
  const size_t stride = std::max<size_t>(size / 300, 7) | 1;  // odd: it meets headers anywhere
  for (size_t at = 0; at <= size; ++at) {
    bool near_an_end = at < 100 || size - at < 100;
    if (size <= cut_everywhere_up_to || near_an_end || at % stride == 0) positions.push_back(at);
  }
  return positions;
}

// Any split (in two, in three for short wires, byte by byte) must decode as one feed does.
void expect_same_at_every_split(std::string_view wire, const Options& options,
                                size_t cut_everywhere_up_to = 4096) {
  const std::string whole = describe(decode(wire, options));
  for (size_t cut : cut_positions(wire.size(), cut_everywhere_up_to)) {
    ASSERT_EQ(describe(decode_with_cuts(wire, options, {cut})), whole) << "cut at " << cut;
  }
  ASSERT_EQ(describe(decode_in_chunks(wire, options, 1)), whole) << "byte by byte";
  if (wire.size() > 120) return;
  for (size_t first = 0; first <= wire.size(); ++first) {
    for (size_t second = first; second <= wire.size(); ++second) {
      ASSERT_EQ(describe(decode_with_cuts(wire, options, {first, second})), whole)
          << "cuts at " << first << " and " << second;
    }
  }
}

// ---- deflating like a permessage-deflate sender ------------------------------------------

// A permessage-deflate sender (tests/support/deflate.h).
using Deflater = test_support::MessageDeflater;

DeflateParams deflate_params(int server_bits = 15, int client_bits = 15,
                             bool server_no_takeover = false, bool client_no_takeover = false) {
  DeflateParams params;
  params.server_max_window_bits = server_bits;
  params.client_max_window_bits = client_bits;
  params.server_no_context_takeover = server_no_takeover;
  params.client_no_context_takeover = client_no_takeover;
  return params;
}

using test_support::random_text;

// ---- RFC 6455 section 5.7 examples -------------------------------------------------------

TEST(WebSocketDecoder, Rfc6455SingleFrameUnmaskedText) {
  const std::string wire = bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
  Decoded decoded = decode(wire, server_side());
  EXPECT_EQ(decoded.status, Status::Ok);
  ASSERT_EQ(decoded.messages.size(), 1u);
  const WebSocketMessage& hello = decoded.messages[0];
  EXPECT_EQ(hello.opcode, kText);
  EXPECT_EQ(hello.payload, "Hello");
  EXPECT_EQ(hello.size, 5u);
  EXPECT_EQ(hello.wire_bytes, 7u);
  EXPECT_EQ(hello.frames, 1u);
  EXPECT_FALSE(hello.compressed);
  EXPECT_FALSE(hello.truncated);
  EXPECT_EQ(hello.sha256_hex, "");
  expect_same_at_every_split(wire, server_side());
}

TEST(WebSocketDecoder, Rfc6455SingleFrameMaskedText) {
  const std::string wire =
      bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  EXPECT_EQ(wire, client_frame(kText, "Hello"));  // the builder agrees with the RFC
  Decoded decoded = decode(wire, client_side());
  ASSERT_EQ(decoded.messages.size(), 1u);
  EXPECT_EQ(decoded.messages[0].payload, "Hello");
  EXPECT_EQ(decoded.messages[0].wire_bytes, 11u);
  expect_same_at_every_split(wire, client_side());
}

TEST(WebSocketDecoder, Rfc6455FragmentedUnmaskedText) {
  const std::string wire = bytes({0x01, 0x03, 0x48, 0x65, 0x6c}) + bytes({0x80, 0x02, 0x6c, 0x6f});
  Decoded decoded = decode(wire, server_side());
  ASSERT_EQ(decoded.messages.size(), 1u);
  EXPECT_EQ(decoded.messages[0].payload, "Hello");
  EXPECT_EQ(decoded.messages[0].frames, 2u);
  EXPECT_EQ(decoded.messages[0].wire_bytes, 9u);
  expect_same_at_every_split(wire, server_side());
}

TEST(WebSocketDecoder, Rfc6455PingAndMaskedPongCarryNoMessage) {
  const std::string ping = bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
  const std::string pong =
      bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  Decoded from_server = decode(ping, server_side());
  EXPECT_EQ(from_server.status, Status::Ok);
  EXPECT_TRUE(from_server.messages.empty());
  Decoded from_client = decode(pong, client_side());
  EXPECT_EQ(from_client.status, Status::Ok);
  EXPECT_TRUE(from_client.messages.empty());

  // The ping between the two fragments of "Hello" leaves the message whole.
  const std::string wire =
      bytes({0x01, 0x03, 0x48, 0x65, 0x6c}) + ping + bytes({0x80, 0x02, 0x6c, 0x6f});
  Decoded decoded = decode(wire, server_side());
  ASSERT_EQ(decoded.messages.size(), 1u);
  EXPECT_EQ(decoded.messages[0].payload, "Hello");
  EXPECT_EQ(decoded.messages[0].wire_bytes, 9u);  // control frames are not the message's
  expect_same_at_every_split(wire, server_side());
}

TEST(WebSocketDecoder, Rfc6455Binary256BytesWith16BitLength) {
  std::string payload(256, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i);
  const std::string wire = bytes({0x82, 0x7e, 0x01, 0x00}) + payload;
  Decoded decoded = decode(wire, server_side());
  ASSERT_EQ(decoded.messages.size(), 1u);
  EXPECT_EQ(decoded.messages[0].opcode, kBinary);
  EXPECT_EQ(decoded.messages[0].payload, payload);
  EXPECT_EQ(decoded.messages[0].wire_bytes, 260u);
  expect_same_at_every_split(wire, server_side());
}

TEST(WebSocketDecoder, Rfc6455Binary64KiBWith64BitLength) {
  std::string payload = random_text(65536, 7);
  const std::string wire =
      bytes({0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}) + payload;
  Decoded decoded = decode(wire, server_side());
  ASSERT_EQ(decoded.messages.size(), 1u);
  EXPECT_EQ(decoded.messages[0].opcode, kBinary);
  EXPECT_EQ(decoded.messages[0].payload, payload);
  EXPECT_EQ(decoded.messages[0].size, 65536u);
  EXPECT_EQ(decoded.messages[0].wire_bytes, 65546u);
  expect_same_at_every_split(wire, server_side());
}

// ---- framing ------------------------------------------------------------------------------

TEST(WebSocketDecoder, NonMinimalLengthsAreAccepted) {
  for (int length_bytes : {2, 8}) {
    for (bool masked : {false, true}) {
      FrameSpec spec{kText, "Hello", true, false, false, false, std::nullopt, length_bytes};
      if (masked) spec.mask = MaskKey{1, 2, 3, 4};
      const std::string wire = build_frame(spec);
      Options options = masked ? client_side() : server_side();
      Decoded decoded = decode(wire, options);
      ASSERT_EQ(decoded.status, Status::Ok) << decoded.reason;
      ASSERT_EQ(decoded.messages.size(), 1u);
      EXPECT_EQ(decoded.messages[0].payload, "Hello");
      EXPECT_EQ(decoded.messages[0].wire_bytes, 2u + length_bytes + (masked ? 4 : 0) + 5);
      expect_same_at_every_split(wire, options);
    }
  }
}

TEST(WebSocketDecoder, EmptyMessagesAndEmptyFragments) {
  const std::string wire = client_frame(kText, "") + client_frame(kBinary, "", false) +
                           client_frame(kContinuation, "") + client_frame(kText, "ab", false) +
                           client_frame(kContinuation, "", true);
  Decoded decoded = decode(wire, client_side());
  ASSERT_EQ(decoded.messages.size(), 3u);
  EXPECT_EQ(decoded.messages[0].payload, "");
  EXPECT_EQ(decoded.messages[0].opcode, kText);
  EXPECT_EQ(decoded.messages[0].wire_bytes, 6u);
  EXPECT_EQ(decoded.messages[1].opcode, kBinary);
  EXPECT_EQ(decoded.messages[1].frames, 2u);
  EXPECT_EQ(decoded.messages[1].size, 0u);
  EXPECT_EQ(decoded.messages[2].payload, "ab");
  EXPECT_EQ(decoded.messages[2].frames, 2u);
  expect_same_at_every_split(wire, client_side());
}

TEST(WebSocketDecoder, ControlFramesBetweenFragments) {
  const std::string hel = client_frame(kText, "Hel", false);
  const std::string l = client_frame(kContinuation, "l", false, false, {9, 8, 7, 6});
  const std::string o = client_frame(kContinuation, "o", true, false, {0xff, 0, 0xff, 0});
  const std::string wire = hel + client_frame(kPing, "are you there") + l +
                           client_frame(kPong, "") + client_frame(kPing, "") + o;
  Decoded decoded = decode(wire, client_side());
  ASSERT_EQ(decoded.status, Status::Ok) << decoded.reason;
  ASSERT_EQ(decoded.messages.size(), 1u);
  EXPECT_EQ(decoded.messages[0].payload, "Hello");
  EXPECT_EQ(decoded.messages[0].frames, 3u);
  EXPECT_EQ(decoded.messages[0].wire_bytes, hel.size() + l.size() + o.size());
  expect_same_at_every_split(wire, client_side());
}

// Each frame has its own key and the key position restarts with it, whatever the feeds.
TEST(WebSocketDecoder, MaskRestartsEachFrameAndCarriesAcrossFeeds) {
  const std::string wire = client_frame(kBinary, "abcde", false, false, {1, 2, 3, 4}) +
                           client_frame(kContinuation, "fghijkl", false, false, {5, 6, 7, 8}) +
                           client_frame(kContinuation, "mno", true, false, {9, 10, 11, 12});
  Decoded decoded = decode(wire, client_side());
  ASSERT_EQ(decoded.messages.size(), 1u);
  EXPECT_EQ(decoded.messages[0].payload, "abcdefghijklmno");
  expect_same_at_every_split(wire, client_side());
}

TEST(WebSocketDecoder, LargeMaskedFrameAtRandomSplits) {
  const std::string payload = random_text(100003, 11);
  const std::string wire = client_frame(kText, payload, true, false, {0xde, 0xad, 0xbe, 0xef});
  std::mt19937 generator(12);
  for (int round = 0; round < 20; ++round) {
    std::vector<size_t> cuts;
    for (size_t at = generator() % 50; at < wire.size(); at += 1 + generator() % 9000) {
      cuts.push_back(at);
    }
    Decoded decoded = decode_with_cuts(wire, client_side(), cuts);
    ASSERT_EQ(decoded.messages.size(), 1u);
    ASSERT_EQ(decoded.messages[0].payload, payload) << "round " << round;
  }
  expect_same_at_every_split(wire, client_side());
}

TEST(WebSocketDecoder, SeveralMessagesInOneFeedComeInOrder) {
  const std::string wire = server_frame(kText, "{\"id\":1}") + server_frame(kBinary, "\x01\x02") +
                           server_frame(kText, "{\"id\":2}");
  Decoded decoded = decode(wire, server_side());
  ASSERT_EQ(decoded.messages.size(), 3u);
  EXPECT_EQ(decoded.messages[0].payload, "{\"id\":1}");
  EXPECT_EQ(decoded.messages[1].opcode, kBinary);
  EXPECT_EQ(decoded.messages[2].payload, "{\"id\":2}");
}

TEST(WebSocketDecoder, InvalidUtf8TextIsCapturedAsItCame) {
  const std::string text = bytes({0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80});
  const std::string wire =
      server_frame(kText, text.substr(0, 3), false) + server_frame(kContinuation, text.substr(3));
  Decoded decoded = decode(wire, server_side());
  ASSERT_EQ(decoded.status, Status::Ok);
  ASSERT_EQ(decoded.messages.size(), 1u);
  EXPECT_EQ(decoded.messages[0].opcode, kText);
  EXPECT_EQ(decoded.messages[0].payload, text);
}

TEST(WebSocketDecoder, CloseFrameEndsDecoding) {
  const std::string close = client_frame(kClose, bytes({0x03, 0xe8}) + "bye");
  const std::string wire = client_frame(kText, "first") + client_frame(kText, "cut", false) +
                           close + client_frame(kText, "after close");
  Decoded decoded = decode(wire, client_side());
  EXPECT_EQ(decoded.status, Status::Closed);
  ASSERT_EQ(decoded.messages.size(), 1u);  // the unfinished "cut" is dropped
  EXPECT_EQ(decoded.messages[0].payload, "first");
  expect_same_at_every_split(wire, client_side());

  // Until the close frame is complete, the stream is still open.
  WebSocketDecoder decoder(client_side());
  auto ignore = [](WebSocketMessage&&) {};
  EXPECT_EQ(decoder.feed(close.substr(0, close.size() - 1), ignore), Status::Ok);
  EXPECT_EQ(decoder.feed(close.substr(close.size() - 1), ignore), Status::Closed);
  EXPECT_EQ(decoder.failure().message, "");  // closed is not failed
  bool called = false;
  EXPECT_EQ(decoder.feed(client_frame(kText, "x"), [&](WebSocketMessage&&) { called = true; }),
            Status::Closed);
  EXPECT_FALSE(called);
}

TEST(WebSocketDecoder, EmptyCloseFrameFromServer) {
  Decoded decoded = decode(server_frame(kClose, "") + server_frame(kText, "late"), server_side());
  EXPECT_EQ(decoded.status, Status::Closed);
  EXPECT_TRUE(decoded.messages.empty());
}

// ---- protocol violations ------------------------------------------------------------------

struct Violation {
  std::string name;
  Options options;
  std::string frame;  // the offending frame
  std::string reason;
};

std::vector<Violation> violations() {
  const DeflateParams deflate;
  std::vector<Violation> cases = {
      {"unmasked client frame", client_side(), server_frame(kText, "hi"), "unmasked client frame"},
      {"masked server frame", server_side(), client_frame(kText, "hi"), "masked server frame"},
      {"long ping", server_side(), server_frame(kPing, std::string(126, 'p')),
       "control frame too long"},
      {"long close", client_side(), client_frame(kClose, std::string(200, 'c')),
       "control frame too long"},
      {"ping with 16-bit length", server_side(),
       build_frame({kPing, "x", true, false, false, false, std::nullopt, 2}),
       "control frame too long"},
      {"fragmented ping", server_side(), server_frame(kPing, "p", false),
       "fragmented control frame"},
      {"fragmented close", client_side(), client_frame(kClose, "", false),
       "fragmented control frame"},
      {"lone continuation", server_side(), server_frame(kContinuation, "x"),
       "continuation frame without a message"},
      {"RSV1 without deflate", server_side(), server_frame(kText, "x", true, true),
       "RSV1 set without permessage-deflate"},
      {"RSV1 on a control frame", server_side(deflate), server_frame(kPing, "", true, true),
       "RSV1 set on a control frame"},
      {"RSV2", server_side(), build_frame({kText, "x", true, false, true, false, std::nullopt, -1}),
       "reserved bit RSV2 or RSV3 set"},
      {"RSV3", client_side(deflate),
       build_frame({kText, "x", true, false, false, true, kRfcMask, -1}),
       "reserved bit RSV2 or RSV3 set"},
      {"64-bit length with the high bit set", server_side(),
       bytes({0x82, 0x7f, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05}) + "hello",
       "64-bit payload length with the high bit set"},
      {"corrupt deflate data", server_side(deflate),
       server_frame(kText, bytes({0x06, 0x12, 0x34}), true, true), "inflate: invalid block type"},
  };
  for (int opcode : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    cases.push_back({"opcode " + std::to_string(opcode), server_side(),
                     server_frame(static_cast<uint8_t>(opcode), "x"),
                     "reserved opcode " + std::to_string(opcode)});
  }
  return cases;
}

std::string valid_frame(const Options& options, std::string_view text) {
  return options.from_client ? client_frame(kText, text) : server_frame(kText, text);
}

TEST(WebSocketDecoder, EveryViolationFailsWithItsReasonAndLaterBytesAreIgnored) {
  for (const Violation& violation : violations()) {
    SCOPED_TRACE(violation.name);
    const std::string wire = valid_frame(violation.options, "before") + violation.frame +
                             valid_frame(violation.options, "after");
    Decoded decoded = decode(wire, violation.options);
    EXPECT_EQ(decoded.status, Status::Failed);
    EXPECT_EQ(decoded.reason, violation.reason);
    ASSERT_EQ(decoded.messages.size(), 1u);
    EXPECT_EQ(decoded.messages[0].payload, "before");
    expect_same_at_every_split(wire, violation.options);

    WebSocketDecoder decoder(violation.options);
    size_t delivered = 0;
    auto count = [&](WebSocketMessage&&) { ++delivered; };
    EXPECT_EQ(decoder.feed(wire, count), Status::Failed);
    EXPECT_EQ(decoder.feed(valid_frame(violation.options, "more"), count), Status::Failed);
    EXPECT_EQ(delivered, 1u);
    EXPECT_EQ(decoder.failure().message, violation.reason);
    EXPECT_LT(decoder.buffered_bytes(), 64u);  // no more than an empty string's own
  }
}

// Violations that need a message in progress to show.
TEST(WebSocketDecoder, ViolationsInsideAFragmentedMessage) {
  const DeflateParams deflate;
  struct Case {
    std::string frame;
    std::string reason;
  };
  const Case cases[] = {
      {server_frame(kText, "new"), "new data frame while a fragmented message is in progress"},
      {server_frame(kBinary, "new", false),
       "new data frame while a fragmented message is in progress"},
      {server_frame(kContinuation, "x", true, true), "RSV1 set on a continuation frame"},
  };
  for (const Case& violation : cases) {
    SCOPED_TRACE(violation.reason);
    const std::string wire =
        server_frame(kText, "part", false) + violation.frame + server_frame(kContinuation, "rest");
    Decoded decoded = decode(wire, server_side(deflate));
    EXPECT_EQ(decoded.status, Status::Failed);
    EXPECT_EQ(decoded.reason, violation.reason);
    EXPECT_TRUE(decoded.messages.empty());
    expect_same_at_every_split(wire, server_side(deflate));
  }
}

// ---- permessage-deflate -------------------------------------------------------------------

const std::string kHelloDeflated = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});

TEST(WebSocketDecoder, Rfc7692HelloInOneCompressedFrame) {
  const std::string wire = bytes({0xc1, 0x07}) + kHelloDeflated;
  Decoded decoded = decode(wire, server_side(DeflateParams{}));
  ASSERT_EQ(decoded.status, Status::Ok) << decoded.reason;
  ASSERT_EQ(decoded.messages.size(), 1u);
  const WebSocketMessage& hello = decoded.messages[0];
  EXPECT_EQ(hello.payload, "Hello");
  EXPECT_TRUE(hello.compressed);
  EXPECT_EQ(hello.size, 5u);
  EXPECT_EQ(hello.wire_bytes, 9u);
  expect_same_at_every_split(wire, server_side(DeflateParams{}));
}

TEST(WebSocketDecoder, Rfc7692HelloCompressedAndFragmented) {
  const std::string wire =
      bytes({0x41, 0x03, 0xf2, 0x48, 0xcd}) + bytes({0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00});
  Decoded decoded = decode(wire, server_side(DeflateParams{}));
  ASSERT_EQ(decoded.messages.size(), 1u);
  EXPECT_EQ(decoded.messages[0].payload, "Hello");
  EXPECT_EQ(decoded.messages[0].frames, 2u);
  EXPECT_EQ(decoded.messages[0].wire_bytes, 11u);
  EXPECT_TRUE(decoded.messages[0].compressed);
  expect_same_at_every_split(wire, server_side(DeflateParams{}));
}

TEST(WebSocketDecoder, Rfc7692SharedSlidingWindow) {
  const std::string wire =
      bytes({0xc1, 0x07}) + kHelloDeflated + bytes({0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00});
  Decoded decoded = decode(wire, server_side(DeflateParams{}));
  ASSERT_EQ(decoded.messages.size(), 2u) << decoded.reason;
  EXPECT_EQ(decoded.messages[0].payload, "Hello");
  EXPECT_EQ(decoded.messages[1].payload, "Hello");
  expect_same_at_every_split(wire, server_side(DeflateParams{}));

  // With server_no_context_takeover agreed, the second message cannot refer to the first.
  Decoded forgetting = decode(wire, server_side(deflate_params(15, 15, true, false)));
  EXPECT_EQ(forgetting.status, Status::Failed);
  EXPECT_EQ(forgetting.reason, "inflate: invalid distance too far back");
}

TEST(WebSocketDecoder, Rfc7692BlockWithNoCompression) {
  const std::string wire =
      bytes({0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00});
  Decoded decoded = decode(wire, server_side(DeflateParams{}));
  ASSERT_EQ(decoded.messages.size(), 1u) << decoded.reason;
  EXPECT_EQ(decoded.messages[0].payload, "Hello");
  expect_same_at_every_split(wire, server_side(DeflateParams{}));
}

TEST(WebSocketDecoder, Rfc7692BlockWithBfinalSet) {
  const std::string wire = bytes({0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}) +
                           bytes({0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00});
  Decoded decoded = decode(wire, server_side(DeflateParams{}));
  ASSERT_EQ(decoded.messages.size(), 2u) << decoded.reason;
  EXPECT_EQ(decoded.messages[0].payload, "Hello");
  EXPECT_EQ(decoded.messages[1].payload, "Hello");
  expect_same_at_every_split(wire, server_side(DeflateParams{}));
}

TEST(WebSocketDecoder, MaskedCompressedClientMessages) {
  const std::string wire = client_frame(kText, kHelloDeflated, true, true) +
                           client_frame(kText, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), true, true,
                                        {0x00, 0x11, 0x22, 0x33}) +
                           client_frame(kText, bytes({0x00}), true, true);
  Decoded decoded = decode(wire, client_side(DeflateParams{}));
  ASSERT_EQ(decoded.messages.size(), 3u) << decoded.reason;
  EXPECT_EQ(decoded.messages[0].payload, "Hello");
  EXPECT_EQ(decoded.messages[1].payload, "Hello");
  EXPECT_EQ(decoded.messages[2].payload, "");  // RFC 7692 7.2.3.6: an empty message is 0x00
  EXPECT_TRUE(decoded.messages[2].compressed);
  expect_same_at_every_split(wire, client_side(DeflateParams{}));
}

// A sender may leave a message uncompressed; that message does not touch the window.
TEST(WebSocketDecoder, CompressedAndPlainMessagesMix) {
  const std::string wire = server_frame(kText, kHelloDeflated, true, true) +
                           server_frame(kText, "plain") +
                           server_frame(kText, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), true, true);
  Decoded decoded = decode(wire, server_side(DeflateParams{}));
  ASSERT_EQ(decoded.messages.size(), 3u) << decoded.reason;
  EXPECT_EQ(decoded.messages[1].payload, "plain");
  EXPECT_FALSE(decoded.messages[1].compressed);
  EXPECT_EQ(decoded.messages[2].payload, "Hello");
  EXPECT_TRUE(decoded.messages[2].compressed);
}

TEST(WebSocketDecoder, ContextTakeoverAcrossSeveralMessages) {
  const std::string base = random_text(3000, 21);
  const std::vector<std::string> texts = {base, "{" + base + "}", base.substr(5), base + base};
  Deflater deflater(15);
  std::string wire;
  for (const std::string& text : texts) {
    std::string body = deflater.compress_message(text);
    if (&text != &texts.front()) {
      EXPECT_LT(body.size(), 60u);  // later messages lean on the earlier ones' window
    }
    wire += client_frame(kText, body, true, true);
  }
  Decoded decoded = decode(wire, client_side(DeflateParams{}));
  ASSERT_EQ(decoded.messages.size(), texts.size()) << decoded.reason;
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(decoded.messages[i].payload, texts[i]);
  expect_same_at_every_split(wire, client_side(DeflateParams{}));
}

// Each direction inflates with its own side's parameters: client frames with client_*.
TEST(WebSocketDecoder, EachDirectionUsesItsOwnSideParameters) {
  const std::string base = random_text(2000, 22);
  Deflater deflater(15);
  const std::string first = deflater.compress_message(base);
  const std::string second = deflater.compress_message(base);
  const std::string from_server =
      server_frame(kText, first, true, true) + server_frame(kText, second, true, true);
  const std::string from_client =
      client_frame(kText, first, true, true) + client_frame(kText, second, true, true);

  // Only the client agreed to drop its context: a client stream leaning on it fails.
  const DeflateParams client_forgets = deflate_params(15, 15, false, true);
  EXPECT_EQ(decode(from_server, server_side(client_forgets)).messages.size(), 2u);
  Decoded client_decoded = decode(from_client, client_side(client_forgets));
  EXPECT_EQ(client_decoded.status, Status::Failed);
  EXPECT_EQ(client_decoded.messages.size(), 1u);

  const DeflateParams server_forgets = deflate_params(15, 15, true, false);
  EXPECT_EQ(decode(from_client, client_side(server_forgets)).messages.size(), 2u);
  EXPECT_EQ(decode(from_server, server_side(server_forgets)).status, Status::Failed);

  // Window sizes: 2000 bytes back does not fit a 2^10 window.
  const DeflateParams small_client_window = deflate_params(15, 10);
  EXPECT_EQ(decode(from_server, server_side(small_client_window)).messages.size(), 2u);
  EXPECT_EQ(decode(from_client, client_side(small_client_window)).status, Status::Failed);
  const DeflateParams small_server_window = deflate_params(10, 15);
  EXPECT_EQ(decode(from_client, client_side(small_server_window)).messages.size(), 2u);
  EXPECT_EQ(decode(from_server, server_side(small_server_window)).status, Status::Failed);
}

TEST(WebSocketDecoder, NoContextTakeoverMessages) {
  const std::string text = random_text(1500, 23);
  Deflater deflater(15, true);
  std::string wire;
  for (int i = 0; i < 4; ++i)
    wire += server_frame(kText, deflater.compress_message(text), true, true);
  const Options options = server_side(deflate_params(15, 15, true, false));
  Decoded decoded = decode(wire, options);
  ASSERT_EQ(decoded.messages.size(), 4u) << decoded.reason;
  for (const WebSocketMessage& message : decoded.messages) EXPECT_EQ(message.payload, text);
  expect_same_at_every_split(wire, options);
}

TEST(WebSocketDecoder, MaxWindowBitsNineToFifteen) {
  for (int bits = 9; bits <= 15; ++bits) {
    SCOPED_TRACE(bits);
    // Repeating a message just under the window size reaches nearly the whole window back.
    const std::string text = random_text((size_t{1} << bits) - 300, static_cast<uint32_t>(bits));
    Deflater deflater(bits);
    std::string wire;
    for (int i = 0; i < 3; ++i) {
      wire += client_frame(kBinary, deflater.compress_message(text), true, true);
    }
    const Options options = client_side(deflate_params(15, bits));
    Decoded decoded = decode(wire, options);
    ASSERT_EQ(decoded.messages.size(), 3u) << decoded.reason;
    for (const WebSocketMessage& message : decoded.messages) {
      EXPECT_EQ(message.payload, text);
      EXPECT_EQ(message.opcode, kBinary);
    }
    decoded = decode_in_chunks(wire, options, 1);
    ASSERT_EQ(decoded.messages.size(), 3u) << decoded.reason;
    EXPECT_EQ(decoded.messages[2].payload, text);
  }
}

TEST(WebSocketDecoder, CompressedMessageFragmentedAcrossFrames) {
  const std::string text = random_text(20000, 24) + std::string(30000, '{');
  Deflater deflater(15);
  const std::string body = deflater.compress_message(text);
  const size_t third = body.size() / 3;
  const std::string wire = client_frame(kText, body.substr(0, third), false, true) +
                           client_frame(kPing, "") +
                           client_frame(kContinuation, body.substr(third, third), false) +
                           client_frame(kContinuation, body.substr(2 * third), true);
  Decoded decoded = decode(wire, client_side(DeflateParams{}));
  ASSERT_EQ(decoded.messages.size(), 1u) << decoded.reason;
  EXPECT_EQ(decoded.messages[0].payload, text);
  EXPECT_EQ(decoded.messages[0].frames, 3u);
  EXPECT_EQ(decoded.messages[0].size, text.size());
  EXPECT_TRUE(decoded.messages[0].compressed);
  expect_same_at_every_split(wire, client_side(DeflateParams{}));
}

// ---- the capture cap ----------------------------------------------------------------------

TEST(WebSocketDecoder, MessageAtTheCapIsWhole) {
  const std::string text = random_text(1024, 31);
  Decoded decoded = decode(client_frame(kText, text), client_side(std::nullopt, 1024));
  ASSERT_EQ(decoded.messages.size(), 1u);
  EXPECT_FALSE(decoded.messages[0].truncated);
  EXPECT_EQ(decoded.messages[0].payload, text);
  EXPECT_EQ(decoded.messages[0].sha256_hex, "");
}

TEST(WebSocketDecoder, MessageOverTheCapIsCutAndHashed) {
  const std::string text = random_text(10000, 32);
  const std::string wire = client_frame(kText, text.substr(0, 1000), false) +
                           client_frame(kContinuation, text.substr(1000, 5000), false) +
                           client_frame(kContinuation, text.substr(6000), true) +
                           client_frame(kText, "next one");
  for (uint64_t cap : {0u, 1u, 999u, 1000u, 1025u, 9999u}) {
    SCOPED_TRACE(cap);
    const Options options = client_side(std::nullopt, cap);
    Decoded decoded = decode(wire, options);
    ASSERT_EQ(decoded.messages.size(), 2u);
    const WebSocketMessage& big = decoded.messages[0];
    EXPECT_TRUE(big.truncated);
    EXPECT_EQ(big.size, text.size());
    EXPECT_EQ(big.payload, text.substr(0, cap));
    EXPECT_LE(big.payload.capacity(), std::max<uint64_t>(cap, 30));
    EXPECT_EQ(big.sha256_hex, sha256_of(text));
    EXPECT_EQ(big.frames, 3u);
    // The next message starts afresh.
    const WebSocketMessage& next = decoded.messages[1];
    EXPECT_EQ(next.truncated, cap < 8);
    EXPECT_EQ(next.payload, std::string("next one").substr(0, cap));
    EXPECT_EQ(next.sha256_hex, cap < 8 ? sha256_of("next one") : "");
  }
  expect_same_at_every_split(wire, client_side(std::nullopt, 999));
}

TEST(WebSocketDecoder, InflatedMessageOverTheCapIsCutAndHashed) {
  const std::string text = random_text(100000, 33) + std::string(100000, 'x');
  Deflater deflater(15);
  const std::string wire = server_frame(kText, deflater.compress_message(text), true, true) +
                           server_frame(kText, deflater.compress_message("small"), true, true);
  const Options options = server_side(DeflateParams{}, 4096);
  Decoded decoded = decode(wire, options);
  ASSERT_EQ(decoded.messages.size(), 2u) << decoded.reason;
  EXPECT_TRUE(decoded.messages[0].truncated);
  EXPECT_EQ(decoded.messages[0].size, text.size());
  EXPECT_EQ(decoded.messages[0].payload, text.substr(0, 4096));
  EXPECT_EQ(decoded.messages[0].sha256_hex, sha256_of(text));
  EXPECT_EQ(decoded.messages[1].payload, "small");
  EXPECT_FALSE(decoded.messages[1].truncated);
  expect_same_at_every_split(wire, options);
}

// Large message content made chunk by chunk, so the test holds no large buffer: JSON-RPC
// lines (compressible like real traffic) with the chunk's number stamped at its start.
class ChunkSource {
 public:
  explicit ChunkSource(size_t chunk_size) {
    for (int line = 0; pattern_.size() < chunk_size; ++line) {
      pattern_ += "{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(line) +
                  ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"" +
                  random_text(line % 50, static_cast<uint32_t>(line)) + "\"}]}}\n";
    }
    pattern_.resize(chunk_size);
  }
  const std::string& chunk(uint64_t number) {
    std::string stamp = std::to_string(number) + "#";
    std::copy(stamp.begin(), stamp.end(), pattern_.begin());
    return pattern_;
  }

 private:
  std::string pattern_;
};

TEST(WebSocketDecoder, HugeMaskedMessageKeepsMemoryUnderTheCap) {
  constexpr uint64_t kMessageBytes = 64ull << 20;
  constexpr uint64_t kCap = 1 << 20;
  constexpr size_t kChunk = (64 << 10) + 13;  // odd, so the key position moves between feeds
  const MaskKey key = {0xa1, 0xb2, 0xc3, 0xd4};
  WebSocketDecoder decoder(client_side(std::nullopt, kCap));
  std::vector<WebSocketMessage> messages;
  auto collect = [&](WebSocketMessage&& message) { messages.push_back(std::move(message)); };

  FrameSpec spec{kBinary, "", true, false, false, false, key, -1};
  ASSERT_EQ(decoder.feed(frame_header(spec, kMessageBytes), collect), Status::Ok);
  ChunkSource source(kChunk);
  base::Sha256 expected;
  std::string expected_prefix, masked;
  for (uint64_t offset = 0, number = 0; offset < kMessageBytes; offset += kChunk, ++number) {
    size_t size = static_cast<size_t>(std::min<uint64_t>(kChunk, kMessageBytes - offset));
    std::string_view chunk = std::string_view(source.chunk(number)).substr(0, size);
    expected.update(chunk);
    if (expected_prefix.size() < kCap) {
      expected_prefix.append(chunk.substr(0, kCap - expected_prefix.size()));
    }
    masked.assign(chunk);
    for (size_t i = 0; i < size; ++i) masked[i] ^= static_cast<char>(key[(offset + i) % 4]);
    ASSERT_EQ(decoder.feed(masked, collect), Status::Ok);
    ASSERT_LE(decoder.buffered_bytes(), kCap);
  }
  ASSERT_EQ(messages.size(), 1u);
  const WebSocketMessage& message = messages[0];
  EXPECT_EQ(message.size, kMessageBytes);
  EXPECT_TRUE(message.truncated);
  EXPECT_EQ(message.payload.size(), kCap);
  EXPECT_LE(message.payload.capacity(), kCap);
  EXPECT_EQ(message.payload, expected_prefix);
  EXPECT_EQ(message.sha256_hex, expected.finish_hex());
  EXPECT_EQ(message.wire_bytes, kMessageBytes + 14);
  EXPECT_LT(decoder.buffered_bytes(), 64u);  // no more than an empty string's own
}

// 200 MB inflated from a stream of compressed frames: memory stays at the cap.
TEST(WebSocketDecoder, HugeCompressedMessageKeepsMemoryUnderTheCap) {
  constexpr uint64_t kMessageBytes = 200'000'000;
  constexpr uint64_t kCap = 1 << 20;
  constexpr size_t kChunk = 1 << 20;
  WebSocketDecoder decoder(server_side(DeflateParams{}, kCap));
  std::vector<WebSocketMessage> messages;
  auto collect = [&](WebSocketMessage&& message) { messages.push_back(std::move(message)); };

  ChunkSource source(kChunk);
  Deflater deflater(15, false, 1);
  base::Sha256 expected;
  std::string expected_prefix;
  uint64_t wire_bytes = 0;
  uint32_t frames = 0;
  for (uint64_t offset = 0; offset < kMessageBytes; offset += kChunk) {
    size_t size = static_cast<size_t>(std::min<uint64_t>(kChunk, kMessageBytes - offset));
    std::string_view chunk = std::string_view(source.chunk(frames)).substr(0, size);
    expected.update(chunk);
    if (frames == 0) expected_prefix = chunk.substr(0, kCap);
    const bool last = offset + size == kMessageBytes;
    std::string body = deflater.compress(chunk, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
    if (last) body.resize(body.size() - 4);
    std::string frame = server_frame(frames == 0 ? kText : kContinuation, body, last, frames == 0);
    wire_bytes += frame.size();
    ++frames;
    ASSERT_EQ(decoder.feed(frame, collect), Status::Ok) << decoder.failure().message;
    ASSERT_LE(decoder.buffered_bytes(), kCap);
  }
  ASSERT_EQ(messages.size(), 1u);
  const WebSocketMessage& message = messages[0];
  EXPECT_EQ(message.size, kMessageBytes);
  EXPECT_TRUE(message.truncated);
  EXPECT_TRUE(message.compressed);
  EXPECT_EQ(message.payload, expected_prefix);
  EXPECT_LE(message.payload.capacity(), kCap);
  EXPECT_EQ(message.sha256_hex, expected.finish_hex());
  EXPECT_EQ(message.frames, frames);
  EXPECT_EQ(message.wire_bytes, wire_bytes);
}

// ---- fixtures from python-websockets (tests/capture/fixtures/websocket/generate.py) -------

struct ExpectedMessage {
  bool from_client = false;
  uint8_t opcode = kText;
  uint64_t size = 0;
  uint32_t frames = 0;
  bool compressed = false;
  uint64_t wire_bytes = 0;
  std::string sha256;
};

struct Fixture {
  std::string extensions;
  std::vector<ExpectedMessage> messages;
  std::string client_wire;
  std::string server_wire;
};

std::string fixture_path(const std::string& file) {
  return std::string(MCPTAP_TEST_DATA_DIR) + "/fixtures/websocket/" + file;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

Fixture load_fixture(const std::string& name) {
  Fixture fixture;
  fixture.client_wire = read_file(fixture_path(name + ".client.bin"));
  fixture.server_wire = read_file(fixture_path(name + ".server.bin"));
  std::istringstream lines(read_file(fixture_path(name + ".expected")));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string kind, side, opcode;
    fields >> kind;
    if (kind == "extensions") {
      std::getline(fields >> std::ws, fixture.extensions);
    } else if (kind == "message") {
      ExpectedMessage message;
      int compressed = 0;
      fields >> side >> opcode >> message.size >> message.frames >> compressed >>
          message.wire_bytes >> message.sha256;
      message.from_client = side == "client";
      message.opcode = opcode == "binary" ? kBinary : kText;
      message.compressed = compressed != 0;
      fixture.messages.push_back(message);
    }
  }
  return fixture;
}

std::vector<ExpectedMessage> expected_from(const Fixture& fixture, bool from_client) {
  std::vector<ExpectedMessage> selected;
  for (const ExpectedMessage& message : fixture.messages) {
    if (message.from_client == from_client) selected.push_back(message);
  }
  return selected;
}

void expect_messages(const Decoded& decoded, const std::vector<ExpectedMessage>& expected,
                     uint64_t cap) {
  EXPECT_EQ(decoded.status, Status::Closed) << decoded.reason;
  ASSERT_EQ(decoded.messages.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("message " + std::to_string(i));
    const WebSocketMessage& got = decoded.messages[i];
    EXPECT_EQ(got.opcode, expected[i].opcode);
    EXPECT_EQ(got.size, expected[i].size);
    EXPECT_EQ(got.frames, expected[i].frames);
    EXPECT_EQ(got.compressed, expected[i].compressed);
    EXPECT_EQ(got.wire_bytes, expected[i].wire_bytes);
    const bool over_cap = expected[i].size > cap;
    EXPECT_EQ(got.truncated, over_cap);
    EXPECT_EQ(got.payload.size(), std::min(cap, expected[i].size));
    EXPECT_EQ(over_cap ? got.sha256_hex : sha256_of(got.payload), expected[i].sha256);
  }
}

class PythonWebsocketsFixture : public testing::TestWithParam<const char*> {};

TEST_P(PythonWebsocketsFixture, DecodesWhatThePeerDecoded) {
  const Fixture fixture = load_fixture(GetParam());
  ASSERT_FALSE(fixture.client_wire.empty());
  ASSERT_FALSE(fixture.server_wire.empty());
  ASSERT_GE(fixture.messages.size(), 10u);
  auto agreed = parse_permessage_deflate(fixture.extensions);
  ASSERT_TRUE(agreed) << agreed.error().message;
  const std::optional<DeflateParams> deflate = *agreed;
  EXPECT_EQ(deflate.has_value(), !fixture.extensions.empty());
  for (bool from_client : {true, false}) {
    SCOPED_TRACE(from_client ? "client to server" : "server to client");
    const std::string& wire = from_client ? fixture.client_wire : fixture.server_wire;
    const std::vector<ExpectedMessage> expected = expected_from(fixture, from_client);
    const Options options{from_client, deflate, 16u << 20};
    for (size_t chunk : {wire.size(), size_t{1}, size_t{3}, size_t{1000}, size_t{65543}}) {
      SCOPED_TRACE("chunk " + std::to_string(chunk));
      expect_messages(decode_in_chunks(wire, options, chunk), expected, 16u << 20);
    }
    for (uint64_t cap : {0u, 50u, 100u, 5000u}) {
      SCOPED_TRACE("cap " + std::to_string(cap));
      expect_messages(decode(wire, Options{from_client, deflate, cap}), expected, cap);
    }
    // Every boundary is covered by the synthetic tests; here the ends and a stride.
    expect_same_at_every_split(wire, options, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(WebSocketDecoder, PythonWebsocketsFixture,
                         testing::Values("plain", "deflate", "deflate_windows",
                                         "deflate_no_context_takeover"));

TEST(PythonWebsocketsFixture, AgreedParametersAreRead) {
  auto parsed = parse_permessage_deflate(load_fixture("deflate_windows").extensions);
  ASSERT_TRUE(parsed) << parsed.error().message;
  const std::optional<DeflateParams>& windows = *parsed;
  ASSERT_TRUE(windows);
  EXPECT_EQ(windows->server_max_window_bits, 12);
  EXPECT_EQ(windows->client_max_window_bits, 11);
  EXPECT_FALSE(windows->server_no_context_takeover);
  auto parsed_fresh =
      parse_permessage_deflate(load_fixture("deflate_no_context_takeover").extensions);
  ASSERT_TRUE(parsed_fresh) << parsed_fresh.error().message;
  const std::optional<DeflateParams>& fresh = *parsed_fresh;
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(fresh->server_no_context_takeover);
  EXPECT_TRUE(fresh->client_no_context_takeover);
  EXPECT_EQ(fresh->server_max_window_bits, 10);
  EXPECT_EQ(fresh->client_max_window_bits, 9);
}

}  // namespace
}  // namespace mcptap::capture

namespace mcptap::capture {
namespace {

// A deflate bomb: 64 MiB of zeros from about 64 KiB on the wire. Past the capture cap the
// decoder must give up at the ratio guard instead of inflating (and hashing) all of it.
TEST(WebSocketDecoderBomb, StopsFollowingAMessageThatInflatesPastTheRatio) {
  const std::string compressed =
      Deflater(15, false, 9, 9).compress_message(std::string(64u << 20, '\0'));

  std::string frame(1, static_cast<char>(0xC1));  // FIN, RSV1, text; server frames are unmasked
  frame.push_back(127);
  for (int shift = 56; shift >= 0; shift -= 8) {
    frame.push_back(static_cast<char>(compressed.size() >> shift));
  }
  frame += compressed;

  WebSocketDecoder decoder({false, DeflateParams{}, 1u << 20});
  int messages = 0;
  auto status = decoder.feed(frame, [&](WebSocketMessage&&) { ++messages; });
  EXPECT_EQ(status, WebSocketDecoder::Status::Failed);
  EXPECT_EQ(messages, 0);
  EXPECT_EQ(decoder.failure().message.rfind("decompression bomb", 0), 0u)
      << decoder.failure().message;
}

// ---- following messages without capturing them (capture switched off) -------------------

// Feeds each piece with its own capture flag; collects what is delivered.
Decoded decode_switching(const std::vector<std::pair<std::string, bool>>& pieces,
                         const Options& options) {
  WebSocketDecoder decoder(options);
  Decoded decoded;
  for (const auto& [wire, capture] : pieces) {
    decoded.status = decoder.feed(
        wire, [&](WebSocketMessage&& message) { decoded.messages.push_back(std::move(message)); },
        capture);
  }
  decoded.reason = decoder.failure().message;
  return decoded;
}

TEST(WebSocketDecoder, MessagesStartedWhileOffAreFollowedNotDelivered) {
  const std::string first = client_frame(kText, "off");
  const std::string second_start = client_frame(kText, "started while ", false);
  const std::string second_end = client_frame(kContinuation, "off, ended while on");
  const std::string third = client_frame(kText, "on");
  Decoded decoded = decode_switching(
      {{first, false}, {second_start, false}, {second_end, true}, {third, true}}, client_side());
  EXPECT_EQ(decoded.status, Status::Ok) << decoded.reason;
  ASSERT_EQ(decoded.messages.size(), 1u);
  EXPECT_EQ(decoded.messages[0].payload, "on");
  EXPECT_EQ(decoded.messages[0].frames, 1u);
}

TEST(WebSocketDecoder, FramingViolationsAreStillFoundWhileOff) {
  Decoded decoded =
      decode_switching({{client_frame(kContinuation, "no start"), false}}, client_side());
  EXPECT_EQ(decoded.status, Status::Failed);
  EXPECT_EQ(decoded.reason, "continuation frame without a message");
}

// With context takeover, later messages refer back to earlier ones: a message skipped
// while off must still go through the inflater so the ones after it decode.
TEST(WebSocketDecoder, SkippedCompressedMessagesKeepTheInflateWindow) {
  const std::string base = random_text(3000, 7);
  Deflater deflater(15);
  std::string skipped = client_frame(kText, deflater.compress_message(base), true, true);
  std::string captured =
      client_frame(kText, deflater.compress_message("{" + base + "}"), true, true);
  Decoded decoded =
      decode_switching({{skipped, false}, {captured, true}}, client_side(DeflateParams{}));
  ASSERT_EQ(decoded.messages.size(), 1u) << decoded.reason;
  EXPECT_EQ(decoded.messages[0].payload, "{" + base + "}");
}

TEST(WebSocketDecoder, SkippedMessagesKeepNoMemory) {
  WebSocketDecoder decoder(client_side(std::nullopt, 1u << 20));
  std::string big = random_text(512 << 10, 3);
  std::string frame = client_frame(kText, big, false);
  int delivered = 0;
  decoder.feed(
      frame, [&](WebSocketMessage&&) { ++delivered; }, false);
  EXPECT_LT(decoder.buffered_bytes(), 64u);  // no more than an empty string's own
  decoder.feed(
      client_frame(kContinuation, "end"), [&](WebSocketMessage&&) { ++delivered; }, false);
  EXPECT_EQ(delivered, 0);
}

}  // namespace
}  // namespace mcptap::capture

// RFC 6455 frame decoding for one direction: a byte-driven state machine that reassembles
// fragmented messages, unmasking and inflating them as they stream through, within a cap.
#include "capture/websocket_decoder.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "base/sha256.h"

namespace mcptap::capture {
namespace {

constexpr uint8_t kOpcodeContinuation = 0x0;
constexpr uint8_t kOpcodeText = 0x1;
constexpr uint8_t kOpcodeBinary = 0x2;
constexpr uint8_t kOpcodeClose = 0x8;
constexpr uint8_t kOpcodePing = 0x9;
constexpr uint8_t kOpcodePong = 0xa;

constexpr uint8_t kFinBit = 0x80;
constexpr uint8_t kRsv1Bit = 0x40;
constexpr uint8_t kRsv2And3Bits = 0x30;
constexpr uint8_t kOpcodeBits = 0x0f;
constexpr uint8_t kMaskBit = 0x80;
constexpr uint8_t kLengthBits = 0x7f;
constexpr uint8_t kLength16 = 126;
constexpr uint8_t kLength64 = 127;

constexpr size_t kLongestHeader = 2 + 8 + 4;
constexpr uint64_t kLongestControlPayload = 125;
constexpr size_t kUnmaskChunkBytes = 8 << 10;
// Inflated bytes per compressed byte past which a message over the cap counts as a bomb.
constexpr uint64_t kMaxInflateRatio = 1000;
// A frame header may announce any length; memory is only reserved up to this much ahead.
constexpr uint64_t kLargestUpfrontReserve = 1 << 20;

bool is_control(uint8_t opcode) {
  return (opcode & 0x8) != 0;
}

bool is_known_opcode(uint8_t opcode) {
  switch (opcode) {
    case kOpcodeContinuation:
    case kOpcodeText:
    case kOpcodeBinary:
    case kOpcodeClose:
    case kOpcodePing:
    case kOpcodePong:
      return true;
    default:
      return false;
  }
}

uint64_t read_big_endian(const uint8_t* bytes, size_t count) {
  uint64_t value = 0;
  for (size_t i = 0; i < count; ++i) value = (value << 8) | bytes[i];
  return value;
}

// XORs n bytes with the masking key, starting at key position offset (RFC 6455 section 5.3).
// Eight bytes at a time: the key pattern repeats every four bytes, so a 64-bit word of it
// lines up with every 8-byte step.
[[gnu::always_inline]] inline void unmask_copy(char* out, const char* in, size_t n,
                                               const std::array<uint8_t, 4>& key, size_t offset) {
  std::array<uint8_t, 8> pattern;
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = key[(offset + i) & 3];
  uint64_t pattern_word;
  std::memcpy(&pattern_word, pattern.data(), sizeof pattern_word);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, in + i, sizeof word);
    word ^= pattern_word;
    std::memcpy(out + i, &word, sizeof word);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(in[i] ^ pattern[i & 7]);
}

// Unmasked bytes only live until deliver() returns, so one buffer per thread serves every
// decoder: an idle connection's two decoders cost no 8 KiB each.
char* unmask_buffer() {
  thread_local std::array<char, kUnmaskChunkBytes> buffer;
  return buffer.data();
}

}  // namespace

struct WebSocketDecoder::State {
  explicit State(Options decoder_options);

  void consume_header(std::string_view& bytes, const MessageCallback& on_message);
  bool check_first_two_bytes();
  bool check_data_frame(uint8_t opcode, bool rsv1);
  void start_frame(const MessageCallback& on_message);
  void consume_payload(std::string_view& bytes, const MessageCallback& on_message);
  void consume_message_bytes(const char* data, size_t size);
  void deliver(const char* data, size_t size);
  void append_message_bytes(std::string_view bytes);
  void append_captured(std::string_view bytes);
  void finish_frame(const MessageCallback& on_message);
  void finish_message(const MessageCallback& on_message);
  void begin_message(uint8_t opcode, bool compressed, uint64_t first_frame_length);
  void stop(Status final_status, base::Error reason);
  bool fail(base::Error reason) {
    stop(Status::Failed, std::move(reason));
    return false;
  }
  bool fail(std::string reason) { return fail(base::fail(std::move(reason))); }

  Options options;
  Status status = Status::Ok;
  base::Error failure;                        // why, once status is Failed
  std::unique_ptr<MessageInflater> inflater;  // only when permessage-deflate was agreed
  MessageInflater::OutputCallback on_inflated;

  // The frame being read.
  std::array<uint8_t, kLongestHeader> header{};
  size_t header_have = 0;
  size_t header_need = 2;
  bool reading_payload = false;
  bool fin = false;
  uint8_t opcode = 0;
  bool masked = false;
  std::array<uint8_t, 4> mask_key{};
  size_t mask_offset = 0;
  uint64_t payload_left = 0;

  // The data message being assembled, possibly across frames with control frames between.
  bool in_message = false;
  bool capture_new_messages = true;  // as passed to the current feed()
  bool skipping = false;             // the message is followed for framing only (capture was off)
  WebSocketMessage message;
  base::Sha256 overflow_hash;     // runs over the whole message once it outgrows the cap
  uint64_t compressed_bytes = 0;  // of the message being assembled, before inflating
};

WebSocketDecoder::State::State(Options decoder_options) : options(std::move(decoder_options)) {
  if (options.deflate) {
    const DeflateParams& params = *options.deflate;
    inflater = std::make_unique<MessageInflater>(
        options.from_client ? params.client_max_window_bits : params.server_max_window_bits,
        options.from_client ? params.client_no_context_takeover
                            : params.server_no_context_takeover);
  }
  on_inflated = [this](std::string_view chunk) { append_message_bytes(chunk); };
}

WebSocketDecoder::WebSocketDecoder(Options options)
    : state_(std::make_unique<State>(std::move(options))) {}

WebSocketDecoder::~WebSocketDecoder() = default;

const base::Error& WebSocketDecoder::failure() const {
  return state_->failure;
}

uint64_t WebSocketDecoder::buffered_bytes() const {
  return state_->in_message ? state_->message.payload.capacity() : 0;
}

WebSocketDecoder::Status WebSocketDecoder::feed(std::string_view bytes,
                                                const MessageCallback& on_message,
                                                bool capture_new_messages) {
  State& state = *state_;
  state.capture_new_messages = capture_new_messages;
  while (!bytes.empty() && state.status == Status::Ok) {
    if (state.reading_payload) {
      state.consume_payload(bytes, on_message);
    } else {
      state.consume_header(bytes, on_message);
    }
  }
  return state.status;
}

void WebSocketDecoder::State::stop(Status final_status, base::Error reason) {
  status = final_status;
  failure = std::move(reason);
  // Nothing more will be decoded: give back the partial message and the inflate window.
  in_message = false;
  message = WebSocketMessage{};
  inflater.reset();
}

void WebSocketDecoder::State::consume_header(std::string_view& bytes,
                                             const MessageCallback& on_message) {
  while (header_have < header_need) {
    if (bytes.empty()) return;
    size_t take = std::min(bytes.size(), header_need - header_have);
    std::memcpy(header.data() + header_have, bytes.data(), take);
    bytes.remove_prefix(take);
    bool first_two_arrived = header_have < 2 && header_have + take >= 2;
    header_have += take;
    // The first two bytes already show most violations and how long the header is.
    if (first_two_arrived && !check_first_two_bytes()) return;
  }
  start_frame(on_message);
}

bool WebSocketDecoder::State::check_first_two_bytes() {
  const uint8_t first = header[0], second = header[1];
  const uint8_t frame_opcode = first & kOpcodeBits;
  const bool rsv1 = (first & kRsv1Bit) != 0;
  const bool mask_bit = (second & kMaskBit) != 0;
  const uint8_t length_field = second & kLengthBits;
  if (first & kRsv2And3Bits) return fail("reserved bit RSV2 or RSV3 set");
  if (!is_known_opcode(frame_opcode)) {
    return fail("reserved opcode " + std::to_string(frame_opcode));
  }
  // Section 5.1: a server closes on an unmasked client frame, a client on a masked one.
  if (options.from_client && !mask_bit) return fail("unmasked client frame");
  if (!options.from_client && mask_bit) return fail("masked server frame");
  if (is_control(frame_opcode)) {
    if (!(first & kFinBit)) return fail("fragmented control frame");
    if (length_field > kLongestControlPayload) {
      return fail("control frame too long");
    }
    if (rsv1) return fail("RSV1 set on a control frame");
  } else if (!check_data_frame(frame_opcode, rsv1)) {
    return false;
  }
  size_t length_bytes = length_field == kLength16 ? 2 : length_field == kLength64 ? 8 : 0;
  header_need = 2 + length_bytes + (mask_bit ? 4 : 0);
  return true;
}

bool WebSocketDecoder::State::check_data_frame(uint8_t frame_opcode, bool rsv1) {
  if (frame_opcode == kOpcodeContinuation) {
    if (!in_message) return fail("continuation frame without a message");
    // RFC 7692 section 6.1: only the first frame of a message carries the "compressed" bit.
    if (rsv1) return fail("RSV1 set on a continuation frame");
    return true;
  }
  if (in_message) {
    return fail("new data frame while a fragmented message is in progress");
  }
  if (rsv1 && !inflater) return fail("RSV1 set without permessage-deflate");
  return true;
}

void WebSocketDecoder::State::start_frame(const MessageCallback& on_message) {
  const size_t header_size = header_have;
  header_have = 0;
  header_need = 2;
  fin = (header[0] & kFinBit) != 0;
  opcode = header[0] & kOpcodeBits;
  masked = (header[1] & kMaskBit) != 0;
  const uint8_t length_field = header[1] & kLengthBits;
  size_t at = 2;
  uint64_t length = length_field;
  if (length_field == kLength16) {
    length = read_big_endian(&header[at], 2);
    at += 2;
  } else if (length_field == kLength64) {
    length = read_big_endian(&header[at], 8);
    at += 8;
    if (length >> 63) {
      fail("64-bit payload length with the high bit set");
      return;
    }
  }
  if (masked) std::memcpy(mask_key.data(), &header[at], mask_key.size());
  mask_offset = 0;
  payload_left = length;
  if (!is_control(opcode)) {
    if (opcode != kOpcodeContinuation) begin_message(opcode, (header[0] & kRsv1Bit) != 0, length);
    message.frames += 1;
    message.wire_bytes += header_size;
  }
  reading_payload = length > 0;
  if (!reading_payload) finish_frame(on_message);
}

void WebSocketDecoder::State::begin_message(uint8_t message_opcode, bool compressed,
                                            uint64_t first_frame_length) {
  in_message = true;
  compressed_bytes = 0;
  message = WebSocketMessage{};
  message.opcode = message_opcode;
  message.compressed = compressed;
  skipping = !capture_new_messages;
  if (skipping) return;  // nothing will be kept
  uint64_t reserve =
      std::min({first_frame_length, options.max_payload_bytes, kLargestUpfrontReserve});
  message.payload.reserve(reserve);
}

void WebSocketDecoder::State::consume_payload(std::string_view& bytes,
                                              const MessageCallback& on_message) {
  size_t size = static_cast<size_t>(std::min<uint64_t>(bytes.size(), payload_left));
  // Control frame payloads (ping data, close code) are not recorded, only skipped.
  if (!is_control(opcode)) {
    message.wire_bytes += size;
    consume_message_bytes(bytes.data(), size);
  }
  bytes.remove_prefix(size);
  payload_left -= size;
  if (payload_left == 0 && status == Status::Ok) finish_frame(on_message);
}

void WebSocketDecoder::State::consume_message_bytes(const char* data, size_t size) {
  if (skipping && !message.compressed) {
    message.size += size;  // the bytes themselves are not needed
    return;
  }
  if (!masked) return deliver(data, size);
  // Unmasked through a fixed buffer, so a frame of any size needs no more memory.
  char* unmasked = unmask_buffer();
  while (size > 0 && status == Status::Ok) {
    size_t piece = std::min(size, kUnmaskChunkBytes);
    unmask_copy(unmasked, data, piece, mask_key, mask_offset);
    mask_offset = (mask_offset + piece) & 3;
    deliver(unmasked, piece);
    data += piece;
    size -= piece;
  }
}

void WebSocketDecoder::State::deliver(const char* data, size_t size) {
  if (!message.compressed) return append_message_bytes(std::string_view(data, size));
  compressed_bytes += size;
  if (base::Status inflated = inflater->feed(std::string_view(data, size), on_inflated);
      !inflated) {
    fail(inflated.error());
    return;
  }
  // Past the cap the rest of a message is only counted and hashed, yet inflating it still
  // costs the loop thread. Real JSON rarely inflates past 50:1, a bomb over 1000:1: stop
  // following such a message (the bytes are forwarded regardless), as HTTP bodies do.
  bool past_cap = message.truncated || (skipping && message.size > options.max_payload_bytes);
  if (past_cap && message.size > kMaxInflateRatio * compressed_bytes) {
    fail("decompression bomb: " + std::to_string(message.size) + " bytes inflated from " +
         std::to_string(compressed_bytes));
  }
}

void WebSocketDecoder::State::append_message_bytes(std::string_view bytes) {
  message.size += bytes.size();
  if (skipping) return;
  if (!message.truncated) {
    uint64_t room = options.max_payload_bytes - message.payload.size();
    if (bytes.size() <= room) return append_captured(bytes);
    // The message outgrows the cap: from here on only its hash grows, seeded with the prefix.
    append_captured(bytes.substr(0, static_cast<size_t>(room)));
    message.truncated = true;
    overflow_hash = base::Sha256();
    overflow_hash.update(message.payload);
    bytes.remove_prefix(static_cast<size_t>(room));
  }
  overflow_hash.update(bytes);
}

void WebSocketDecoder::State::append_captured(std::string_view bytes) {
  std::string& payload = message.payload;
  size_t needed = payload.size() + bytes.size();
  if (needed > payload.capacity()) {
    // Grow geometrically but never past the cap. std::string's own growth could double
    // past it, so the new buffer is reserved from empty, which gives the exact size asked.
    uint64_t target = std::min<uint64_t>(std::max<uint64_t>(needed, 2 * payload.capacity()),
                                         options.max_payload_bytes);
    std::string bigger;
    bigger.reserve(static_cast<size_t>(target));
    bigger.append(payload);
    payload.swap(bigger);
  }
  payload.append(bytes);
}

void WebSocketDecoder::State::finish_frame(const MessageCallback& on_message) {
  reading_payload = false;
  if (opcode == kOpcodeClose) return stop(Status::Closed, {});
  if (!is_control(opcode) && fin) finish_message(on_message);
}

void WebSocketDecoder::State::finish_message(const MessageCallback& on_message) {
  if (message.compressed) {
    if (base::Status inflated = inflater->finish_message(on_inflated); !inflated) {
      fail(inflated.error());
      return;
    }
  }
  in_message = false;
  if (skipping) {
    skipping = false;
    message = WebSocketMessage{};
    return;
  }
  if (message.truncated) message.sha256_hex = overflow_hash.finish_hex();
  on_message(std::move(message));
  message = WebSocketMessage{};
}

}  // namespace mcptap::capture

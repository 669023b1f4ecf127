// Encoding and decoding of spool frames; explicit little-endian so a spool is portable.
#include "sink/spool_frame.h"

#include <cstring>

#include "sink/crc32c.h"
#include "sink/little_endian.h"
#include "sink/record_columns.h"

namespace mcptap::sink {
namespace {

// A body holds every column of mcptap.messages but id, which is in the header. A column added
// to record_columns.h needs a place here too, under a new kFrameFormat whose decoder still
// reads the older bodies: records spooled before an upgrade are delivered after it. Then
// raise this count; RecordColumnsTest.EveryColumnSurvivesTheSpoolFrame checks the values.
//
// Format 1: the 17 columns of schema version 1. Format 2: flag kHasOperation, and when it is
// set the operation id's 16 bytes right after the correlation id's.
static_assert(kRecordColumnCount == 18,
              "a new column of mcptap.messages needs a place in the spool frame");

enum BodyFlag : uint8_t {
  kHasJsonrpcId = 1 << 0,
  kHasMethod = 1 << 1,
  kHasCorrelation = 1 << 2,
  kHasLatency = 1 << 3,
  kHasPayload = 1 << 4,
  kTruncated = 1 << 5,
  kRedacted = 1 << 6,
  kHasOperation = 1 << 7,  // format 2 on
};

// The flags a body of each format may carry; any other bit set can only be damage.
uint8_t known_flags(uint8_t format) {
  return format >= 2 ? 0xff : 0x7f;
}

constexpr uint8_t kMaxTransport = static_cast<uint8_t>(capture::Transport::Stdio);
constexpr uint8_t kMaxDirection = static_cast<uint8_t>(capture::Direction::ServerToClient);
constexpr uint8_t kMaxKind = static_cast<uint8_t>(capture::Kind::Invalid);

void append_u64(std::string& out, uint64_t value) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  out.append(bytes, 8);
}

void append_string(std::string& out, std::string_view text) {
  uint8_t length[4];
  put_u32(length, static_cast<uint32_t>(text.size()));
  out.append(reinterpret_cast<const char*>(length), 4);
  out.append(text);
}

uint8_t flags_of(const capture::Record& record) {
  uint8_t flags = 0;
  if (record.jsonrpc_id) flags |= kHasJsonrpcId;
  if (record.method) flags |= kHasMethod;
  if (record.correlation_id) flags |= kHasCorrelation;
  if (record.latency_us) flags |= kHasLatency;
  if (record.payload) flags |= kHasPayload;
  if (record.truncated) flags |= kTruncated;
  if (record.redacted) flags |= kRedacted;
  if (record.operation_id) flags |= kHasOperation;
  return flags;
}

void encode_body(const capture::Record& record, std::string& out) {
  append_u64(out, static_cast<uint64_t>(record.captured_at_us));
  append_u64(out, static_cast<uint64_t>(record.payload_bytes));
  append_u64(out, static_cast<uint64_t>(record.latency_us.value_or(0)));
  const uint8_t flags = flags_of(record);
  const char small[4] = {static_cast<char>(record.transport), static_cast<char>(record.direction),
                         static_cast<char>(record.kind), static_cast<char>(flags)};
  out.append(small, 4);
  if (record.correlation_id) {
    out.append(reinterpret_cast<const char*>(record.correlation_id->bytes.data()), 16);
  }
  if (record.operation_id) {
    out.append(reinterpret_cast<const char*>(record.operation_id->bytes.data()), 16);
  }
  append_string(out, record.route);
  append_string(out, record.connection_id);
  append_string(out, record.session_id);
  if (record.jsonrpc_id) append_string(out, *record.jsonrpc_id);
  if (record.method) append_string(out, *record.method);
  if (record.payload) append_string(out, *record.payload);
  append_string(out, record.meta_json);
}

// Reads fields off the front of a body; any read past the end sets failed().
class BodyReader {
 public:
  explicit BodyReader(std::string_view body) : rest_(body) {}

  uint64_t u64() {
    const uint8_t* p = take(8);
    uint64_t value = 0;
    for (int i = 0; p && i < 8; ++i) value |= uint64_t(p[i]) << (8 * i);
    return value;
  }
  uint8_t u8() {
    const uint8_t* p = take(1);
    return p ? *p : 0;
  }
  bool uuid(base::Uuid* out) {
    const uint8_t* p = take(16);
    if (p) std::memcpy(out->bytes.data(), p, 16);
    return p != nullptr;
  }
  std::string string() {
    const uint8_t* length_bytes = take(4);
    if (!length_bytes) return {};
    const uint8_t* text = take(get_u32(length_bytes));
    if (!text) return {};
    return std::string(reinterpret_cast<const char*>(text), get_u32(length_bytes));
  }
  bool failed() const { return failed_; }
  bool at_end() const { return rest_.empty(); }

 private:
  const uint8_t* take(size_t count) {
    if (failed_ || rest_.size() < count) {
      failed_ = true;
      return nullptr;
    }
    const auto* p = reinterpret_cast<const uint8_t*>(rest_.data());
    rest_.remove_prefix(count);
    return p;
  }

  std::string_view rest_;
  bool failed_ = false;
};

}  // namespace

bool encode_frame(const capture::Record& record, std::string* body,
                  uint8_t (&header)[kFrameHeaderBytes]) {
  body->clear();
  encode_body(record, *body);
  if (body->size() > kFrameMaxBodyBytes) return false;
  std::memset(header, 0, sizeof header);
  put_u32(header, kFrameMagic);
  header[4] = kFrameFormat;
  put_u32(header + 8, static_cast<uint32_t>(body->size()));
  put_u32(header + 12, crc32c(*body));
  std::memcpy(header + 16, record.id.bytes.data(), 16);
  put_u32(header + 32, crc32c_extend(0, header, 32));
  return true;
}

std::optional<FrameHeader> decode_frame_header(const uint8_t* bytes) {
  if (get_u32(bytes) != kFrameMagic) return std::nullopt;
  if (get_u32(bytes + 32) != crc32c_extend(0, bytes, 32)) return std::nullopt;
  FrameHeader header;
  header.format = bytes[4];
  header.body_bytes = get_u32(bytes + 8);
  header.body_crc = get_u32(bytes + 12);
  std::memcpy(header.id.bytes.data(), bytes + 16, 16);
  if (header.format < kOldestFrameFormat || header.format > kFrameFormat ||
      header.body_bytes > kFrameMaxBodyBytes) {
    return std::nullopt;
  }
  return header;
}

std::optional<capture::Record> decode_frame_body(const FrameHeader& header, std::string_view body) {
  BodyReader reader(body);
  capture::Record record;
  record.id = header.id;
  record.captured_at_us = static_cast<int64_t>(reader.u64());
  record.payload_bytes = static_cast<int64_t>(reader.u64());
  const auto latency = static_cast<int64_t>(reader.u64());
  const uint8_t transport = reader.u8();
  const uint8_t direction = reader.u8();
  const uint8_t kind = reader.u8();
  const uint8_t flags = reader.u8();
  if (transport > kMaxTransport || direction > kMaxDirection || kind > kMaxKind ||
      (flags & ~known_flags(header.format)) != 0) {
    return std::nullopt;
  }
  record.transport = static_cast<capture::Transport>(transport);
  record.direction = static_cast<capture::Direction>(direction);
  record.kind = static_cast<capture::Kind>(kind);
  if (flags & kHasLatency) record.latency_us = latency;
  if (flags & kHasCorrelation && !reader.uuid(&record.correlation_id.emplace()))
    return std::nullopt;
  if (flags & kHasOperation && !reader.uuid(&record.operation_id.emplace())) return std::nullopt;
  record.route = reader.string();
  record.connection_id = reader.string();
  record.session_id = reader.string();
  if (flags & kHasJsonrpcId) record.jsonrpc_id = reader.string();
  if (flags & kHasMethod) record.method = reader.string();
  if (flags & kHasPayload) record.payload = reader.string();
  record.meta_json = reader.string();
  record.truncated = flags & kTruncated;
  record.redacted = flags & kRedacted;
  if (reader.failed() || !reader.at_end()) return std::nullopt;
  return record;
}

}  // namespace mcptap::sink

// COPY binary-format tuples from records: field framing, timestamps, and jsonb's U+0000
// limit. The format: https://www.postgresql.org/docs/15/sql-copy.html (Binary Format).
#include "sink/copy_binary.h"

#include <algorithm>
#include <array>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "base/json_text.h"
#include "sink/record_columns.h"

namespace mcptap::sink {
namespace {

constexpr std::string_view kSignature{"PGCOPY\n\377\r\n\0", 11};
constexpr int32_t kNullLength = -1;
// A length the server refuses as "invalid field size" (a data error for this record alone),
// for a value past what one field can hold; the stream stays well formed up to it.
constexpr int32_t kUnsendableLength = -2;
constexpr char kJsonbVersion = 1;
// 2000-01-01 00:00:00 UTC, PostgreSQL's epoch, in Unix microseconds.
constexpr int64_t kPostgresEpochUnixUs = int64_t{946'684'800} * 1'000'000;

constexpr std::string_view kNulEscape = "\\u0000";
constexpr std::string_view kReplacementEscape = "\\ufffd";

template <typename Integer>
void append_big_endian(Integer value, std::string& out) {
  auto bits = static_cast<std::make_unsigned_t<Integer>>(value);
  std::array<char, sizeof(Integer)> bytes;
  for (size_t i = 0; i < sizeof(Integer); ++i) {
    bytes[i] = static_cast<char>(bits >> (8 * (sizeof(Integer) - 1 - i)));
  }
  out.append(bytes.data(), bytes.size());
}

// A jsonb field: the format's version byte, then the JSON text.
void append_jsonb_text(std::string_view json, std::string& out) {
  if (json.size() >= size_t(std::numeric_limits<int32_t>::max())) {
    append_big_endian(kUnsendableLength, out);
    return;
  }
  append_big_endian(static_cast<int32_t>(json.size() + 1), out);
  out.push_back(kJsonbVersion);
  out.append(json);
}

// meta with "payload_nul_replaced": true added; meta unchanged if it is not a JSON object
// (PostgreSQL then rejects the record, as it would have anyway).
std::string meta_noting_nul_replacement(std::string_view meta_json) {
  nlohmann::json meta = nlohmann::json::parse(meta_json, nullptr, /*allow_exceptions=*/false);
  if (!meta.is_object()) return std::string(meta_json);
  meta["payload_nul_replaced"] = true;
  return base::json_text(meta);
}

// Appends a jsonb value with \u0000 escapes replaced, or null for no JSON at all. Returns
// whether anything was replaced.
bool append_jsonb(std::string_view json, std::string& out) {
  if (json.empty()) {
    append_copy_null(out);
    return false;
  }
  std::optional<std::string> replaced = replace_nul_escapes(json);
  append_jsonb_text(replaced ? std::string_view(*replaced) : json, out);
  return replaced.has_value();
}

}  // namespace

void append_copy_header(std::string& out) {
  out.append(kSignature);
  append_big_endian(int32_t{0}, out);  // flags: no OIDs
  append_big_endian(int32_t{0}, out);  // header extension length
}

void append_copy_trailer(std::string& out) {
  append_big_endian(int16_t{-1}, out);
}

int64_t postgres_timestamp_us(int64_t unix_us) {
  if (unix_us < std::numeric_limits<int64_t>::min() + kPostgresEpochUnixUs) {
    return std::numeric_limits<int64_t>::min();
  }
  return unix_us - kPostgresEpochUnixUs;
}

std::optional<std::string> replace_nul_escapes(std::string_view json) {
  // Only an escape matters: "\\u0000" is an escaped backslash followed by text, so the
  // scan steps over every escape pair and checks the ones that start with \u.
  std::optional<std::string> out;
  // Nearly every payload has none: one search settles it without a byte-by-byte walk.
  if (json.find(kNulEscape) == std::string_view::npos) return out;
  size_t copied = 0;
  for (size_t i = 0; i + 1 < json.size(); ++i) {
    if (json[i] != '\\') continue;
    if (json.substr(i, kNulEscape.size()) == kNulEscape) {
      if (!out) out.emplace().reserve(json.size());
      out->append(json.substr(copied, i - copied));
      out->append(kReplacementEscape);
      copied = i + kNulEscape.size();
      i = copied - 1;
    } else {
      ++i;  // skip the escaped character
    }
  }
  if (out) out->append(json.substr(copied));
  return out;
}

void append_copy_row(const capture::Record& record, std::string& out) {
  append_big_endian(static_cast<int16_t>(kRecordColumnCount), out);
  CopyRowState state;
  for (const RecordColumn& column : record_columns()) column.append_copy(record, state, out);
}

void append_copy_null(std::string& out) {
  append_big_endian(kNullLength, out);
}

void append_copy_text(std::string_view text, std::string& out) {
  if (text.size() > size_t(std::numeric_limits<int32_t>::max())) {
    append_big_endian(kUnsendableLength, out);
    return;
  }
  append_big_endian(static_cast<int32_t>(text.size()), out);
  out.append(text);
}

void append_copy_nullable_text(const std::optional<std::string>& text, std::string& out) {
  if (text) {
    append_copy_text(*text, out);
  } else {
    append_copy_null(out);
  }
}

void append_copy_uuid(const base::Uuid& id, std::string& out) {
  append_big_endian(int32_t{16}, out);
  out.append(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

void append_copy_nullable_uuid(const std::optional<base::Uuid>& id, std::string& out) {
  if (id) {
    append_copy_uuid(*id, out);
  } else {
    append_copy_null(out);
  }
}

void append_copy_int8(int64_t value, std::string& out) {
  append_big_endian(int32_t{8}, out);
  append_big_endian(value, out);
}

void append_copy_nullable_int8(const std::optional<int64_t>& value, std::string& out) {
  if (value) {
    append_copy_int8(*value, out);
  } else {
    append_copy_null(out);
  }
}

void append_copy_int4_clamped(int64_t value, std::string& out) {
  append_big_endian(int32_t{4}, out);
  append_big_endian(
      static_cast<int32_t>(std::clamp<int64_t>(value, 0, std::numeric_limits<int32_t>::max())),
      out);
}

void append_copy_bool(bool value, std::string& out) {
  append_big_endian(int32_t{1}, out);
  out.push_back(value ? 1 : 0);
}

void append_copy_timestamp(int64_t unix_us, std::string& out) {
  append_copy_int8(postgres_timestamp_us(unix_us), out);
}

bool append_copy_payload(const std::optional<std::string>& payload, std::string& out) {
  return append_jsonb(payload ? std::string_view(*payload) : std::string_view(), out);
}

void append_copy_meta(std::string_view meta_json, bool payload_nul_replaced, std::string& out) {
  if (meta_json.empty()) meta_json = "{}";
  if (!payload_nul_replaced) {
    append_jsonb(meta_json, out);
    return;
  }
  append_jsonb(meta_noting_nul_replacement(meta_json), out);
}

}  // namespace mcptap::sink

// Encoding records as tuples of COPY's binary format, the form the writer streams to
// PostgreSQL: no escaping on our side, no text parsing of uuids, timestamps and numbers on
// the server's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "capture/record.h"

namespace mcptap::sink {

// The signature, flags and header extension every binary COPY stream starts with.
void append_copy_header(std::string& out);
// The end-of-data marker: a tuple of -1 fields.
void append_copy_trailer(std::string& out);

// Appends one record as a tuple: every column of sink/record_columns.h, in its order. Text
// columns go in as their bytes (the server still checks their encoding), payload and meta as
// jsonb version 1 followed by JSON text. A payload that is empty (not JSON at all) is stored
// as null. jsonb cannot hold U+0000, so \u0000 escapes in payload and meta become \ufffd,
// and when the payload had one, meta gets "payload_nul_replaced": true: the message is kept
// rather than rejected whole.
void append_copy_row(const capture::Record& record, std::string& out);

// The fields a tuple is made of, one per column type (record_columns.cpp picks them).
void append_copy_null(std::string& out);
void append_copy_text(std::string_view text, std::string& out);
void append_copy_nullable_text(const std::optional<std::string>& text,
                               std::string& out);  // null if none
void append_copy_uuid(const base::Uuid& id, std::string& out);
void append_copy_nullable_uuid(const std::optional<base::Uuid>& id,
                               std::string& out);  // null if none
void append_copy_int8(int64_t value, std::string& out);
void append_copy_nullable_int8(const std::optional<int64_t>& value,
                               std::string& out);  // null if none
// An integer column; a value past its range is clamped to 0..INT32_MAX rather than refused.
void append_copy_int4_clamped(int64_t value, std::string& out);
void append_copy_bool(bool value, std::string& out);
// timestamptz from Unix microseconds.
void append_copy_timestamp(int64_t unix_us, std::string& out);
// The payload: null when empty; returns whether a \u0000 escape was replaced.
bool append_copy_payload(const std::optional<std::string>& payload, std::string& out);
// meta ("{}" when empty), noting a replaced payload escape.
void append_copy_meta(std::string_view meta_json, bool payload_nul_replaced, std::string& out);

// Microseconds since 2000-01-01 UTC, PostgreSQL's timestamptz on the wire, from Unix
// microseconds; saturates instead of overflowing (the server then refuses the value).
int64_t postgres_timestamp_us(int64_t unix_us);

// The JSON text with each \u0000 escape replaced by \ufffd; nullopt when it has none.
std::optional<std::string> replace_nul_escapes(std::string_view json);

}  // namespace mcptap::sink

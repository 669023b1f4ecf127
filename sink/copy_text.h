// Encoding records as rows of COPY's text format, the form the writer streams to PostgreSQL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "capture/record.h"

namespace mcptap::sink {

// The columns of each row, in mcptap.messages order.
inline constexpr std::string_view kCopyColumns =
    "id, captured_at, route, connection_id, session_id, transport, direction, kind, jsonrpc_id,"
    " method, correlation_id, latency_us, payload, payload_bytes, truncated, redacted, meta";

// Appends one record as a line: fields separated by tabs, \N for null. Payload and meta go
// in as JSON text for jsonb. A payload that is empty (not JSON at all) is stored as null.
// jsonb cannot hold U+0000, so \u0000 escapes in payload and meta become \ufffd, and when
// the payload had one, meta gets "payload_nul_replaced": true: the message is kept rather
// than rejected whole.
void append_copy_row(const capture::Record& record, std::string& out);

// Appends text escaped for COPY: backslash, tab, newline and carriage return.
void append_copy_text(std::string_view text, std::string& out);

// "2024-05-01 12:34:56.000123+00": a timestamptz literal in UTC with microseconds.
std::string utc_timestamp_literal(int64_t unix_us);

// The JSON text with each \u0000 escape replaced by \ufffd; nullopt when it has none.
std::optional<std::string> replace_nul_escapes(std::string_view json);

}  // namespace mcptap::sink

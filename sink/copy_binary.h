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

// The columns of each tuple, in mcptap.messages order.
inline constexpr std::string_view kCopyColumns =
    "id, captured_at, route, connection_id, session_id, transport, direction, kind, jsonrpc_id,"
    " method, correlation_id, latency_us, payload, payload_bytes, truncated, redacted, meta";

// The signature, flags and header extension every binary COPY stream starts with.
void append_copy_header(std::string& out);
// The end-of-data marker: a tuple of -1 fields.
void append_copy_trailer(std::string& out);

// Appends one record as a tuple. Text columns go in as their bytes (the server still
// checks their encoding), payload and meta as jsonb version 1 followed by JSON text. A
// payload that is empty (not JSON at all) is stored as null. jsonb cannot hold U+0000, so
// \u0000 escapes in payload and meta become \ufffd, and when the payload had one, meta gets
// "payload_nul_replaced": true: the message is kept rather than rejected whole.
void append_copy_row(const capture::Record& record, std::string& out);

// Microseconds since 2000-01-01 UTC, PostgreSQL's timestamptz on the wire, from Unix
// microseconds; saturates instead of overflowing (the server then refuses the value).
int64_t postgres_timestamp_us(int64_t unix_us);

// The JSON text with each \u0000 escape replaced by \ufffd; nullopt when it has none.
std::optional<std::string> replace_nul_escapes(std::string_view json);

}  // namespace mcptap::sink

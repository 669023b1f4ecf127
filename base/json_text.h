// JSON values to text, never throwing: what every JSON text mcptap writes goes through.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace mcptap::base {

// Compact JSON text, the same as nlohmann's dump() with invalid UTF-8 replaced: a string
// that is not valid UTF-8 (bytes quoted from a peer, a request, a server message) has its
// bad bytes written as U+FFFD — dump() would otherwise throw, and on the loop thread an
// exception ends the process. Strings of plain printable ASCII, nearly all of a record's
// meta, are copied without dump()'s per-byte UTF-8 decoding.
std::string json_text(const nlohmann::json& value);

// The same text, appended to `out`.
void append_json_text(const nlohmann::json& value, std::string& out);

}  // namespace mcptap::base

// JSON values to text, never throwing: what every JSON text mcptap writes goes through.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace mcptap::capture {

// Compact JSON text. A string that is not valid UTF-8 (bytes quoted from a peer, a request,
// a server message) has its bad bytes written as U+FFFD: dump() would otherwise throw, and
// on the loop thread an exception ends the process.
inline std::string json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mcptap::capture

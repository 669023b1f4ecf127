// JSON parsing that refuses nesting past a depth limit instead of exhausting the stack.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "base/result.h"

namespace mcptap::capture {

inline constexpr int kDefaultMaxJsonDepth = 128;

// Parses text into a document, or says why it cannot ("not JSON: ...", "nesting deeper
// than 128"). Never recurses per nesting level, never throws a parse error.
base::Result<nlohmann::json> parse_json_bounded(std::string_view text, int max_depth);

}  // namespace mcptap::capture

// JSON parsing that refuses nesting past a depth limit instead of exhausting the stack.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace mcptap::capture {

inline constexpr int kDefaultMaxJsonDepth = 128;

// Parses text into a document. On failure returns nullopt and says why in *error
// ("not JSON: ...", "nesting deeper than 128"). Never recurses per nesting level.
std::optional<nlohmann::json> parse_json_bounded(std::string_view text, int max_depth,
                                                 std::string* error);

}  // namespace mcptap::capture

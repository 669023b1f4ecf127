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
// Why nlohmann refused a text, for a captured row: "not JSON: " and the lexer's verdict,
// without the exception tag and without the excerpt of the input it quotes (which could
// hold a secret the redactor never sees, the text not being JSON).
std::string describe_parse_error(std::string_view what);

std::optional<nlohmann::json> parse_json_bounded(std::string_view text, int max_depth,
                                                 std::string* error);

}  // namespace mcptap::capture

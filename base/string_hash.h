// Hashing that accepts std::string and std::string_view alike, so that look-ups in an
// unordered container keyed by std::string never build a string from a view.
#pragma once

#include <functional>
#include <string_view>

namespace mcptap::base {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

}  // namespace mcptap::base

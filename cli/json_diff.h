// Structural diff of two JSON documents: the paths whose values were added, removed or changed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mcptap::cli {

struct JsonChange {
  enum class Kind { Added, Removed, Changed };
  Kind kind;
  std::string path;       // "params.arguments.text", "items[0]", "(root)" for the whole document
  nlohmann::json before;  // null for Added
  nlohmann::json after;   // null for Removed
};

// Objects are compared key by key (order is irrelevant), arrays index by index (extra
// elements of the longer one are added or removed), anything else by value; a change of
// type is one Changed entry at that path. Changes come in path order.
std::vector<JsonChange> diff_json(const nlohmann::json& before, const nlohmann::json& after);

// "~ path: before → after", "+ path: value", "- path: value" (values as compact JSON).
std::string format_change(const JsonChange& change);
// Every change on its own line, or "identical\n" when there is none.
std::string format_diff(const std::vector<JsonChange>& changes);

}  // namespace mcptap::cli

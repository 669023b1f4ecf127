// Structural diff of two JSON documents: the paths whose values were added, removed or changed.
#include "cli/json_diff.h"

#include <set>

#include "base/json_text.h"

namespace mcptap::cli {
namespace {

using nlohmann::json;

// Keys made of these characters read unambiguously after a dot; any other key is quoted.
bool plain_key(const std::string& key) {
  if (key.empty()) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '$' || c == '@';
    if (!ok) return false;
  }
  return true;
}

std::string key_path(const std::string& parent, const std::string& key) {
  if (!plain_key(key)) return parent + "[" + base::json_text(json(key)) + "]";
  return parent.empty() ? key : parent + "." + key;
}

std::string index_path(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

class Differ {
 public:
  std::vector<JsonChange> changes;

  void compare(const json& before, const json& after, const std::string& path) {
    if (before.is_object() && after.is_object()) {
      compare_objects(before, after, path);
    } else if (before.is_array() && after.is_array()) {
      compare_arrays(before, after, path);
    } else if (before != after) {
      // Values of different types never compare equal, except numbers: 1 and 1.0 are the
      // same number, as they are to a JSON-RPC peer.
      changes.push_back({JsonChange::Kind::Changed, path, before, after});
    }
  }

 private:
  void compare_objects(const json& before, const json& after, const std::string& path) {
    std::set<std::string> keys;
    for (auto it = before.begin(); it != before.end(); ++it) keys.insert(it.key());
    for (auto it = after.begin(); it != after.end(); ++it) keys.insert(it.key());
    for (const std::string& key : keys) {
      auto old_value = before.find(key);
      auto new_value = after.find(key);
      std::string child = key_path(path, key);
      if (old_value == before.end()) {
        changes.push_back({JsonChange::Kind::Added, child, json(), *new_value});
      } else if (new_value == after.end()) {
        changes.push_back({JsonChange::Kind::Removed, child, *old_value, json()});
      } else {
        compare(*old_value, *new_value, child);
      }
    }
  }

  void compare_arrays(const json& before, const json& after, const std::string& path) {
    size_t common = std::min(before.size(), after.size());
    for (size_t i = 0; i < common; ++i) compare(before[i], after[i], index_path(path, i));
    for (size_t i = common; i < before.size(); ++i) {
      changes.push_back({JsonChange::Kind::Removed, index_path(path, i), before[i], json()});
    }
    for (size_t i = common; i < after.size(); ++i) {
      changes.push_back({JsonChange::Kind::Added, index_path(path, i), json(), after[i]});
    }
  }
};

}  // namespace

std::vector<JsonChange> diff_json(const json& before, const json& after) {
  Differ differ;
  differ.compare(before, after, "");
  for (JsonChange& change : differ.changes) {
    if (change.path.empty()) change.path = "(root)";
  }
  return std::move(differ.changes);
}

std::string format_change(const JsonChange& change) {
  switch (change.kind) {
    case JsonChange::Kind::Added:
      return "+ " + change.path + ": " + base::json_text(change.after);
    case JsonChange::Kind::Removed:
      return "- " + change.path + ": " + base::json_text(change.before);
    case JsonChange::Kind::Changed:
      break;
  }
  return "~ " + change.path + ": " + base::json_text(change.before) + " → " +
         base::json_text(change.after);
}

std::string format_diff(const std::vector<JsonChange>& changes) {
  if (changes.empty()) return "identical\n";
  std::string text;
  for (const JsonChange& change : changes) text += format_change(change) + "\n";
  return text;
}

}  // namespace mcptap::cli

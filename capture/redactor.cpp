// Secret redaction in captured JSON documents and HTTP header maps.
#include "capture/redactor.h"

#include <algorithm>
#include <utility>

namespace mcptap::capture {
namespace {

using nlohmann::json;

// ASCII folding is enough: the configured names are ASCII, and a non-ASCII byte simply
// never matches one.
char fold(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), fold);
  return text;
}

std::vector<std::string> lowercase_all(std::vector<std::string> names) {
  for (std::string& name : names) name = lowercase(std::move(name));
  return names;
}

// Compares without building a lowercased copy of `text`; `lower` is already lowercase.
bool equals_folded(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (fold(text[i]) != lower[i]) return false;
  }
  return true;
}

bool ends_with_folded(std::string_view text, std::string_view lower_suffix) {
  if (text.size() < lower_suffix.size()) return false;
  return equals_folded(text.substr(text.size() - lower_suffix.size()), lower_suffix);
}

bool matches_any(std::string_view text, const std::vector<std::string>& lower_names) {
  return std::any_of(lower_names.begin(), lower_names.end(),
                     [text](const std::string& name) { return equals_folded(text, name); });
}

void replace_with_marker(json& value) {
  value = std::string(kRedactedValue);
}

}  // namespace

Redactor::Redactor(RedactOptions options)
    : keys_(lowercase_all(std::move(options.json_keys))),
      suffixes_(lowercase_all(std::move(options.json_key_suffixes))),
      headers_(lowercase_all(std::move(options.headers))) {}

bool Redactor::is_secret_key(std::string_view key) const {
  if (matches_any(key, keys_)) return true;
  return std::any_of(suffixes_.begin(), suffixes_.end(),
                     [key](const std::string& suffix) { return ends_with_folded(key, suffix); });
}

bool Redactor::redact_json(nlohmann::json& document) const {
  // Containers still to visit. Documents come from the depth-bounded parser, but the walk
  // does not rely on that: its stack lives on the heap, not in call frames.
  std::vector<json*> to_visit;
  if (document.is_structured()) to_visit.push_back(&document);
  bool replaced = false;
  while (!to_visit.empty()) {
    json& container = *to_visit.back();
    to_visit.pop_back();
    if (container.is_array()) {
      for (json& element : container) {
        if (element.is_structured()) to_visit.push_back(&element);
      }
      continue;
    }
    for (auto& [key, value] : container.get_ref<json::object_t&>()) {
      if (is_secret_key(key)) {
        replace_with_marker(value);
        replaced = true;
      } else if (value.is_structured()) {
        to_visit.push_back(&value);
      }
    }
  }
  return replaced;
}

bool Redactor::redact_headers(nlohmann::json& headers) const {
  if (!headers.is_object()) return false;
  bool replaced = false;
  for (auto& [name, value] : headers.get_ref<json::object_t&>()) {
    if (!matches_any(name, headers_)) continue;
    // A repeated header (several Set-Cookie lines) becomes one marker as well.
    replace_with_marker(value);
    replaced = true;
  }
  return replaced;
}

}  // namespace mcptap::capture

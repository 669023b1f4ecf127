// Reading members of a JSON-RPC message that may be absent or of the wrong type: every
// reader of wire JSON asks "is it there, and is it what it should be" before using it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mcptap::capture {

// The member `name` of `object` if object is an object that has it, else null.
inline const nlohmann::json* member(const nlohmann::json* object, std::string_view name) {
  if (object == nullptr || !object->is_object()) return nullptr;
  auto found = object->find(name);
  return found == object->end() ? nullptr : &*found;
}

// The same, only when the member is an object.
inline const nlohmann::json* object_member(const nlohmann::json* object, std::string_view name) {
  const nlohmann::json* value = member(object, name);
  return value != nullptr && value->is_object() ? value : nullptr;
}

// The same, only when the member is a string.
inline const std::string* string_member(const nlohmann::json* object, std::string_view name) {
  const nlohmann::json* value = member(object, name);
  return value != nullptr && value->is_string() ? &value->get_ref<const nlohmann::json::string_t&>()
                                                : nullptr;
}

}  // namespace mcptap::capture

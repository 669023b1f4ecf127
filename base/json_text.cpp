// A compact JSON writer over nlohmann values with a fast path for plain ASCII strings; what
// that path does not cover (other strings, floats, binary) is written by dump() itself, so
// the text is byte for byte dump()'s (json_text_test and the JSON-RPC fuzzer hold it so).
#include "base/json_text.h"

#include <charconv>

namespace mcptap::base {
namespace {

using nlohmann::json;

std::string dumped(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Printable ASCII other than the quote and the backslash: written as it is.
bool needs_no_escaping(std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') return false;
  }
  return true;
}

// `text` as a JSON string; `as_json` is the same string as a value, when there is one.
void append_string(std::string_view text, const json* as_json, std::string& out) {
  if (needs_no_escaping(text)) {
    out.push_back('"');
    out.append(text);
    out.push_back('"');
  } else {
    out.append(as_json ? dumped(*as_json) : dumped(json(text)));
  }
}

template <typename Integer>
void append_integer(Integer value, std::string& out) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

}  // namespace

void append_json_text(const json& value, std::string& out) {
  switch (value.type()) {
    case json::value_t::null:
      out.append("null");
      return;
    case json::value_t::boolean:
      out.append(value.get<bool>() ? "true" : "false");
      return;
    case json::value_t::number_integer:
      append_integer(value.get<json::number_integer_t>(), out);
      return;
    case json::value_t::number_unsigned:
      append_integer(value.get<json::number_unsigned_t>(), out);
      return;
    case json::value_t::string:
      append_string(value.get_ref<const std::string&>(), &value, out);
      return;
    case json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const json& element : value) {
        if (!first) out.push_back(',');
        first = false;
        append_json_text(element, out);
      }
      out.push_back(']');
      return;
    }
    case json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out.push_back(',');
        first = false;
        append_string(it.key(), nullptr, out);
        out.push_back(':');
        append_json_text(it.value(), out);
      }
      out.push_back('}');
      return;
    }
    case json::value_t::number_float:  // dump()'s shortest round-trip form, NaN as null
    case json::value_t::binary:
    case json::value_t::discarded:
      out.append(dumped(value));
      return;
  }
}

std::string json_text(const json& value) {
  std::string out;
  append_json_text(value, out);
  return out;
}

}  // namespace mcptap::base

#include "base/query_string.h"

#include "base/text.h"

namespace mcptap::base {

std::string_view query_of(std::string_view target) {
  size_t question = target.find('?');
  if (question == std::string_view::npos) return {};
  std::string_view query = target.substr(question + 1);
  return query.substr(0, query.find('#'));
}

std::optional<std::string> form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      int low = high >= 0 ? hex_value(text[i + 2]) : -1;
      if (low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
}

std::optional<std::map<std::string, std::string>> parse_query(std::string_view query) {
  std::map<std::string, std::string> pairs;
  bool well_formed = true;
  for_each_query_pair(query, [&](std::string_view name, std::string_view value, bool) {
    std::optional<std::string> decoded_name = form_decode(name);
    std::optional<std::string> decoded_value = form_decode(value);
    if (!decoded_name || !decoded_value) return well_formed = false;
    pairs.emplace(std::move(*decoded_name), std::move(*decoded_value));
    return true;
  });
  if (!well_formed) return std::nullopt;
  return pairs;
}

std::string query_parameter(std::string_view target, std::string_view name) {
  size_t question = target.find('?');
  if (question == std::string_view::npos) return {};
  std::string found;
  for_each_query_pair(target.substr(question + 1),
                      [&](std::string_view key, std::string_view value, bool has_value) {
                        if (key != name || !has_value) return true;
                        found = std::string(value);
                        return false;
                      });
  return found;
}

}  // namespace mcptap::base

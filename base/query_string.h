// The query part of an HTTP request-target ("a=1&b=two"), the one parser for it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace mcptap::base {

// The query of a request-target: what follows '?', without a '#fragment'; empty if none.
std::string_view query_of(std::string_view target);

// Calls visit(name, value) for each non-empty "name=value" pair of `query`, raw (still
// percent-encoded), in order, until visit returns false.
template <typename Visit>
void for_each_query_pair(std::string_view query, Visit&& visit) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (!visit(pair.substr(0, eq), value, eq != std::string_view::npos)) return;
  }
}

// application/x-www-form-urlencoded decoding: "%XX" escapes and '+' for a space. nullopt
// for a '%' not followed by two hex digits.
std::optional<std::string> form_decode(std::string_view text);

// Every pair of `query`, decoded; the first of a repeated name wins. nullopt if a name or
// value is badly encoded.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view query);

// The raw value of the first `name=` parameter of a request-target; empty when absent.
// Undecoded: used for session ids, URL-safe tokens in every server we know of.
std::string query_parameter(std::string_view target, std::string_view name);

}  // namespace mcptap::base

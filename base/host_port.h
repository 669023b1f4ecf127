// A network endpoint as people write it: "host:port", "[v6]:port" or ":port".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace mcptap::base {

struct HostPort {
  std::string host;  // a name (resolved when used) or an IPv4/IPv6 literal, without brackets
  uint16_t port = 0;

  // "host:port", with brackets around an IPv6 literal ("[::1]:80").
  std::string to_string() const;
  bool operator==(const HostPort&) const = default;
};

// Parses "host:port", "[v6]:port" or ":port" (all interfaces: host "0.0.0.0"). The error
// is one line for a person; `key` names what the text was meant to be ("listen",
// "--admin") in messages that explain it, such as `"http://a:1/" is a URL; listen is
// host:port - did you mean "a:1"?`.
Result<HostPort> parse_host_port(std::string_view text, std::string_view key = "address");

}  // namespace mcptap::base

// host:port parsing with messages that name the likely mistake, and its formatting.
#include "base/host_port.h"

#include <cctype>

namespace mcptap::base {
namespace {

// A URL where host:port belongs ("http://127.0.0.1:3101/mcp"): say so, and name the
// host:port it points at, with the scheme's port when it has none. Credentials in it are
// not repeated.
std::string url_instead(std::string_view url, std::string_view key) {
  size_t scheme_end = url.find("://");
  std::string scheme(url.substr(0, scheme_end));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  std::string shown(url);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
    shown = scheme + "://" + std::string(authority) + "/...";
  }
  std::string message = "\"" + shown + "\" is a URL; " + std::string(key) + " is host:port";
  bool bracketed = !authority.empty() && authority.front() == '[';
  size_t host_end = bracketed ? authority.find(']') : authority.find(':');
  if (authority.empty() || host_end == 0 || (bracketed && host_end == std::string_view::npos)) {
    return message;
  }
  std::string host_port(authority);
  bool has_port = bracketed ? host_end + 1 < authority.size() : host_end != std::string_view::npos;
  if (!has_port) {
    if (scheme == "http" || scheme == "ws") {
      host_port += ":80";
    } else if (scheme == "https" || scheme == "wss") {
      host_port += ":443";
    } else {
      return message;
    }
  }
  return message + " - did you mean \"" + host_port + "\"?";
}

Result<uint16_t> parse_port(std::string_view port_text, const std::string& shown) {
  if (port_text.empty() || port_text.size() > 5) {
    return fail("expected a port number 0-65535, got " + shown);
  }
  unsigned port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return fail("expected a port number, got " + shown);
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) return fail("port out of range in " + shown);
  return static_cast<uint16_t>(port);
}

}  // namespace

std::string HostPort::to_string() const {
  bool ipv6_literal = host.find(':') != std::string::npos;
  std::string port_text = std::to_string(port);
  return ipv6_literal ? "[" + host + "]:" + port_text : host + ":" + port_text;
}

Result<HostPort> parse_host_port(std::string_view text, std::string_view key) {
  if (text.find("://") != std::string_view::npos) return fail(url_instead(text, key));
  std::string shown = "\"" + std::string(text) + "\"";
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return fail("expected \"host:port\", got " + shown);
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return fail("an IPv6 address needs brackets: \"[::1]:9001\", got " + shown);
  }
  if (size_t slash = port_text.find('/'); slash != std::string_view::npos && slash > 0) {
    return fail(shown + " has a path; " + std::string(key) + " is host:port - did you mean \"" +
                std::string(text.substr(0, colon + 1 + slash)) + "\"?");
  }
  Result<uint16_t> port = parse_port(port_text, shown);
  if (!port) return port.error();
  return HostPort{host.empty() ? "0.0.0.0" : std::string(host), *port};
}

}  // namespace mcptap::base

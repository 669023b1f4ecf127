// Admin access rules. A browser can be made to send requests anywhere (CSRF) and, through DNS
// rebinding, to read answers from a name that now points here; it cannot forge the Host header
// or leave out Origin on a cross-origin fetch. So: a Host must name this server, a request
// with an Origin is refused, changes must be JSON (a form or text/plain POST needs no CORS
// preflight), and captured content needs the token unless only this machine can connect.
#include "proxy/admin_access.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "base/ascii_case.h"
#include "base/text.h"
#include "proxy/constant_time.h"

namespace mcptap::proxy {
namespace {

using Address = std::array<unsigned char, 16>;  // IPv4 as IPv4-mapped IPv6

bool all_digits(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "name", "name:port", "[v6]" or "[v6]:port" into the name (no brackets) and the port text.
bool split_host(std::string_view value, std::string_view* name, std::string_view* port) {
  value = base::trim(value);
  *port = {};
  if (!value.empty() && value.front() == '[') {
    size_t close = value.find(']');
    if (close == std::string_view::npos) return false;
    *name = value.substr(1, close - 1);
    std::string_view rest = value.substr(close + 1);
    if (rest.empty()) return !name->empty();
    if (rest.front() != ':' || !all_digits(rest.substr(1))) return false;
    *port = rest.substr(1);
    return !name->empty();
  }
  size_t colon = value.find(':');
  *name = value.substr(0, colon);
  if (colon != std::string_view::npos) {
    *port = value.substr(colon + 1);
    if (!all_digits(*port)) return false;  // also refuses an unbracketed IPv6 literal
  }
  return !name->empty();
}

std::optional<Address> parse_address(std::string_view text) {
  if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buffer[INET6_ADDRSTRLEN];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  Address address{};
  in_addr v4;
  if (inet_pton(AF_INET, buffer, &v4) == 1) {
    address[10] = address[11] = 0xff;
    std::memcpy(address.data() + 12, &v4, 4);
    return address;
  }
  if (inet_pton(AF_INET6, buffer, address.data()) == 1) return address;
  return std::nullopt;
}

std::string normalized_name(std::string_view name) {
  std::string lower = base::lowercase_ascii(std::string(name));
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  return lower;
}

// The same host: equal addresses when both are IP literals, else equal names.
bool same_host(std::string_view a, std::string_view b) {
  std::optional<Address> left = parse_address(a);
  std::optional<Address> right = parse_address(b);
  if (left || right) return left && right && *left == *right;
  return normalized_name(a) == normalized_name(b);
}

bool is_wildcard(std::string_view host) {
  std::optional<Address> address = parse_address(host);
  if (host.empty()) return true;
  if (!address) return false;
  Address any{};
  Address any_v4{};
  any_v4[10] = any_v4[11] = 0xff;
  return *address == any || *address == any_v4;
}

bool allowed_by_list(std::string_view name, std::string_view port,
                     const std::vector<std::string>& allowed) {
  for (const std::string& entry : allowed) {
    std::string_view entry_name;
    std::string_view entry_port;
    if (!split_host(entry, &entry_name, &entry_port)) continue;
    if (same_host(name, entry_name) && (entry_port.empty() || entry_port == port)) return true;
  }
  return false;
}

bool is_json_media_type(std::string_view content_type) {
  std::string_view media = base::trim(content_type.substr(0, content_type.find(';')));
  return base::equals_ignoring_ascii_case(media, "application/json");
}

AdminRefusal refusal(int status, std::string reason, std::string message) {
  return AdminRefusal{status, std::move(reason), std::move(message)};
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  std::string_view name = host;
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  if (normalized_name(name) == "localhost") return true;
  std::optional<Address> address = parse_address(name);
  if (!address) return false;
  Address v6_loopback{};
  v6_loopback[15] = 1;
  bool v4_mapped = std::all_of(address->begin(), address->begin() + 10,
                               [](unsigned char byte) { return byte == 0; }) &&
                   (*address)[10] == 0xff && (*address)[11] == 0xff;
  return *address == v6_loopback || (v4_mapped && (*address)[12] == 127);
}

bool admin_host_allowed(std::string_view host_header, std::string_view local_address,
                        const AdminAccessPolicy& policy) {
  std::string_view name;
  std::string_view port;
  if (!split_host(host_header, &name, &port)) return false;
  if (is_loopback_host(name)) return true;
  if (!is_wildcard(policy.listen_host) && same_host(name, policy.listen_host)) return true;
  // An IP literal equal to the address this connection came in on: a kubelet probing the
  // pod IP, Prometheus scraping a target by address. A rebinding page sends its own name.
  if (!local_address.empty() && parse_address(name) && same_host(name, local_address)) return true;
  return allowed_by_list(name, port, policy.allowed_hosts);
}

std::optional<AdminRefusal> check_admin_access(const AdminRequest& request, AdminEndpointKind kind,
                                               const AdminAccessPolicy& policy) {
  if (kind == AdminEndpointKind::Probe) return std::nullopt;
  // No Host at all is an HTTP/1.0 tool, never a browser.
  if (std::optional<std::string_view> host = request.header("host");
      host && !admin_host_allowed(*host, request.local_address, policy)) {
    return refusal(403, "host",
                   "Host \"" + std::string(host->substr(0, 100)) +
                       "\" does not name this admin server; add it to admin.allowed_hosts");
  }
  if (request.header("origin")) {
    return refusal(403, "origin", "requests from web pages (with an Origin header) are refused");
  }
  bool needs_token =
      kind == AdminEndpointKind::CapturedContent || kind == AdminEndpointKind::Change;
  if (needs_token && !policy.token.empty() &&
      !bearer_token_matches(request.header("authorization").value_or(""), policy.token)) {
    return refusal(401, "token", "a valid bearer token is required");
  }
  if (kind == AdminEndpointKind::CapturedContent && policy.token.empty() &&
      !is_loopback_host(policy.listen_host)) {
    return refusal(403, "no_token",
                   "captured content on a non-loopback admin address needs a token: set one "
                   "in the variable admin.token_env names (default MCPTAP_ADMIN_TOKEN), or "
                   "listen on 127.0.0.1");
  }
  if (kind == AdminEndpointKind::Change &&
      !is_json_media_type(request.header("content-type").value_or(""))) {
    return refusal(415, "content_type", "changes need Content-Type: application/json");
  }
  return std::nullopt;
}

}  // namespace mcptap::proxy

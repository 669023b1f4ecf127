// Who may ask the admin API what: the bearer token, Host, Origin and Content-Type rules for
// each kind of endpoint. Pure functions of the request, so they are tested without sockets.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/admin_request_reader.h"

namespace mcptap::proxy {

enum class AdminEndpointKind {
  Probe,            // /healthz, /readyz: always answered, for kubelets and health checks
  Open,             // /metrics, /routes, /status: no captured content, no token needed
  CapturedContent,  // /tail: captured messages; the token, or a loopback-only listener
  Change,           // POST /routes/{name}/capture: the token when one is configured
};

struct AdminAccessPolicy {
  std::string token;        // empty: no token configured
  std::string listen_host;  // admin.listen's host as configured
  // admin.allowed_hosts: extra Host values ("name" matches any port, "name:port" only it).
  std::vector<std::string> allowed_hosts;
};

struct AdminRefusal {
  int status = 0;
  std::string reason;  // a fixed word, used as a metric label: host, origin, token, ...
  std::string message;
};

// The reasons AdminRefusal::reason takes, for metrics that list each one from the start.
inline constexpr std::string_view kAdminRefusalReasons[] = {"host", "origin", "token", "no_token",
                                                            "content_type"};

// nullopt when the request may go on to its handler.
std::optional<AdminRefusal> check_admin_access(const AdminRequest& request, AdminEndpointKind kind,
                                               const AdminAccessPolicy& policy);

// Whether a Host header value names this server: a loopback name or address, the listen
// host, the address the connection arrived on (local_address), or an allowed host.
bool admin_host_allowed(std::string_view host_header, std::string_view local_address,
                        const AdminAccessPolicy& policy);

// "localhost", 127.0.0.0/8 or ::1 (brackets allowed).
bool is_loopback_host(std::string_view host);

}  // namespace mcptap::proxy

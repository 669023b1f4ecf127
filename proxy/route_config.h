// One route: a listening address and the upstream its connections are forwarded to.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/host_port.h"
#include "capture/capture_budget.h"

namespace mcptap::proxy {

// A listen address or an upstream: an upstream name is resolved per connection.
using base::HostPort;

// Admission and lifetime limits of one route's connections; 0 means no limit.
struct RouteLimits {
  // Open connections at once; one more is accepted and reset at once (counted), so its
  // client fails fast instead of waiting in the backlog.
  uint32_t max_connections = 0;
  // A connection with no byte in either direction for this long is closed. Off by
  // default: a transparent proxy leaves idle policy to the endpoints.
  uint32_t idle_timeout_s = 0;
  // limits.max_messages_per_second / max_bytes_per_second: how much of the route's traffic
  // is captured per second (capture.* when the route does not say). Forwarding is not
  // limited; past the budget whole exchanges are left out of capture.
  capture::CaptureBudgetLimits capture_budget;
  bool operator==(const RouteLimits&) const = default;
};

enum class TlsVersion : uint8_t { V1_2, V1_3 };

// listen_tls.intercept: the local CA whose leaves are minted per SNI (transparent mode).
struct InterceptCa {
  std::string ca_cert_file;
  std::string ca_key_file;
  bool operator==(const InterceptCa&) const = default;
};

// listen_tls: clients reach the route over TLS. Either a certificate of its own
// (termination) or `intercept`, never both (the loader checks).
struct ListenTls {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // non-empty: clients must present a certificate it signed
  TlsVersion min_version = TlsVersion::V1_2;
  std::optional<InterceptCa> intercept;
  bool operator==(const ListenTls&) const = default;
};

// upstream_tls: the route reaches its upstream over TLS (origination).
struct UpstreamTls {
  std::string
      server_name;      // SNI and the name verified; empty: the upstream host (no SNI for an IP)
  std::string ca_file;  // empty: the system store
  bool verify = true;
  std::string client_cert_file;
  std::string client_key_file;
  std::vector<std::string> alpn;  // offered in order; empty: no ALPN extension
  bool operator==(const UpstreamTls&) const = default;
};

struct RouteConfig {
  std::string name;
  HostPort listen;
  HostPort upstream;
  bool capture = true;
  // "upstream": "original_dst": each connection goes where its client sent it before an
  // iptables/nftables REDIRECT rule diverted it here (SO_ORIGINAL_DST); `upstream` is unused.
  bool upstream_original_dst = false;
  RouteLimits limits;
  std::optional<ListenTls> listen_tls;
  std::optional<UpstreamTls> upstream_tls;
  // What the route forwards to, as shown in logs and /routes.
  std::string upstream_text() const {
    return upstream_original_dst ? "original_dst" : upstream.to_string();
  }
};

// Watermarks of the per-direction write queues: past high, the opposite side's reads stop;
// they resume once the queue drains below low.
// A queue is measured in the pool memory its writes pin (one read buffer each, however
// few bytes it holds), so the watermarks bound memory per connection.
struct FlowLimits {
  size_t high_watermark_bytes = 1u << 20;
  size_t low_watermark_bytes = 256u << 10;
  size_t read_buffer_bytes = 64u << 10;
  int connect_timeout_ms = 10000;
  // proxy.tls_handshake_timeout_ms: the deadline for every TLS handshake of a connection.
  int tls_handshake_timeout_ms = 10000;
};

}  // namespace mcptap::proxy

// One route: a listening address and the upstream its connections are forwarded to.
#pragma once

#include <cstdint>
#include <string>

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

struct RouteConfig {
  std::string name;
  HostPort listen;
  HostPort upstream;
  bool capture = true;
  // "upstream": "original_dst": each connection goes where its client sent it before an
  // iptables/nftables REDIRECT rule diverted it here (SO_ORIGINAL_DST); `upstream` is unused.
  bool upstream_original_dst = false;
  RouteLimits limits;
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
};

}  // namespace mcptap::proxy

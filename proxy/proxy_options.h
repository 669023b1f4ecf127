// Settings of the proxy as a whole: its routes, flow limits, admin endpoint and shutdown.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "capture/record.h"
#include "proxy/route_config.h"

namespace mcptap::proxy {

// A captured record as one line of the /tail stream, "\n" included. The record's JSON is
// the sink's to define (from its column table), so whoever builds the proxy supplies it.
using TailFormatter = std::function<std::string(const capture::Record&)>;

struct AdminOptions {
  HostPort listen{"127.0.0.1", 9901};
  std::string token;  // required as a bearer token for changes and /tail when not empty
  // Host header values accepted besides loopback ones, the listen host and the address a
  // connection arrived on: "name" (any port) or "name:port".
  std::vector<std::string> allowed_hosts;
  // Formats the /tail lines; while empty, /tail answers 503.
  TailFormatter tail_line;
};

struct ProxyOptions {
  std::vector<RouteConfig> routes;
  FlowLimits flow;
  AdminOptions admin;
  int drain_timeout_ms = 10000;  // on SIGTERM/SIGINT, how long open connections may finish
};

}  // namespace mcptap::proxy

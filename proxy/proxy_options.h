// Settings of the proxy as a whole: its routes, flow limits, admin endpoint and shutdown.
#pragma once

#include <string>
#include <vector>

#include "proxy/route_config.h"

namespace mcptap::proxy {

struct AdminOptions {
  HostPort listen{"127.0.0.1", 9901};
  std::string token;  // required as a bearer token for changes and /tail when not empty
  // Host header values accepted besides loopback ones, the listen host and the address a
  // connection arrived on: "name" (any port) or "name:port".
  std::vector<std::string> allowed_hosts;
};

struct ProxyOptions {
  std::vector<RouteConfig> routes;
  FlowLimits flow;
  AdminOptions admin;
  int drain_timeout_ms = 10000;  // on SIGTERM/SIGINT, how long open connections may finish
};

}  // namespace mcptap::proxy

// Settings of the proxy as a whole: its routes, flow limits and shutdown behaviour.
#pragma once

#include <vector>

#include "proxy/route_config.h"

namespace mcptap::proxy {

struct ProxyOptions {
  std::vector<RouteConfig> routes;
  FlowLimits flow;
  int drain_timeout_ms = 10000;  // on SIGTERM/SIGINT, how long open connections may finish
};

}  // namespace mcptap::proxy

// What the control plane may see of the running routes, and the one change it may make:
// read-only counters and configuration, and a route's capture switch.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "capture/message_pipeline.h"
#include "proxy/route_config.h"
#include "proxy/session.h"

namespace mcptap::proxy {

// One running route as the control plane reads it; valid until the loop turn ends (a
// reload may replace the route).
struct RouteState {
  const RouteConfig& config;
  const RouteCounters& traffic;             // forwarding: connections, bytes, watermarks
  const capture::MessagePipeline& capture;  // capture: switch, budget, counters, rates
};

class RouteView {
 public:
  virtual ~RouteView() = default;

  // Every route, in the order /routes lists them.
  virtual std::vector<RouteState> routes() const = 0;
  virtual std::optional<RouteState> find_route(std::string_view name) const = 0;
  virtual bool ready() const = 0;
  virtual bool draining() const = 0;
  // Switches what a route captures from the next message on; fails when no route has
  // this name.
  virtual base::Status set_capture(std::string_view route, const capture::CaptureSwitch& next) = 0;
};

}  // namespace mcptap::proxy

// The per-route families of GET /metrics, read from the routes' counters.
#pragma once

#include <vector>

#include "proxy/prometheus.h"
#include "proxy/route_view.h"

namespace mcptap::proxy {

// Every route's forwarding, capture and correlation counters, one family at a time.
void write_route_metrics(PrometheusWriter& writer, const std::vector<RouteState>& routes);

}  // namespace mcptap::proxy

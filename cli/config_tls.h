// The TLS keys of a route: listen_tls, upstream_tls, and how they fit the route's upstream.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "proxy/route_config.h"

namespace mcptap::cli::config_detail {

// listen_tls at `path` ("routes[0].listen_tls"): a certificate of the route's own
// (cert_file + key_file), or intercept with a local CA; exactly one of them.
proxy::ListenTls read_listen_tls(const nlohmann::json& value, const std::string& path);
// upstream_tls at `path`: the route connects to its upstream over TLS, verified by default.
proxy::UpstreamTls read_upstream_tls(const nlohmann::json& value, const std::string& path);
// Once the whole route is read (`path` is "routes[0]"): interception needs original_dst, and
// implies upstream_tls when the route has none.
void check_route_tls(proxy::RouteConfig& route, const std::string& path);

}  // namespace mcptap::cli::config_detail

// The admin API on the proxy loop: health, readiness, metrics, routes, the per-route capture
// switch and a live tail of captured messages.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "capture/record.h"
#include "proxy/admin_server.h"
#include "proxy/prometheus.h"
#include "proxy/proxy_options.h"

namespace mcptap::proxy {

class ProxyServer;
struct ProxyRoute;

class ControlPlane {
 public:
  ControlPlane(ProxyServer& server, AdminOptions options);
  ~ControlPlane();

  bool start(uv_loop_t* loop, std::string* error);
  void close();
  uint16_t port() const;

  // Starts or stops observing a route's captured records (metrics, tail).
  void watch(ProxyRoute& route);
  void unwatch(ProxyRoute& route);

 private:
  struct TailStream {
    std::shared_ptr<AdminResponder> responder;
    std::string route;   // empty: every route
    std::string method;  // empty: every method
  };

  void handle(const AdminRequest& request, AdminResponder& responder);
  void get_readyz(AdminResponder& responder);
  void get_routes(AdminResponder& responder);
  void get_status(AdminResponder& responder);
  void get_metrics(AdminResponder& responder);
  void post_capture(const AdminRequest& request, std::string_view route, AdminResponder& responder);
  void start_tail(const AdminRequest& request, AdminResponder& responder);
  bool authorized(const AdminRequest& request) const;
  void on_record(const ProxyRoute& route, const capture::Record& record);
  LatencyHistogram& histogram_for(const std::string& route, const std::string& method);
  void write_route_metrics(PrometheusWriter& writer) const;

  ProxyServer& server_;
  AdminOptions options_;
  std::unique_ptr<AdminServer> admin_;
  std::vector<TailStream> tails_;
  // Latency per (route, method); methods per route are capped so that a peer inventing
  // method names cannot grow the label set without bound.
  std::map<std::pair<std::string, std::string>, std::unique_ptr<LatencyHistogram>> latency_;
  std::map<std::string, size_t> methods_per_route_;
  int64_t started_at_us_;
};

nlohmann::json route_json(const ProxyRoute& route);
std::string tail_line(const capture::Record& record);

}  // namespace mcptap::proxy

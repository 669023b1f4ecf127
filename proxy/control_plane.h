// The admin API on the proxy loop: health, readiness, metrics, routes, the per-route capture
// switch and a live tail of captured messages.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "capture/message_pipeline.h"
#include "capture/record.h"
#include "proxy/admin_access.h"
#include "proxy/admin_server.h"
#include "proxy/prometheus.h"
#include "proxy/proxy_options.h"
#include "proxy/route_view.h"
#include "proxy/status_source.h"

namespace mcptap::proxy {

// Loop thread only. Reads the routes through `routes` (the proxy server) and the sink's
// state through `status_source` (may be null); both outlive it. /tail streams each record
// as options.tail_line writes it.
class ControlPlane {
 public:
  ControlPlane(RouteView& routes, AdminOptions options, const StatusSource* status_source);
  ~ControlPlane();

  // Listens on options.listen; the error is one line naming the address.
  base::Status start(uv_loop_t* loop);
  void close();
  uint16_t port() const;

  // Starts or stops observing a route's captured records (latency metrics, tail).
  void watch(const std::string& route, capture::MessagePipeline& pipeline);
  void unwatch(capture::MessagePipeline& pipeline);

 private:
  struct TailStream {
    std::shared_ptr<AdminResponder> responder;
    std::string route;   // empty: every route
    std::string method;  // empty: every method
  };

  void handle(const AdminRequest& request, AdminResponder& responder);
  void route_request(const AdminRequest& request, AdminResponder& responder);
  // Answers a refusal and counts it; false when the request may go on.
  bool refused(const AdminRequest& request, AdminEndpointKind kind, AdminResponder& responder);
  void get_readyz(AdminResponder& responder);
  void get_routes(AdminResponder& responder);
  void get_status(AdminResponder& responder);
  void get_metrics(AdminResponder& responder);
  void post_capture(const AdminRequest& request, std::string_view route, AdminResponder& responder);
  void start_tail(const AdminRequest& request, AdminResponder& responder);
  void on_record(const std::string& route, const capture::Record& record);
  LatencyHistogram& histogram_for(const std::string& route, const std::string& method);
  void write_admin_metrics(PrometheusWriter& writer) const;

  RouteView& routes_;
  AdminOptions options_;
  const StatusSource* status_source_;
  AdminAccessPolicy access_;
  std::map<std::string, uint64_t> refusals_;  // by AdminRefusal::reason
  std::unique_ptr<AdminServer> admin_;
  std::vector<TailStream> tails_;
  // Latency per (route, method); methods per route are capped so that a peer inventing
  // method names cannot grow the label set without bound.
  std::map<std::pair<std::string, std::string>, std::unique_ptr<LatencyHistogram>> latency_;
  std::map<std::string, size_t> methods_per_route_;
  int64_t started_at_us_;
};

nlohmann::json route_json(const RouteState& route);

}  // namespace mcptap::proxy

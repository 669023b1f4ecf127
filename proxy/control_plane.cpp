// Admin API handlers: what each path answers, and the metrics it exposes.
#include "proxy/control_plane.h"

#include "base/clock.h"
#include "base/json_text.h"
#include "base/log.h"
#include "capture/message_pipeline.h"
#include "proxy/route_metrics.h"

namespace mcptap::proxy {
namespace {

constexpr size_t kMaxMethodsPerRoute = 64;
constexpr std::string_view kJson = "application/json";

// Parses {"enabled": bool, "sample": 0..1, "methods": [..]} into a switch; the error names the key
// at fault.
base::Status parse_switch(const std::string& body, capture::CaptureSwitch& out) {
  nlohmann::json document = nlohmann::json::parse(body, nullptr, false);
  if (document.is_discarded() || !document.is_object())
    return base::fail("body must be a JSON object");
  for (auto it = document.begin(); it != document.end(); ++it) {
    if (it.key() != "enabled" && it.key() != "sample" && it.key() != "methods") {
      return base::fail("unknown key \"" + it.key() + "\"");
    }
  }
  auto enabled = document.find("enabled");
  if (enabled == document.end() || !enabled->is_boolean())
    return base::fail("\"enabled\" must be true or false");
  out.enabled = enabled->get<bool>();
  if (auto sample = document.find("sample"); sample != document.end()) {
    if (!sample->is_number() || *sample < 0 || *sample > 1) {
      return base::fail("\"sample\" must be a number from 0 to 1");
    }
    out.sample = sample->get<double>();
  }
  if (auto methods = document.find("methods"); methods != document.end()) {
    if (!methods->is_array()) return base::fail("\"methods\" must be an array of strings");
    out.methods.clear();
    for (const auto& method : *methods) {
      if (!method.is_string()) return base::fail("\"methods\" must be an array of strings");
      out.methods.push_back(method.get<std::string>());
    }
  }
  return {};
}

// The route's captured volume now and what it comes to in a day; GB are 10^9 bytes.
nlohmann::json capture_rate_json(const capture::MessagePipeline& pipeline) {
  constexpr double kSecondsPerDay = 86400;
  capture::CaptureRates rates = pipeline.rates();
  return {{"window_s", rates.window_seconds},
          {"rows_per_second", rates.rows_per_second},
          {"bytes_per_second", rates.bytes_per_second},
          {"rows_per_day", rates.rows_per_second * kSecondsPerDay},
          {"gb_per_day", rates.bytes_per_second * kSecondsPerDay / 1e9}};
}

// How the route speaks TLS, for /routes: "terminate" or "intercept" towards clients,
// whether it originates TLS upstream, and its handshakes and failures so far.
nlohmann::json tls_json(const RouteState& route) {
  const RouteConfig& config = route.config;
  const TlsCounters& tls = route.traffic.tls;
  uint64_t failures = 0;
  uint64_t handshakes = 0;
  for (size_t side = 0; side < 2; ++side) {
    for (uint64_t count : tls.handshake_failures[side]) failures += count;
    handshakes += tls.handshakes[side][0] + tls.handshakes[side][1];
  }
  nlohmann::json listen = nullptr;
  if (config.listen_tls) listen = config.listen_tls->intercept ? "intercept" : "terminate";
  return {{"listen", listen},
          {"upstream", config.upstream_tls.has_value()},
          {"handshakes", handshakes},
          {"handshake_failures", failures}};
}

}  // namespace

nlohmann::json route_json(const RouteState& route) {
  const RouteCounters& traffic = route.traffic;
  const capture::CaptureCounters& capture = route.capture.counters();
  const capture::CaptureSwitch& capture_switch = route.capture.capture_switch();
  nlohmann::json json = {
      {"name", route.config.name},
      {"listen", route.config.listen.to_string()},
      {"upstream", route.config.upstream_text()},
      {"capture", capture_switch.enabled},
      {"sample", capture_switch.sample},
      {"methods", capture_switch.methods},
      {"connections_open", traffic.connections_open},
      {"connections_total", traffic.connections_total},
      {"bytes_client_to_server", traffic.bytes_client_to_server},
      {"bytes_server_to_client", traffic.bytes_server_to_client},
      {"messages_captured", capture.captured},
      {"messages_dropped", capture.dropped},
      {"messages_invalid", capture.invalid},
      {"messages_redacted", capture.redacted},
      {"messages_filtered", capture.filtered},
      {"capture_budget_skipped", capture.budget_skipped},
      {"capture_budget",
       {{"max_messages_per_second", route.capture.budget().max_messages_per_second},
        {"max_bytes_per_second", route.capture.budget().max_bytes_per_second}}},
      {"capture_rate", capture_rate_json(route.capture)},
      {"watermark_pauses", traffic.watermark_pauses},
      {"upstream_connect_failures", traffic.upstream_connect_failures},
      {"connections_rejected", traffic.connections_rejected},
      {"idle_timeouts", traffic.idle_timeouts},
      {"accept_pauses", traffic.accept_pauses}};
  if (route.config.listen_tls || route.config.upstream_tls) json["tls"] = tls_json(route);
  return json;
}

ControlPlane::ControlPlane(RouteView& routes, AdminOptions options,
                           const StatusSource* status_source)
    : routes_(routes),
      options_(std::move(options)),
      status_source_(status_source),
      access_{options_.token, options_.listen.host, options_.allowed_hosts},
      started_at_us_(base::unix_now_us()) {
  for (std::string_view reason : kAdminRefusalReasons) refusals_[std::string(reason)] = 0;
}

ControlPlane::~ControlPlane() = default;

base::Status ControlPlane::start(uv_loop_t* loop) {
  admin_ = std::make_unique<AdminServer>(
      loop, [this](const AdminRequest& request, AdminResponder& responder) {
        handle(request, responder);
      });
  return admin_->start(options_.listen);
}

void ControlPlane::close() {
  for (TailStream& tail : tails_) tail.responder->end();
  tails_.clear();
  if (admin_) admin_->close([] {});
}

uint16_t ControlPlane::port() const {
  return admin_ ? admin_->bound_port() : 0;
}

void ControlPlane::watch(const std::string& route, capture::MessagePipeline& pipeline) {
  pipeline.set_record_observer(
      [this, route](const capture::Record& record) { on_record(route, record); });
}

void ControlPlane::unwatch(capture::MessagePipeline& pipeline) {
  pipeline.set_record_observer(nullptr);
}

namespace {

// What a path holds decides who may ask for it (see admin_access.h).
AdminEndpointKind endpoint_kind(const std::string& path) {
  if (path == "/healthz" || path == "/readyz") return AdminEndpointKind::Probe;
  if (path == "/tail") return AdminEndpointKind::CapturedContent;
  if (path.starts_with("/routes/")) return AdminEndpointKind::Change;
  return AdminEndpointKind::Open;  // /metrics, /routes, /status, unknown paths
}

}  // namespace

void ControlPlane::handle(const AdminRequest& request, AdminResponder& responder) {
  if (refused(request, endpoint_kind(request.path), responder)) return;
  route_request(request, responder);
}

bool ControlPlane::refused(const AdminRequest& request, AdminEndpointKind kind,
                           AdminResponder& responder) {
  std::optional<AdminRefusal> refusal = check_admin_access(request, kind, access_);
  if (!refusal) return false;
  ++refusals_[refusal->reason];
  HttpHeaders headers;
  if (refusal->status == 401) headers.emplace_back("WWW-Authenticate", "Bearer");
  responder.respond_error(refusal->status, refusal->message, headers);
  return true;
}

void ControlPlane::route_request(const AdminRequest& request, AdminResponder& responder) {
  const std::string& path = request.path;
  bool get = request.method == "GET" || request.method == "HEAD";
  if (path == "/healthz" && get) {
    responder.respond(200, "text/plain", "ok\n");
  } else if (path == "/readyz" && get) {
    get_readyz(responder);
  } else if (path == "/metrics" && get) {
    get_metrics(responder);
  } else if (path == "/routes" && get) {
    get_routes(responder);
  } else if (path == "/status" && get) {
    get_status(responder);
  } else if (path == "/tail" && get) {
    start_tail(request, responder);
  } else if (path.starts_with("/routes/") && path.ends_with("/capture")) {
    if (request.method != "POST") {
      responder.respond_error(405, "use POST", {{"Allow", "POST"}});
      return;
    }
    std::string_view name = std::string_view(path).substr(8, path.size() - 8 - 8);
    post_capture(request, name, responder);
  } else if (path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/routes" ||
             path == "/status" || path == "/tail") {
    responder.respond_error(405, "use GET", {{"Allow", "GET"}});
  } else {
    responder.respond_error(404, "no such endpoint: " + path);
  }
}

void ControlPlane::post_capture(const AdminRequest& request, std::string_view name,
                                AdminResponder& responder) {
  std::optional<RouteState> route = routes_.find_route(name);
  if (!route) {
    responder.respond_error(404, "no route named \"" + std::string(name) + "\"");
    return;
  }
  capture::CaptureSwitch next = route->capture.capture_switch();
  next.sample = 1.0;
  next.methods.clear();
  if (base::Status parsed = parse_switch(request.body, next); !parsed) {
    responder.respond_error(400, parsed.error().message);
    return;
  }
  if (base::Status switched = routes_.set_capture(name, next); !switched) {
    responder.respond_error(404, switched.error().message);
    return;
  }
  base::log_info("capture switched", {{"route", route->config.name},
                                      {"enabled", next.enabled},
                                      {"sample", next.sample},
                                      {"methods", next.methods}});
  responder.respond(200, kJson, base::json_text(route_json(*route)));
}

// Readiness is about forwarding: a capture problem keeps 200 (taking a sidecar out of
// service would stop the traffic it only records), but the body says capture is degraded.
void ControlPlane::get_readyz(AdminResponder& responder) {
  if (!routes_.ready()) {
    responder.respond(503, "text/plain", "not ready\n");
    return;
  }
  std::optional<std::string> degraded =
      status_source_ ? status_source_->capture_degraded() : std::nullopt;
  responder.respond(200, "text/plain",
                    degraded ? "ready\ncapture: degraded (" + *degraded + ")\n" : "ready\n");
}

void ControlPlane::get_routes(AdminResponder& responder) {
  nlohmann::json routes = nlohmann::json::array();
  for (const RouteState& route : routes_.routes()) routes.push_back(route_json(route));
  responder.respond(200, kJson, base::json_text(routes));
}

void ControlPlane::get_status(AdminResponder& responder) {
  nlohmann::json routes = nlohmann::json::array();
  for (const RouteState& route : routes_.routes()) routes.push_back(route_json(route));
  nlohmann::json status = {
      {"version", MCPTAP_VERSION_STRING},
      {"uptime_s", static_cast<double>(base::unix_now_us() - started_at_us_) / 1e6},
      {"ready", routes_.ready()},
      {"draining", routes_.draining()},
      {"tail_streams", std::count_if(tails_.begin(), tails_.end(),  // live `mcptap tail`s
                                     [](const TailStream& t) { return t.responder->open(); })},
      {"sink", status_source_ ? status_source_->status_json() : nlohmann::json::object()},
      {"routes", std::move(routes)}};
  responder.respond(200, kJson, base::json_text(status));
}

void ControlPlane::start_tail(const AdminRequest& request, AdminResponder& responder) {
  if (!options_.tail_line) {
    responder.respond_error(503, "no tail formatter: this server streams no records");
    return;
  }
  TailStream tail;
  if (auto it = request.query.find("route"); it != request.query.end()) tail.route = it->second;
  if (auto it = request.query.find("method"); it != request.query.end()) tail.method = it->second;
  if (!tail.route.empty() && !routes_.find_route(tail.route)) {
    responder.respond_error(404, "no route named \"" + tail.route + "\"");
    return;
  }
  // Streams closed since the last record leave now, so their slots are not counted twice.
  std::erase_if(tails_, [](const TailStream& t) { return !t.responder->open(); });
  // At max_streams this answers 503 itself.
  if (!responder.start_stream(200, "application/x-ndjson")) return;
  tail.responder = responder.shared_from_this();
  tails_.push_back(std::move(tail));
}

void ControlPlane::on_record(const std::string& route, const capture::Record& record) {
  if (record.latency_us && record.method) {
    histogram_for(route, *record.method)
        .observe_microseconds(static_cast<uint64_t>(std::max<int64_t>(*record.latency_us, 0)));
  }
  if (tails_.empty()) return;
  std::string line;
  for (size_t i = 0; i < tails_.size();) {
    TailStream& tail = tails_[i];
    bool wanted = (tail.route.empty() || tail.route == record.route) &&
                  (tail.method.empty() || (record.method && *record.method == tail.method));
    if (wanted && line.empty()) line = options_.tail_line(record);
    if (!tail.responder->open() ||
        (wanted && tail.responder->send(line) == AdminResponder::SendResult::Closed)) {
      tails_.erase(tails_.begin() + static_cast<long>(i));  // the client went away
      continue;
    }
    ++i;
  }
}

// The method comes off the wire: a long or odd one is "other", and past 64 names per route
// every new one is too, so a route has at most 65 histograms of bounded size.
LatencyHistogram& ControlPlane::histogram_for(const std::string& route, const std::string& method) {
  auto key = std::make_pair(route, std::string(prometheus_wire_label(method)));
  auto it = latency_.find(key);
  if (it != latency_.end()) return *it->second;
  if (methods_per_route_[route] >= kMaxMethodsPerRoute) {
    key.second = "other";
    it = latency_.find(key);
    if (it != latency_.end()) return *it->second;
  }
  ++methods_per_route_[route];
  return *latency_.emplace(key, std::make_unique<LatencyHistogram>()).first->second;
}

void ControlPlane::get_metrics(AdminResponder& responder) {
  PrometheusWriter writer;
  write_route_metrics(writer, routes_.routes());
  if (status_source_) status_source_->write_metrics(writer);
  writer.family("mcptap_request_latency_seconds", MetricType::Histogram,
                "Time from a request's last byte to its response's last byte, for captured "
                "exchanges only: nothing is observed while capture is off.");
  for (const auto& [key, histogram] : latency_) {
    writer.histogram({{"route", key.first}, {"method", key.second}}, *histogram);
  }
  write_admin_metrics(writer);
  if (!writer.status()) base::log_warn("metrics", {{"error", writer.status().error().message}});
  responder.respond(200, PrometheusWriter::kContentType, writer.text());
}

void ControlPlane::write_admin_metrics(PrometheusWriter& writer) const {
  AdminServerCounters counters = admin_ ? admin_->counters() : AdminServerCounters{};
  writer.family("mcptap_admin_tail_streams", MetricType::Gauge, "Open /tail streams.");
  writer.sample({}, admin_ ? admin_->open_streams() : 0);
  writer.family("mcptap_admin_stream_queued_bytes", MetricType::Gauge,
                "Output of all /tail streams not yet taken by their clients.");
  writer.sample({}, admin_ ? admin_->stream_queued_bytes() : 0);
  writer.family("mcptap_admin_stream_cutoffs_total", MetricType::Counter,
                "Tail streams closed because their client fell behind. Tail lines are captured "
                "records: none while capture is off.");
  writer.sample({}, counters.stream_cutoffs);
  writer.family("mcptap_admin_connections_evicted_total", MetricType::Counter,
                "Admin connections without a complete request closed to make room for a new "
                "one.");
  writer.sample({}, counters.connections_evicted);
  writer.family("mcptap_admin_connections_rejected_total", MetricType::Counter,
                "Admin connections closed on accept because every slot was streaming.");
  writer.sample({}, counters.connections_rejected);
  writer.family("mcptap_admin_requests_refused_total", MetricType::Counter,
                "Admin requests refused: foreign Host, Origin present, missing token, no token "
                "configured for captured content, not JSON, too many streams, pipelined behind "
                "a stream, request not whole in time.");
  for (const auto& [reason, count] : refusals_) writer.sample({{"reason", reason}}, count);
  writer.sample({{"reason", "too_many_streams"}}, counters.streams_refused);
  writer.sample({{"reason", "behind_stream"}}, counters.refused_behind_stream);
  writer.sample({{"reason", "request_timeout"}}, counters.request_timeouts);
}

}  // namespace mcptap::proxy

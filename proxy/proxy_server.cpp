// Start-up, signals and graceful drain of the proxy loop, and the routes as the control
// plane sees them. Applying a new configuration is in proxy_server_apply.cpp.
#include "proxy/proxy_server.h"

#include <cassert>
#include <csignal>

#include "base/log.h"
#include "capture/connection_capture.h"
#include "proxy/control_plane.h"

namespace mcptap::proxy {

using base::log_info;
using base::log_warn;

ProxyServer::ProxyServer(ProxyOptions options, capture::CaptureOptions capture_options,
                         const capture::Redactor& redactor, capture::RecordConsumer& consumer,
                         const StatusSource* status_source)
    : options_(std::move(options)),
      capture_options_(capture_options),
      redactor_(redactor),
      consumer_(consumer),
      status_source_(status_source) {
  int status = uv_loop_init(&loop_);
  assert(status == 0);
  (void)status;
  buffers_ = std::make_unique<BufferPool>(options_.flow.read_buffer_bytes);
  control_plane_ = std::make_unique<ControlPlane>(*this, options_.admin, status_source_);
}

ProxyServer::~ProxyServer() {
  // run() leaves no handle behind; a server that did not run closes what it opened here.
  if (!finishing_) {
    draining_ = true;
    finish_drain();
  }
  run_until_closed();
  routes_.clear();
  control_plane_.reset();
  buffers_.reset();
  uv_loop_close(&loop_);
}

void ProxyServer::run_until_closed() {
  uv_run(&loop_, UV_RUN_DEFAULT);
}

std::unique_ptr<ProxyRoute> ProxyServer::make_route(const RouteConfig& config,
                                                    std::shared_ptr<RouteTls> tls) {
  auto route = std::make_unique<ProxyRoute>();
  route->config = config;
  route->tls = std::move(tls);
  route->pipeline = std::make_unique<capture::MessagePipeline>(config.name, capture_options_,
                                                               redactor_, consumer_);
  route->pipeline->set_enabled(config.capture);
  route->pipeline->set_budget(config.limits.capture_budget);
  control_plane_->watch(config.name, *route->pipeline);
  capture::MessagePipeline* pipeline = route->pipeline.get();
  // Every connection gets a tap, even while capture is off, so that switching capture on
  // applies to messages that start afterwards on connections already open.
  TapFactory tap_factory = [pipeline](const std::string& connection_id) {
    return std::unique_ptr<capture::StreamTap>(
        std::make_unique<capture::ConnectionCapture>(*pipeline, connection_id));
  };
  route->listener =
      std::make_unique<Listener>(&loop_, config, options_.flow, *buffers_, tap_factory);
  route->listener->set_tls(route->tls);
  return route;
}

// Certificate and key files are read on the loop thread, at start and on each reload:
// a few small files, and a reload waits for them anyway.
base::Result<ProxyServer::RouteTlsByName> ProxyServer::load_tls(
    const std::vector<RouteConfig>& routes) {
  RouteTlsByName loaded;
  for (const RouteConfig& config : routes) {
    base::Result<std::shared_ptr<RouteTls>> tls = load_route_tls(config);
    if (!tls) return tls.error();
    loaded[config.name] = std::move(tls).value();
  }
  return loaded;
}

void ProxyServer::log_tls_ready(const ProxyRoute& route) {
  if (!route.tls) return;
  auto log_side = [&](const nlohmann::json& description, const std::vector<std::string>& warnings) {
    nlohmann::json fields = description;
    fields["route"] = route.config.name;
    log_info("tls ready", fields);
    for (const std::string& warning : warnings)
      log_warn("tls warning", {{"route", route.config.name}, {"warning", warning}});
  };
  if (route.tls->listen) log_side(route.tls->listen->description(), route.tls->listen->warnings());
  if (route.tls->upstream)
    log_side(route.tls->upstream->description(), route.tls->upstream->warnings());
}

base::Status ProxyServer::start() {
  base::Result<RouteTlsByName> tls = load_tls(options_.routes);
  if (!tls) return tls.error();
  for (const RouteConfig& config : options_.routes) {
    routes_.push_back(make_route(config, tls->at(config.name)));
    // On failure the destructor closes what was opened.
    if (base::Status listening = routes_.back()->listener->start(); !listening) return listening;
  }
  if (base::Status listening = control_plane_->start(&loop_); !listening) return listening;
  own_handles_open_ = true;
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sighup_);
  uv_timer_init(&loop_, &drain_timer_);
  sigterm_.data = sigint_.data = sighup_.data = drain_timer_.data = this;
  uv_signal_start(&sigterm_, &ProxyServer::on_signal, SIGTERM);
  uv_signal_start(&sigint_, &ProxyServer::on_signal, SIGINT);
  uv_signal_start(&sighup_, &ProxyServer::on_signal, SIGHUP);
  ready_ = true;
  for (const auto& route : routes_) {
    log_info("listening", {{"route", route->config.name},
                           {"listen", route->config.listen.to_string()},
                           {"upstream", route->config.upstream_text()},
                           {"capture", route->config.capture}});
    log_tls_ready(*route);
  }
  log_info("admin listening",
           {{"listen", options_.admin.listen.host + ":" + std::to_string(control_plane_->port())}});
  return {};
}

void ProxyServer::run() {
  run_until_closed();
}

void ProxyServer::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<ProxyServer*>(handle->data);
  if (signum == SIGHUP) {
    self->reload();
    return;
  }
  if (self->draining_) {
    // A second signal means "now": whatever is still open is closed at once.
    log_info("second signal: closing open connections", {{"signal", signum}});
    self->finish_drain();
    return;
  }
  log_info("draining", {{"signal", signum},
                        {"open_connections", self->open_sessions()},
                        {"drain_timeout_ms", self->options_.drain_timeout_ms}});
  self->request_shutdown();
}

// The new configuration is read here (a small local file); its listen names are resolved
// off the loop by apply.
void ProxyServer::reload() {
  if (!reload_source_ || draining_) return;
  std::optional<ProxyOptions> fresh = reload_source_();
  if (!fresh) return;  // the source said why; the running configuration stays
  apply(std::move(*fresh), [this](base::Status applied) {
    if (!applied) {
      log_warn("reload rejected; the running configuration stays",
               {{"error", applied.error().message}});
      return;
    }
    log_info("configuration reloaded", {{"routes", routes_.size()}});
  });
}

void ProxyServer::request_shutdown() {
  if (draining_) return;
  draining_ = true;
  ready_ = false;
  for (const auto& route : routes_) route->listener->stop_accepting();
  if (!own_handles_open_) return;
  drain_deadline_ms_ = uv_now(&loop_) + static_cast<uint64_t>(options_.drain_timeout_ms);
  uv_timer_start(&drain_timer_, &ProxyServer::on_drain_tick, 0, 50);
}

void ProxyServer::on_drain_tick(uv_timer_t* handle) {
  auto* self = static_cast<ProxyServer*>(handle->data);
  bool drained = self->open_sessions() == 0;
  if (drained || uv_now(&self->loop_) >= self->drain_deadline_ms_) {
    if (!drained) {
      log_info("drain timeout: closing open connections",
               {{"open_connections", self->open_sessions()}});
    }
    self->finish_drain();
  }
}

size_t ProxyServer::open_sessions() const {
  size_t open = 0;
  for (const auto& route : routes_) open += route->listener->open_sessions();
  return open;
}

void ProxyServer::finish_drain() {
  if (finishing_) return;
  finishing_ = true;
  ready_ = false;
  cancel_pending_apply("the proxy is shutting down");
  for (const auto& route : routes_) route->listener->close([] {});
  control_plane_->close();
  close_own_handles();
}

void ProxyServer::close_own_handles() {
  if (!own_handles_open_) return;
  own_handles_open_ = false;
  for (uv_handle_t* handle :
       {reinterpret_cast<uv_handle_t*>(&sigterm_), reinterpret_cast<uv_handle_t*>(&sigint_),
        reinterpret_cast<uv_handle_t*>(&sighup_), reinterpret_cast<uv_handle_t*>(&drain_timer_)}) {
    uv_close(handle, nullptr);
  }
}

ProxyRoute* ProxyServer::running_route(std::string_view name) const {
  for (const auto& route : routes_) {
    if (route->config.name == name) return route.get();
  }
  return nullptr;
}

std::vector<RouteState> ProxyServer::routes() const {
  std::vector<RouteState> states;
  states.reserve(routes_.size());
  for (const auto& route : routes_) {
    states.push_back({route->config, route->listener->counters(), *route->pipeline});
  }
  return states;
}

std::optional<RouteState> ProxyServer::find_route(std::string_view name) const {
  const ProxyRoute* route = running_route(name);
  if (!route) return std::nullopt;
  return RouteState{route->config, route->listener->counters(), *route->pipeline};
}

base::Status ProxyServer::set_capture(std::string_view name, const capture::CaptureSwitch& next) {
  ProxyRoute* route = running_route(name);
  if (!route) return base::fail("no route named \"" + std::string(name) + "\"");
  route->pipeline->set_capture_switch(next);
  return {};
}

uint16_t ProxyServer::bound_port(const std::string& route) const {
  const ProxyRoute* entry = running_route(route);
  return entry ? entry->listener->bound_port() : 0;
}

uint16_t ProxyServer::admin_port() const {
  return control_plane_->port();
}

}  // namespace mcptap::proxy

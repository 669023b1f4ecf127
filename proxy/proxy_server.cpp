// Start-up, signals and graceful drain of the proxy loop.
#include "proxy/proxy_server.h"

#include <cassert>
#include <csignal>
#include <cstdio>

#include "capture/connection_capture.h"
#include "capture/log.h"

namespace mcptap::proxy {

using capture::log_info;

ProxyServer::ProxyServer(ProxyOptions options, capture::CaptureOptions capture_options,
                         const capture::Redactor& redactor, capture::RecordConsumer& consumer)
    : options_(std::move(options)),
      capture_options_(capture_options),
      redactor_(redactor),
      consumer_(consumer) {
  int status = uv_loop_init(&loop_);
  assert(status == 0);
  (void)status;
  buffers_ = std::make_unique<BufferPool>(options_.flow.read_buffer_bytes);
}

ProxyServer::~ProxyServer() {
  // run() leaves no handle behind; a server that never ran still owns an empty loop.
  if (!routes_.empty() && !finishing_) {
    request_shutdown();
    finish_drain();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  routes_.clear();
  uv_loop_close(&loop_);
}

bool ProxyServer::start(std::string* error) {
  for (const RouteConfig& config : options_.routes) {
    auto route = std::make_unique<Route>();
    route->config = config;
    route->pipeline = std::make_unique<capture::MessagePipeline>(config.name, capture_options_,
                                                                 redactor_, consumer_);
    route->pipeline->set_enabled(config.capture);
    capture::MessagePipeline* pipeline = route->pipeline.get();
    // Capture is decided per connection: a connection opened while capture is off costs
    // nothing beyond forwarding.
    TapFactory tap_factory = [pipeline](const std::string& connection_id) {
      std::unique_ptr<capture::StreamTap> tap;
      if (pipeline->enabled()) {
        tap = std::make_unique<capture::ConnectionCapture>(*pipeline, connection_id);
      }
      return tap;
    };
    route->listener =
        std::make_unique<Listener>(&loop_, config, options_.flow, *buffers_, tap_factory);
    if (!route->listener->start(error)) {
      routes_.push_back(std::move(route));
      request_shutdown();
      finish_drain();
      uv_run(&loop_, UV_RUN_DEFAULT);
      routes_.clear();
      return false;
    }
    routes_.push_back(std::move(route));
  }
  own_handles_open_ = true;
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_timer_init(&loop_, &drain_timer_);
  sigterm_.data = sigint_.data = drain_timer_.data = this;
  uv_signal_start(&sigterm_, &ProxyServer::on_signal, SIGTERM);
  uv_signal_start(&sigint_, &ProxyServer::on_signal, SIGINT);
  ready_ = true;
  for (const auto& route : routes_) {
    log_info("listening", {{"route", route->config.name},
                           {"listen", route->config.listen.to_string()},
                           {"upstream", route->config.upstream.to_string()},
                           {"capture", route->config.capture}});
  }
  return true;
}

void ProxyServer::run() { uv_run(&loop_, UV_RUN_DEFAULT); }

void ProxyServer::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<ProxyServer*>(handle->data);
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
  for (const auto& route : routes_) {
    route->listener->close_all_sessions();
    route->listener->close([] {});
  }
  close_own_handles();
}

void ProxyServer::close_own_handles() {
  if (!own_handles_open_) return;
  own_handles_open_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
}

uint16_t ProxyServer::bound_port(const std::string& route) const {
  for (const auto& entry : routes_) {
    if (entry->config.name == route) return entry->listener->bound_port();
  }
  return 0;
}

}  // namespace mcptap::proxy

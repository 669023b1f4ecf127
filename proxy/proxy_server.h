// The proxy process: one libuv loop with a listener per route, the admin endpoint, signal
// handling (drain on SIGTERM/SIGINT, reload on SIGHUP).
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "capture/message_pipeline.h"
#include "capture/redactor.h"
#include "proxy/buffer_pool.h"
#include "proxy/listener.h"
#include "proxy/proxy_options.h"
#include "proxy/status_source.h"

namespace mcptap::proxy {

class ControlPlane;

// One route as it runs: its configuration, capture pipeline and listener.
struct ProxyRoute {
  RouteConfig config;
  std::unique_ptr<capture::MessagePipeline> pipeline;
  std::unique_ptr<Listener> listener;
};

class ProxyServer {
 public:
  // Reads the configuration again for SIGHUP; nullopt (after logging why) keeps the old one.
  using ReloadSource = std::function<std::optional<ProxyOptions>()>;

  ProxyServer(ProxyOptions options, capture::CaptureOptions capture_options,
              const capture::Redactor& redactor, capture::RecordConsumer& consumer,
              const StatusSource* status_source = nullptr);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  void set_reload_source(ReloadSource source) { reload_source_ = std::move(source); }

  // Binds every route's listener and the admin endpoint. On failure *error names what
  // could not bind, and nothing stays bound.
  bool start(std::string* error);
  // Runs the loop until a drain after SIGTERM/SIGINT (or request_shutdown) has finished.
  void run();
  // Stops accepting; open connections get drain_timeout_ms to finish, then are closed.
  void request_shutdown();
  // Applies a new configuration: routes added, removed or changed; the open connections
  // of unchanged routes are not touched. Returns false (and changes nothing) when a new
  // listener cannot bind.
  bool apply(const ProxyOptions& options, std::string* error);

  bool ready() const { return ready_; }
  bool draining() const { return draining_; }
  uv_loop_t* loop() { return &loop_; }
  const std::vector<std::unique_ptr<ProxyRoute>>& routes() const { return routes_; }
  ProxyRoute* find_route(std::string_view name);
  uint16_t bound_port(const std::string& route) const;
  uint16_t admin_port() const;
  const StatusSource* status_source() const { return status_source_; }

 private:
  std::unique_ptr<ProxyRoute> make_route(const RouteConfig& config);
  void retire_route(std::unique_ptr<ProxyRoute> route);
  void reload();
  static void on_signal(uv_signal_t* handle, int signum);
  static void on_drain_tick(uv_timer_t* handle);
  size_t open_sessions() const;
  void finish_drain();
  void close_own_handles();
  void run_until_closed();

  ProxyOptions options_;
  capture::CaptureOptions capture_options_;
  const capture::Redactor& redactor_;
  capture::RecordConsumer& consumer_;
  const StatusSource* status_source_;
  ReloadSource reload_source_;
  uv_loop_t loop_;
  std::unique_ptr<BufferPool> buffers_;
  std::vector<std::unique_ptr<ProxyRoute>> routes_;
  // Routes removed by a reload whose connections are still finishing.
  std::vector<std::unique_ptr<ProxyRoute>> retiring_;
  std::unique_ptr<ControlPlane> control_plane_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  uv_signal_t sighup_;
  uv_timer_t drain_timer_;
  uint64_t drain_deadline_ms_ = 0;
  bool draining_ = false;
  bool finishing_ = false;
  bool ready_ = false;
  bool own_handles_open_ = false;  // signals and drain timer initialised, not yet closed
};

}  // namespace mcptap::proxy

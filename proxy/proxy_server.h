// The proxy process: one libuv loop with a listener per route, the admin endpoint, signal
// handling (drain on SIGTERM/SIGINT, reload on SIGHUP).
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/resolver.h"
#include "base/result.h"
#include "capture/message_pipeline.h"
#include "capture/redactor.h"
#include "proxy/buffer_pool.h"
#include "proxy/listener.h"
#include "proxy/proxy_options.h"
#include "proxy/route_view.h"
#include "proxy/status_source.h"
#include "proxy/tls_context.h"

namespace mcptap::proxy {

class ControlPlane;

// One route as it runs: its configuration, capture pipeline and listener.
struct ProxyRoute {
  RouteConfig config;
  std::unique_ptr<capture::MessagePipeline> pipeline;
  std::unique_ptr<Listener> listener;
  std::shared_ptr<RouteTls> tls;  // null: no TLS on the route
};

// Loop thread only, apart from construction and destruction.
class ProxyServer : public RouteView {
 public:
  // Reads the configuration again for SIGHUP; nullopt (after logging why) keeps the old one.
  using ReloadSource = std::function<std::optional<ProxyOptions>()>;
  using ApplyDone = std::function<void(base::Status)>;

  ProxyServer(ProxyOptions options, capture::CaptureOptions capture_options,
              const capture::Redactor& redactor, capture::RecordConsumer& consumer,
              const StatusSource* status_source = nullptr);
  ~ProxyServer() override;
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  void set_reload_source(ReloadSource source) { reload_source_ = std::move(source); }

  // Binds every route's listener and the admin endpoint (resolving listen names blocking,
  // as start-up may). The error names what could not bind; nothing stays bound then.
  base::Status start();
  // Runs the loop until a drain after SIGTERM/SIGINT (or request_shutdown) has finished.
  void run();
  // Stops accepting; open connections get drain_timeout_ms to finish, then are closed.
  void request_shutdown();
  // Applies a new configuration: routes added, removed or changed; the open connections
  // of unchanged routes are not touched, a route whose upstream changed keeps its socket.
  // New listen host names are resolved on the thread pool first, so the loop never waits
  // for DNS. All or nothing: when a name cannot be resolved or a listener cannot listen,
  // `done` gets that error and the running routes stay as they were. `done` runs on the
  // loop thread, possibly before apply returns; a newer apply supersedes one still
  // resolving (whose `done` then says so).
  void apply(ProxyOptions options, ApplyDone done);

  uv_loop_t* loop() { return &loop_; }
  uint16_t bound_port(const std::string& route) const;
  uint16_t admin_port() const;

  // RouteView: what the control plane reads and switches.
  std::vector<RouteState> routes() const override;
  std::optional<RouteState> find_route(std::string_view name) const override;
  bool ready() const override { return ready_; }
  bool draining() const override { return draining_; }
  base::Status set_capture(std::string_view route, const capture::CaptureSwitch& next) override;

 private:
  // An apply waiting for the thread pool to resolve its new listen names.
  struct PendingApply {
    ProxyOptions options;
    ApplyDone done;
    std::map<std::string, std::unique_ptr<base::Resolver>> lookups;  // by route name
    size_t answered = 0;
    std::map<std::string, sockaddr_storage> resolved;  // by route name
    std::optional<base::Error> failure;                // the first lookup that failed
  };

  // Every route's TLS files, read and checked again (null for a route without TLS).
  using RouteTlsByName = std::map<std::string, std::shared_ptr<RouteTls>>;

  std::unique_ptr<ProxyRoute> make_route(const RouteConfig& config, std::shared_ptr<RouteTls> tls);
  static base::Result<RouteTlsByName> load_tls(const std::vector<RouteConfig>& routes);
  static void log_tls_ready(const ProxyRoute& route);
  ProxyRoute* running_route(std::string_view name) const;
  bool needs_new_address(const RouteConfig& config) const;
  void on_listen_resolved(const std::string& route, int status);
  void finish_pending_apply();
  void cancel_pending_apply(const std::string& why);
  base::Status apply_resolved(const ProxyOptions& options,
                              const std::map<std::string, sockaddr_storage>& resolved);
  base::Result<std::unique_ptr<ProxyRoute>> start_replacement(
      const RouteConfig& config, const std::map<std::string, sockaddr_storage>& resolved,
      std::shared_ptr<RouteTls> tls);
  void install(const ProxyOptions& options, std::vector<std::unique_ptr<ProxyRoute>> fresh,
               const RouteTlsByName& tls);
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
  std::unique_ptr<PendingApply> pending_apply_;  // an apply waiting for its listen names
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

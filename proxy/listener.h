// One route's listening socket: accepts connections and owns a Session for each of them.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "capture/stream_tap.h"
#include "proxy/buffer_pool.h"
#include "proxy/route_config.h"
#include "proxy/session.h"

namespace mcptap::proxy {

// Makes the capture tap of one new connection; may return null (no capture for it).
using TapFactory =
    std::function<std::unique_ptr<capture::StreamTap>(const std::string& connection_id)>;

// Loop thread only. The Listener must outlive its handles: after start() (whether it
// succeeded or not) call close() and let the loop run until on_closed before destroying it.
class Listener : private SessionOwner {
 public:
  static constexpr int kBacklog = 511;
  // How long accepting pauses when the process runs out of descriptors.
  static constexpr uint64_t kAcceptRetryMs = 100;

  Listener(uv_loop_t* loop, RouteConfig route, FlowLimits limits, BufferPool& pool,
           TapFactory tap_factory);
  ~Listener() override;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens on the route's listen address, resolving a name there and then:
  // for start-up, where waiting for DNS is acceptable. On failure the error is one line
  // such as "route gates: cannot listen on 0.0.0.0:9001: address already in use".
  base::Status start();
  // Binds and listens on an address already resolved (the listen host's), without DNS.
  base::Status start_at(const sockaddr_storage& address);
  // Listens on a socket another listener of the same address holds (see
  // duplicate_socket()), so a route can be replaced without giving its port up: no client
  // is refused meanwhile and nothing else can take the port. Owns `listening_fd` from now on.
  base::Status adopt(int listening_fd);
  // A new descriptor for this listener's bound socket, for adopt(); fails once accepting
  // stopped, or when the process is out of descriptors.
  base::Result<int> duplicate_socket() const;
  // Closes the listening socket (new connections are refused); open sessions carry on.
  // The first step of a graceful drain. Idempotent.
  void stop_accepting();
  // Closes every open session now (the drain deadline passed). Their memory is reclaimed
  // on a later loop turn.
  void close_all_sessions();
  // stop_accepting() + close_all_sessions(), then on_closed once every handle and session
  // of this listener is gone. on_closed runs from a libuv callback, or at once when
  // nothing was open; the Listener may be destroyed inside it.
  void close(std::function<void()> on_closed);
  // A reload changed this route's limits: they apply to new connections and to the idle
  // sweep from now on.
  void set_limits(const RouteLimits& limits);
  // The route's TLS for connections accepted from now on (null: none); those open keep
  // theirs. Set before start() for a TLS route, and again on every reload, which is how
  // certificates rotate.
  void set_tls(std::shared_ptr<const RouteTls> tls) { tls_ = std::move(tls); }

  size_t open_sessions() const { return sessions_.size(); }
  const RouteCounters& counters() const { return counters_; }
  uint16_t bound_port() const { return bound_port_; }
  const RouteConfig& route() const { return route_; }

 private:
  void open_timers();
  base::Status fail_start(int status);
  base::Status finish_start();
  int bind_and_listen(const sockaddr_storage& address);
  void open_listen_handle();
  uint16_t read_bound_port() const;
  int listen_on_keeper();
  void on_connection(int status);
  void accept_session();
  void reject_connection();
  void schedule_idle_sweep();
  void close_idle_sessions();
  void pause_accepting(int status);
  void resume_accepting();
  void on_session_closed(Session& session) override;
  void log_tls_failure(const TlsFailureReport& failure);
  void reap_closed_sessions();
  void close_listen_handle();
  void close_keeper();
  void maybe_finish_close();
  void on_handle_closed();
  std::string next_connection_id();

  static void on_connection_cb(uv_stream_t* server, int status);
  static void on_retry_timer(uv_timer_t* timer);
  static void on_idle_sweep(uv_timer_t* timer);
  static void on_reap(uv_idle_t* idle);
  static void on_tcp_closed(uv_handle_t* handle);  // the listening or a rejected socket
  static void on_timer_closed(uv_handle_t* handle);
  static void on_idle_closed(uv_handle_t* handle);

  uv_loop_t* loop_;
  RouteConfig route_;
  FlowLimits limits_;
  BufferPool& pool_;
  TapFactory tap_factory_;
  RouteCounters counters_;
  std::shared_ptr<const RouteTls> tls_;

  uv_tcp_t* listen_ = nullptr;  // null while paused or stopped
  uv_timer_t* retry_timer_ = nullptr;
  uv_timer_t* idle_timer_ = nullptr;  // sweeps for idle sessions when idle_timeout_s is set
  uv_idle_t* reaper_ = nullptr;
  // A duplicate of the listening socket, held while accepting: pausing closes the libuv
  // handle (the only way to stop its accept loop) while this keeps the port and backlog.
  int keeper_fd_ = -1;
  uint16_t bound_port_ = 0;
  bool accepting_ = false;
  bool closing_ = false;
  int open_handles_ = 0;
  std::function<void()> on_closed_;

  std::unordered_map<Session*, std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<Session>> closed_sessions_;  // reaped on the next loop turn
  uint32_t id_prefix_;
  uint32_t next_id_ = 0;
  base::LogRateLimiter connect_failure_log_{10000};
  base::LogRateLimiter accept_pause_log_{10000};
  base::LogRateLimiter reject_log_{10000};
  base::LogRateLimiter tls_failure_log_{10000};
};

}  // namespace mcptap::proxy

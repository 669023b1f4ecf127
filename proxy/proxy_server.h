// The proxy process: one libuv loop with a listener per route, signal handling and the drain.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "capture/message_pipeline.h"
#include "capture/redactor.h"
#include "proxy/buffer_pool.h"
#include "proxy/listener.h"
#include "proxy/proxy_options.h"

namespace mcptap::proxy {

class ProxyServer {
 public:
  ProxyServer(ProxyOptions options, capture::CaptureOptions capture_options,
              const capture::Redactor& redactor, capture::RecordConsumer& consumer);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Binds every route's listener. On failure *error names the route and the address, and
  // nothing stays bound.
  bool start(std::string* error);
  // Runs the loop until a drain after SIGTERM/SIGINT (or request_shutdown) has finished.
  void run();
  // Stops accepting; open connections get drain_timeout_ms to finish, then are closed.
  void request_shutdown();

  bool ready() const { return ready_; }
  uv_loop_t* loop() { return &loop_; }
  // The port a route really listens on (useful when it was configured as 0).
  uint16_t bound_port(const std::string& route) const;

 private:
  struct Route {
    RouteConfig config;
    std::unique_ptr<capture::MessagePipeline> pipeline;
    std::unique_ptr<Listener> listener;
  };

  static void on_signal(uv_signal_t* handle, int signum);
  static void on_drain_tick(uv_timer_t* handle);
  size_t open_sessions() const;
  void finish_drain();
  void close_own_handles();

  ProxyOptions options_;
  capture::CaptureOptions capture_options_;
  const capture::Redactor& redactor_;
  capture::RecordConsumer& consumer_;
  uv_loop_t loop_;
  std::unique_ptr<BufferPool> buffers_;
  std::vector<std::unique_ptr<Route>> routes_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  uv_timer_t drain_timer_;
  uint64_t drain_deadline_ms_ = 0;
  bool draining_ = false;
  bool finishing_ = false;
  bool ready_ = false;
  bool own_handles_open_ = false;  // signals and drain timer initialised, not yet closed
};

}  // namespace mcptap::proxy

// A small HTTP/1.1 server for the control plane, on the proxy's loop: it parses requests,
// answers them in order and streams; what a path means is entirely up to its Handler.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/host_port.h"
#include "base/log.h"
#include "base/result.h"
#include "proxy/admin_request_reader.h"
#include "proxy/admin_responder.h"

namespace mcptap::proxy {

struct AdminServerOptions {
  // Open connections. One more displaces the connection that has waited longest without a
  // complete request (idle, or sending a head slowly); only when every connection streams is
  // the new one closed at once. With max_streams below this, a probe always gets a slot.
  size_t max_connections = 64;
  size_t max_head_bytes = 16u << 10;  // request line + headers; larger → 400
  size_t max_body_bytes = 64u << 10;  // larger → 413, then the connection closes
  // Between requests: nothing read or answered for this long → close. A streaming
  // connection is exempt.
  uint64_t idle_timeout_ms = 60000;
  // A request must arrive whole within this time of its first byte; later bytes do not
  // extend it (a client dribbling a head cannot hold its connection). Else 408 and close.
  uint64_t request_timeout_ms = 10000;
  // After the final response (400, 413, "Connection: close"): how long input is drained
  // before closing, so the client reads the answer instead of a reset.
  uint64_t linger_timeout_ms = 2000;
  // Requests handed to the handler and not yet fully answered; more wait (unread).
  size_t max_pipelined_requests = 32;
  // Response bytes the client has not taken yet; past this no further request is dispatched
  // (nor read) until it drains. Streams are bounded by stream_max_queued_bytes instead.
  size_t write_high_watermark = 1u << 20;
  // Streams open at once over all connections; start_stream() past this answers 503.
  size_t max_streams = 16;
  // A stream's unsent output past which the stream is cut off (its connection closed): a
  // reader that does not keep up is let go rather than buffered for.
  size_t stream_max_queued_bytes = 256u << 10;
  // The unsent output of all streams together past which a stream that has output waiting
  // is cut off when it sends.
  size_t streams_max_queued_bytes = 1u << 20;
};

struct AdminServerCounters {
  uint64_t connections_accepted = 0;
  uint64_t connections_rejected = 0;   // over max_connections with every slot streaming
  uint64_t connections_evicted = 0;    // displaced by a new connection
  uint64_t requests = 0;               // handed to the handler
  uint64_t bad_requests = 0;           // answered 400/408/413 by the server itself
  uint64_t request_timeouts = 0;       // 408: a request not whole within request_timeout_ms
  uint64_t refused_behind_stream = 0;  // pipelined after a stream: never served
  uint64_t streams_refused = 0;        // 503: max_streams were open
  uint64_t stream_cutoffs = 0;         // streams closed because their reader fell behind
};

class AdminConnection;  // one client connection (admin_connection.h)

// Loop thread only. After start() (whether it succeeded or not) call close() and let the
// loop run until on_closed before destroying the server.
class AdminServer {
 public:
  // Called on the loop thread for every complete, well-formed request. Unknown paths and
  // methods are the handler's to answer (404/405). A handler that neither answers nor keeps
  // the responder gets a 500 sent for it; an exception escaping it does too.
  using Handler = std::function<void(const AdminRequest&, AdminResponder&)>;

  AdminServer(uv_loop_t* loop, Handler handler, AdminServerOptions options = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens; host is an IPv4 or IPv6 literal or a name resolved now (port 0
  // picks a free port: see bound_port()). On failure the error is one line such as
  // "admin: cannot listen on 127.0.0.1:9100: address already in use" (code: the UV_E*
  // or EAI_* name).
  base::Status start(const base::HostPort& address);
  // Closes the listening socket and every connection (held responders stop being open()), then
  // calls on_closed once all their handles are gone: from a libuv callback, or at once when
  // nothing was open. The server may be destroyed inside on_closed.
  void close(std::function<void()> on_closed);

  uint16_t bound_port() const { return bound_port_; }
  size_t open_connections() const { return connections_.size(); }
  size_t open_streams() const { return open_streams_; }
  // Unsent output of every stream together (what streams_max_queued_bytes bounds).
  size_t stream_queued_bytes() const { return stream_queued_bytes_; }
  const AdminServerCounters& counters() const { return counters_; }

 private:
  friend class AdminConnection;

  int bind_and_listen(const sockaddr_storage& address);
  void on_connection(int status);
  // Makes room for one more connection; false when every other connection streams.
  bool evict_one(const AdminConnection* keep);
  void on_connection_closed(AdminConnection* connection);
  void maybe_finish_close();

  static void on_connection_cb(uv_stream_t* server, int status);
  static void on_listen_closed(uv_handle_t* handle);

  uv_loop_t* loop_;
  Handler handler_;
  AdminServerOptions options_;
  AdminServerCounters counters_;
  uv_tcp_t* listen_ = nullptr;  // freed in its close callback
  uint16_t bound_port_ = 0;
  bool closing_ = false;
  size_t open_streams_ = 0;
  size_t stream_queued_bytes_ = 0;
  std::function<void()> on_closed_;
  std::unordered_map<AdminConnection*, std::unique_ptr<AdminConnection>> connections_;
  // Reads land here: libuv calls alloc and read back to back for one handle at a time on
  // this thread, so one buffer serves every connection without a per-read allocation.
  std::unique_ptr<char[]> read_buffer_;
  base::LogRateLimiter accept_log_{10000};
};

}  // namespace mcptap::proxy

// One proxied connection: the client socket, the upstream socket, and the bytes between them.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/resolver.h"
#include "capture/record.h"
#include "capture/stream_tap.h"
#include "proxy/buffer_pool.h"
#include "proxy/forwarding_side.h"
#include "proxy/original_destination.h"
#include "proxy/route_config.h"
#include "proxy/tls_adapter.h"
#include "proxy/tls_context.h"

namespace mcptap::proxy {

// A connection's two sockets, as TLS counters and failures name them.
enum class TlsSide : uint8_t { Client, Upstream };
inline std::string_view to_string(TlsSide side) {
  return side == TlsSide::Client ? "client" : "upstream";
}

// TLS totals of one route, by side (TlsSide as the index).
struct TlsCounters {
  uint64_t handshake_failures[2][static_cast<size_t>(TlsFailure::kCount)] = {};
  uint64_t handshakes[2][2] = {};  // [side][resumed]
  uint64_t certificates_minted = 0;
};

// Per-route totals, fed live by the route's sessions and listener. Plain counters: they are
// written and read on the loop thread only.
struct RouteCounters {
  uint64_t connections_total = 0;
  uint64_t connections_open = 0;
  uint64_t bytes_client_to_server = 0;
  uint64_t bytes_server_to_client = 0;
  uint64_t watermark_pauses = 0;           // reads stopped because a write queue was full
  uint64_t upstream_connect_failures = 0;  // refused, unresolvable or timed out
  uint64_t accept_pauses = 0;              // accepting paused for lack of descriptors
  uint64_t connections_rejected = 0;       // reset at once: limits.max_connections reached
  uint64_t idle_timeouts = 0;              // closed after limits.idle_timeout_s of silence
  TlsCounters tls;
};

// Why a connection's TLS failed, kept for the listener's log line.
struct TlsFailureReport {
  TlsSide side = TlsSide::Client;
  TlsFailure reason = TlsFailure::Internal;
  bool during_handshake = true;  // false: a record error once open
  std::string detail;            // the library's words, for the log only
  std::string sni;               // what the client asked for, printable, at most 255 bytes
};

struct SessionCounters {
  uint64_t bytes_client_to_server = 0;
  uint64_t bytes_server_to_client = 0;
  uint64_t watermark_pauses = 0;
};

class Session;

// Who keeps a Session: told once, from the session's last close callback, that every
// handle of the session is closed. The owner must not destroy the session inside that
// call (its callback frames are still on the stack); it reaps it on a later loop turn.
class SessionOwner {
 public:
  virtual ~SessionOwner() = default;
  virtual void on_session_closed(Session& session) = 0;
};

// Forwards bytes unchanged in both directions, tees them to an optional tap before they
// are forwarded, propagates half-closes and resets, and stops reading a side while the
// other side's write queue is above the high watermark. A client whose upstream cannot be
// reached (refused, unreachable, unresolvable, timed out) is reset, as a direct connect
// would have failed.
//
// Lifetime: close() (or the connection ending) closes every handle; each handle's memory is
// freed in its own close callback; when the last one is closed the owner is told. Only then
// may the Session be destroyed, and only from outside its callbacks.
class Session : private ForwardingSide::Owner {
 public:
  // Failing: the upstream could not be reached; the client is reset once it has sent its
  // first bytes, or after kFailedClientGraceMs if it sends none.
  // Handshaking: both sockets are connected and a TLS side is still handshaking (routes
  // with TLS only), under proxy.tls_handshake_timeout_ms.
  enum class State { Connecting, Failing, Handshaking, Forwarding, Closing, Closed };

  // How long a client whose upstream failed may stay silent before it is reset anyway. A
  // client that has not written yet may still be setting up its connection: Node's fetch
  // (undici) loses a reset that arrives then and waits for an answer forever.
  static constexpr uint64_t kFailedClientGraceMs = 500;

  // Everything passed by reference must outlive the session (the Listener holds them all).
  // `tls` is the route's TLS when the connection was accepted (null: plaintext both ways);
  // the session keeps it, so a reload that rotates certificates leaves it alone.
  Session(uv_loop_t* loop, const RouteConfig& route, const FlowLimits& limits, BufferPool& pool,
          RouteCounters& route_counters, SessionOwner& owner, std::string connection_id,
          std::unique_ptr<capture::StreamTap> tap, std::shared_ptr<const RouteTls> tls = nullptr);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Takes the connection waiting on `server` (call once, from its connection callback) and
  // starts connecting upstream. On failure the session is already closing.
  int accept(uv_stream_t* server);
  // Closes both sides now (a drain deadline passed): with FINs once forwarding, with a reset
  // to the client before. Idempotent.
  void close();

  const std::string& connection_id() const { return connection_id_; }
  State state() const { return state_; }
  const SessionCounters& counters() const { return counters_; }
  // Loop time (uv_now) of the last byte read from either side, or of the accept.
  uint64_t last_activity_ms() const { return last_activity_ms_; }
  // 0, or why the upstream connect failed (a UV_E* / UV_EAI_* status; UV_ETIMEDOUT).
  int upstream_connect_error() const { return upstream_connect_error_; }
  // Set when a TLS handshake or session of this connection failed.
  const std::optional<TlsFailureReport>& tls_failure() const { return tls_failure_; }

 private:
  // One socket with the state of the bytes flowing out of it and into it. Its tcp handle's
  // data points here, so a callback finds both the session and the side even after the
  // handle was detached for closing.
  struct Side final : TlsAdapter::Sink {
    Side(Session& owner, capture::Direction direction, const FlowLimits& limits, BufferPool& pool);
    bool on_plaintext(PooledBuffer* buffer, size_t length) override;
    bool on_ciphertext(PooledBuffer* buffer, size_t length) override;
    Session* session;
    uv_tcp_t* tcp = nullptr;
    capture::Direction sends;  // its bytes' direction
    // The bytes written into this socket; its queue throttles the other side's reading.
    ForwardingSide into;
    bool eof = false;         // it sent FIN; nothing more will be read from it
    bool write_shut = false;  // our FIN to it went out
    uv_shutdown_t shutdown_req;
    // TLS towards this socket (null: plaintext). The bytes read are ciphertext; what is
    // forwarded and tapped is the plaintext it gives.
    std::unique_ptr<TlsAdapter> tls;
    bool heard = false;  // a byte came from this socket
    // Plaintext decrypted before every handshake was done, forwarded once they are; the
    // socket is not read meanwhile, so this holds at most what one read gave.
    std::vector<std::pair<PooledBuffer*, size_t>> held;
  };

  // Upstream connect.
  void start_upstream_connect();
  base::Resolver::Start start_at_original_destination();
  void on_resolved(int status);
  void connect_next_address();
  void on_upstream_connected(int status);
  void fail_upstream_connect(int status);
  void reset_client_when_heard(Side& client, ssize_t nread, const uv_buf_t* buf);
  void start_forwarding();
  void connect_sides();
  void fail_towards_client();

  // TLS (tls_session.cpp).
  void start_handshakes();
  void start_upstream_handshake();
  bool intercepting() const;
  bool upstream_waits_for_client_hello() const;
  const sockaddr_storage& upstream_address() const;
  TlsTarget upstream_target() const;
  void on_tls_progress(Side& side, TlsAdapter::State state);
  void finish_handshakes();
  void fail_tls(Side& side, TlsFailure reason);
  void on_tls_read(Side& source, PooledBuffer* buffer, size_t length);
  bool on_plaintext(Side& source, PooledBuffer* buffer, size_t length);
  bool on_ciphertext(Side& side, PooledBuffer* buffer, size_t length);
  bool handshaking(const Side& side) const;
  void release_held();

  // Forwarding.
  void on_read(Side& source, ssize_t nread, const uv_buf_t* buf);
  void forward(Side& source, PooledBuffer* buffer, size_t length);
  void on_written(ForwardingSide& into, int status) override;
  void on_source_eof(Side& source);
  void on_shutdown_done(Side& destination, int status);
  void start_reading(Side& side);
  void update_reading(Side& destination);

  // Closing.
  void close_sides(Side* failed);
  void close_tcp(uv_tcp_t*& tcp, bool reset);
  void close_connect_timer();
  void on_handle_closed();
  void init_tcp(Side& side);

  Side& other(Side& side) { return &side == &client_ ? upstream_ : client_; }
  TlsSide tls_side(const Side& side) const {
    return &side == &client_ ? TlsSide::Client : TlsSide::Upstream;
  }
  void count_bytes(capture::Direction direction, size_t bytes);

  static void on_alloc(uv_handle_t* handle, size_t suggested_size, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_failing_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_shutdown_cb(uv_shutdown_t* req, int status);
  static void on_connect_cb(uv_connect_t* req, int status);
  static void on_connect_timeout(uv_timer_t* timer);
  static void on_tcp_closed(uv_handle_t* handle);
  static void on_timer_closed(uv_handle_t* handle);

  uv_loop_t* loop_;
  const RouteConfig& route_;
  const FlowLimits& limits_;
  BufferPool& pool_;
  RouteCounters& route_counters_;
  SessionOwner& owner_;
  std::string connection_id_;
  std::unique_ptr<capture::StreamTap> tap_;
  std::shared_ptr<const RouteTls> tls_;

  State state_ = State::Connecting;
  Side client_;
  Side upstream_;
  uv_timer_t* connect_timer_ = nullptr;
  uv_connect_t connect_req_;
  base::Resolver resolver_;
  size_t next_address_ = 0;
  int last_connect_status_ = UV_ECONNREFUSED;
  int upstream_connect_error_ = 0;
  int original_dst_error_ = 0;  // why the original destination could not be used
  int open_handles_ = 0;        // initialised and not yet through their close callback
  uint64_t last_activity_ms_ = 0;
  SessionCounters counters_;
  std::optional<TlsFailureReport> tls_failure_;
};

}  // namespace mcptap::proxy

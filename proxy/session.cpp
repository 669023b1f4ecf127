// One proxied connection: upstream connect, forwarding with watermarks, half-close and teardown.
#include "proxy/session.h"

#include <cassert>
#include <string_view>
#include <utility>

#include "base/uv_handles.h"

namespace mcptap::proxy {

Session::Side::Side(Session& owner, capture::Direction direction, const FlowLimits& limits,
                    BufferPool& pool)
    : session(&owner),
      sends(direction),
      into(owner, Watermarks{limits.high_watermark_bytes, limits.low_watermark_bytes}, &pool) {}

Session::Session(uv_loop_t* loop, const RouteConfig& route, const FlowLimits& limits,
                 BufferPool& pool, RouteCounters& route_counters, SessionOwner& owner,
                 std::string connection_id, std::unique_ptr<capture::StreamTap> tap,
                 std::shared_ptr<const RouteTls> tls)
    : loop_(loop),
      route_(route),
      limits_(limits),
      pool_(pool),
      route_counters_(route_counters),
      owner_(owner),
      connection_id_(std::move(connection_id)),
      tap_(std::move(tap)),
      tls_(std::move(tls)),
      client_(*this, capture::Direction::ClientToServer, limits, pool),
      upstream_(*this, capture::Direction::ServerToClient, limits, pool),
      resolver_(loop) {
  connect_req_.data = this;
}

Session::~Session() {
  assert(open_handles_ == 0 && "a session was destroyed with open handles");
}

int Session::accept(uv_stream_t* server) {
  assert(state_ == State::Connecting && client_.tcp == nullptr);
  last_activity_ms_ = uv_now(loop_);
  init_tcp(client_);
  int status = uv_accept(server, base::as_stream(client_.tcp));
  if (status != 0) {
    close_sides(nullptr);
    return status;
  }
  // A proxy must not add Nagle delays the endpoints did not ask for.
  uv_tcp_nodelay(client_.tcp, 1);
  start_upstream_connect();
  return 0;
}

void Session::close() {
  // Before forwarding nothing has reached a server: a FIN would read as an empty answer (an
  // HTTP client may then wait for one forever), so the client is reset as on a failure.
  bool forwarded = state_ == State::Forwarding;
  close_sides(forwarded ? nullptr : &upstream_);
}

void Session::init_tcp(Side& side) {
  side.tcp = new uv_tcp_t;
  int status = uv_tcp_init(loop_, side.tcp);
  assert(status == 0);  // only fails for bad flags
  (void)status;
  side.tcp->data = &side;
  ++open_handles_;
}

// ---- Upstream connect ------------------------------------------------------------------

// The client is not read until the upstream is connected: nothing needs queueing meanwhile,
// and the kernel's receive buffer holds what the client sends early.
void Session::start_upstream_connect() {
  connect_timer_ = new uv_timer_t;
  uv_timer_init(loop_, connect_timer_);
  connect_timer_->data = this;
  ++open_handles_;
  // One deadline covers the lookup and every address tried.
  uv_timer_start(connect_timer_, &Session::on_connect_timeout,
                 static_cast<uint64_t>(limits_.connect_timeout_ms), 0);
  auto started =
      route_.upstream_original_dst
          ? start_at_original_destination()
          : resolver_.start(route_.upstream, [this](int status) { on_resolved(status); });
  switch (started) {
    case base::Resolver::Start::Resolved:
      connect_next_address();
      break;
    case base::Resolver::Start::Pending:
      break;
    case base::Resolver::Start::Failed:
      fail_upstream_connect(original_dst_error_ != 0 ? original_dst_error_ : resolver_.error());
      break;
  }
}

// A transparent route forwards where the client was going; a failed lookup (or a loop
// back to ourselves) is a failed upstream connect, counted as one.
base::Resolver::Start Session::start_at_original_destination() {
  sockaddr_storage target;
  int status = original_destination(client_.tcp, &target);
  if (status != 0) {
    original_dst_error_ = status;
    return base::Resolver::Start::Failed;
  }
  return resolver_.start_at(target);
}

void Session::on_resolved(int status) {
  assert(state_ == State::Connecting);  // closing cancels the lookup
  if (status != 0) {
    fail_upstream_connect(status);
    return;
  }
  connect_next_address();
}

void Session::connect_next_address() {
  const auto& addresses = resolver_.addresses();
  while (next_address_ < addresses.size()) {
    const auto* address = reinterpret_cast<const sockaddr*>(&addresses[next_address_++]);
    init_tcp(upstream_);
    int status = uv_tcp_connect(&connect_req_, upstream_.tcp, address, &Session::on_connect_cb);
    if (status == 0) return;
    last_connect_status_ = status;  // e.g. ENETUNREACH for an IPv6 address without a route
    close_tcp(upstream_.tcp, false);
  }
  fail_upstream_connect(last_connect_status_);
}

void Session::on_upstream_connected(int status) {
  if (state_ != State::Connecting) return;  // UV_ECANCELED: the session is closing
  if (status == 0) {
    if (tls_) {
      start_handshakes();
    } else {
      start_forwarding();
    }
    return;
  }
  // A failed socket cannot be reused for the next address: close it, start a fresh one.
  last_connect_status_ = status;
  close_tcp(upstream_.tcp, false);
  connect_next_address();
}

// Without mcptap the client's own connect would have been refused or timed out. Its connect
// to us already succeeded, so the nearest equivalent is a reset: it fails the client's next
// read or write at once. A FIN would read as "the server answered nothing", which an HTTP
// client (Node's fetch, and the MCP SDK on top of it) may wait on without end.
//
// The reset waits for the client's first bytes (usually already here: its request), or for
// a short grace when it sends none, so that it does not land while the client is still
// setting up its side of the connection (see kFailedClientGraceMs).
void Session::fail_upstream_connect(int status) {
  upstream_connect_error_ = status;
  ++route_counters_.upstream_connect_failures;
  resolver_.cancel();
  fail_towards_client();
}

// The upstream is lost before anything was forwarded: the client is reset once heard from
// (see fail_upstream_connect).
void Session::fail_towards_client() {
  state_ = State::Failing;
  release_held();
  client_.into.detach();
  upstream_.into.detach();
  close_tcp(upstream_.tcp, false);  // a connect in flight ends with UV_ECANCELED
  uv_timer_start(connect_timer_, &Session::on_connect_timeout, kFailedClientGraceMs, 0);
  // A read callback of its own: the forwarding path's on_read never sees this state (a
  // TLS client may be read already).
  uv_read_stop(base::as_stream(client_.tcp));
  int reading =
      uv_read_start(base::as_stream(client_.tcp), &Session::on_alloc, &Session::on_failing_read_cb);
  if (reading != 0) close_sides(&upstream_);
}

// Whatever the client sent is dropped: no server will see it, and nothing was captured.
void Session::reset_client_when_heard(Side& client, ssize_t nread, const uv_buf_t* buf) {
  if (buf->base != nullptr) pool_.release(PooledBuffer::from_data(buf->base));
  if (nread == 0) return;  // EAGAIN: nothing this time
  close_sides(&other(client));
}

void Session::start_forwarding() {
  state_ = State::Forwarding;
  close_connect_timer();
  connect_sides();
  start_reading(client_);
  if (state_ == State::Forwarding) start_reading(upstream_);
}

void Session::connect_sides() {
  uv_tcp_nodelay(upstream_.tcp, 1);
  for (Side* side : {&client_, &upstream_}) {
    side->into.set_output(base::as_stream(side->tcp));
    side->into.set_source(base::as_stream(other(*side).tcp), &Session::on_alloc,
                          &Session::on_read_cb);
  }
}

// ---- Forwarding ------------------------------------------------------------------------

void Session::on_read(Side& source, ssize_t nread, const uv_buf_t* buf) {
  // buf->base is null only when on_alloc had no buffer to give (nread is then UV_ENOBUFS).
  PooledBuffer* buffer = buf->base != nullptr ? PooledBuffer::from_data(buf->base) : nullptr;
  if (nread > 0) {
    if (source.tls) {
      on_tls_read(source, buffer, static_cast<size_t>(nread));
    } else {
      forward(source, buffer, static_cast<size_t>(nread));
    }
    return;
  }
  if (buffer != nullptr) pool_.release(buffer);
  if (nread == 0) return;  // EAGAIN: nothing this time
  if (state_ == State::Handshaking) {
    // The connection ended or broke before TLS was set up on it. A client that leaves
    // without a byte never tried (a port probe, a health check): not a failed handshake.
    if (handshaking(source) && (source.heard || &source == &upstream_)) {
      fail_tls(source, TlsFailure::Truncated);
    } else {
      close_sides(&source);
    }
    return;
  }
  if (nread == UV_EOF) {
    on_source_eof(source);
    return;
  }
  // ECONNRESET and friends: the other side sees the connection drop the same way.
  close_sides(&source);
}

// The tap sees the bytes before the other side does: a message is recorded before its last
// byte is forwarded.
void Session::forward(Side& source, PooledBuffer* buffer, size_t length) {
  last_activity_ms_ = uv_now(loop_);  // the loop's cached time: no clock read per read
  count_bytes(source.sends, length);
  if (tap_) tap_->on_bytes(source.sends, std::string_view(buffer->data(), length));
  Side& destination = other(source);
  if (destination.tls) {
    // Encrypted towards the destination: the records reach its socket through
    // on_ciphertext, and the plaintext buffer is done with.
    TlsAdapter::State sent = destination.tls->send(std::string_view(buffer->data(), length));
    pool_.release(buffer);
    if (state_ != State::Forwarding) return;
    if (sent == TlsAdapter::State::Failed) {
      fail_tls(destination, destination.tls->failure());
      return;
    }
  } else if (destination.into.write(buffer, length) != 0) {
    close_sides(&destination);
    return;
  }
  update_reading(destination);
}

void Session::on_written(ForwardingSide& into, int status) {
  Side& destination = &into == &client_.into ? client_ : upstream_;
  if (state_ != State::Forwarding && state_ != State::Handshaking) return;  // closing
  if (status != 0) {
    close_sides(&destination);
    return;
  }
  // While handshaking, reading follows the handshakes (see start_handshakes).
  if (state_ == State::Forwarding) update_reading(destination);
}

// The destination's queue decides whether its source is read (see ForwardingSide).
void Session::update_reading(Side& destination) {
  switch (destination.into.update_reading()) {
    case ForwardingSide::Reading::Paused:
      ++counters_.watermark_pauses;
      ++route_counters_.watermark_pauses;
      break;
    case ForwardingSide::Reading::Failed:
      close_sides(&other(destination));
      break;
    case ForwardingSide::Reading::Unchanged:
    case ForwardingSide::Reading::Resumed:
      break;
  }
}

void Session::start_reading(Side& side) {
  assert(!side.eof);
  if (other(side).into.start_reading() != 0) close_sides(&side);
}

// Half-close: the other side gets our FIN once the bytes already queued to it are written,
// and keeps sending its own bytes until it ends too.
//
// Over TLS, the end is mirrored as it came: the destination gets a close_notify only when
// the source ended cleanly (its own close_notify, or a FIN on plaintext), so a truncation
// stays a truncation on the other side too.
void Session::on_source_eof(Side& source) {
  if (source.eof) return;  // a close_notify came first; this is its FIN
  source.eof = true;
  other(source).into.source_ended();
  if (tap_) tap_->on_end(source.sends);
  Side& destination = other(source);
  bool clean = !source.tls || source.tls->peer_sent_close_notify();
  if (destination.tls && clean) destination.tls->send_close_notify();
  if (state_ != State::Forwarding) return;
  destination.shutdown_req.data = &destination;
  int status = uv_shutdown(&destination.shutdown_req, base::as_stream(destination.tcp),
                           &Session::on_shutdown_cb);
  if (status != 0) close_sides(&destination);
}

void Session::on_shutdown_done(Side& destination, int status) {
  if (state_ != State::Forwarding) return;  // UV_ECANCELED while closing
  if (status != 0) {
    close_sides(&destination);
    return;
  }
  destination.write_shut = true;
  // Each side's FIN went out after the other side's FIN came in: the connection is done.
  if (client_.write_shut && upstream_.write_shut) close_sides(nullptr);
}

void Session::count_bytes(capture::Direction direction, size_t bytes) {
  if (direction == capture::Direction::ClientToServer) {
    counters_.bytes_client_to_server += bytes;
    route_counters_.bytes_client_to_server += bytes;
  } else {
    counters_.bytes_server_to_client += bytes;
    route_counters_.bytes_server_to_client += bytes;
  }
}

// ---- Closing ---------------------------------------------------------------------------

// `failed` is the side whose socket broke (or null for an orderly close): it is closed
// plainly, and the other side is reset so the failure reaches its peer as a failure.
void Session::close_sides(Side* failed) {
  if (state_ == State::Closing || state_ == State::Closed) return;
  state_ = State::Closing;
  resolver_.cancel();
  close_connect_timer();
  release_held();
  client_.into.detach();
  upstream_.into.detach();
  close_tcp(client_.tcp, failed != nullptr && failed != &client_);
  close_tcp(upstream_.tcp, failed != nullptr && failed != &upstream_);
}

void Session::close_tcp(uv_tcp_t*& tcp, bool reset) {
  if (tcp == nullptr) return;
  uv_tcp_t* handle = std::exchange(tcp, nullptr);
  // uv_tcp_close_reset refuses a handle with a shutdown pending; a plain close then.
  if (reset && uv_tcp_close_reset(handle, &Session::on_tcp_closed) == 0) return;
  uv_close(base::as_handle(handle), &Session::on_tcp_closed);
}

void Session::close_connect_timer() {
  if (connect_timer_ == nullptr) return;
  uv_close(base::as_handle(std::exchange(connect_timer_, nullptr)), &Session::on_timer_closed);
}

// Runs in a close callback. The owner is told last: nothing here touches `this` after it.
void Session::on_handle_closed() {
  assert(open_handles_ > 0);
  if (--open_handles_ > 0 || state_ != State::Closing) return;
  state_ = State::Closed;
  if (tap_) tap_->on_close();
  owner_.on_session_closed(*this);
}

// ---- libuv callbacks -------------------------------------------------------------------

void Session::on_alloc(uv_handle_t* handle, size_t /*suggested_size*/, uv_buf_t* buf) {
  Session* self = static_cast<Side*>(handle->data)->session;
  PooledBuffer* buffer = self->pool_.acquire();
  if (buffer == nullptr) {
    *buf = uv_buf_init(nullptr, 0);  // libuv turns this into UV_ENOBUFS
    return;
  }
  *buf = uv_buf_init(buffer->data(), static_cast<unsigned>(self->pool_.buffer_bytes()));
}

void Session::on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* side = static_cast<Side*>(stream->data);
  side->session->on_read(*side, nread, buf);
}

void Session::on_failing_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* side = static_cast<Side*>(stream->data);
  side->session->reset_client_when_heard(*side, nread, buf);
}

void Session::on_shutdown_cb(uv_shutdown_t* req, int status) {
  auto* destination = static_cast<Side*>(req->data);
  destination->session->on_shutdown_done(*destination, status);
}

void Session::on_connect_cb(uv_connect_t* req, int status) {
  static_cast<Session*>(req->data)->on_upstream_connected(status);
}

// The connect deadline while connecting, the handshake deadline while handshaking; the grace for a
// silent client once failing.
void Session::on_connect_timeout(uv_timer_t* timer) {
  auto* self = static_cast<Session*>(timer->data);
  if (self->state_ == State::Connecting) {
    self->fail_upstream_connect(UV_ETIMEDOUT);
  } else if (self->state_ == State::Handshaking) {
    // The client is blamed first: its handshake runs before an intercepted upstream's.
    self->fail_tls(self->handshaking(self->client_) ? self->client_ : self->upstream_,
                   TlsFailure::Timeout);
  } else if (self->state_ == State::Failing) {
    self->close_sides(&self->upstream_);
  }
}

void Session::on_tcp_closed(uv_handle_t* handle) {
  Session* self = static_cast<Side*>(handle->data)->session;
  delete reinterpret_cast<uv_tcp_t*>(handle);
  self->on_handle_closed();
}

void Session::on_timer_closed(uv_handle_t* handle) {
  auto* self = static_cast<Session*>(handle->data);
  delete reinterpret_cast<uv_timer_t*>(handle);
  self->on_handle_closed();
}

}  // namespace mcptap::proxy

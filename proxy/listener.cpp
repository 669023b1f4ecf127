// A route's listener: bind, accept with a pause on descriptor exhaustion, own and reap sessions.
#include "proxy/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <utility>

#include "base/random.h"
#include "base/resolver.h"
#include "base/uv_handles.h"

namespace mcptap::proxy {

namespace {

// Errors accept(2) reports for one pending connection that died before it was taken; the
// next accept moves on to the next connection, so there is nothing to back off from.
bool is_per_connection_accept_error(int status) {
  switch (status) {
    case UV_ECONNABORTED:
    case UV_ECONNRESET:
    case UV_ENETDOWN:
    case UV_ENETUNREACH:
    case UV_EHOSTDOWN:
    case UV_EHOSTUNREACH:
    case UV_EPROTO:
    case UV_ENOPROTOOPT:
    case UV_ENONET:
    case UV_ENOTSUP:
    case UV_ETIMEDOUT:
      return true;
    default:
      return false;
  }
}

// Connection ids are unique within the process: a random base drawn once, plus a serial
// per listener, make each listener's 32-bit prefix distinct; a counter makes the rest.
uint32_t next_listener_prefix() {
  static const uint32_t random_base = [] {
    uint32_t value = 0;
    base::random_bytes(&value, sizeof(value));
    return value;
  }();
  static std::atomic<uint32_t> serial{0};
  return random_base + serial.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

Listener::Listener(uv_loop_t* loop, RouteConfig route, FlowLimits limits, BufferPool& pool,
                   TapFactory tap_factory)
    : loop_(loop),
      route_(std::move(route)),
      limits_(limits),
      pool_(pool),
      tap_factory_(std::move(tap_factory)),
      id_prefix_(next_listener_prefix()) {}

Listener::~Listener() {
  assert(open_handles_ == 0 && sessions_.empty() && closed_sessions_.empty() &&
         "close() the Listener and run the loop until on_closed before destroying it");
  close_keeper();
}

void Listener::open_timers() {
  assert(retry_timer_ == nullptr && !closing_);
  retry_timer_ = new uv_timer_t;
  uv_timer_init(loop_, retry_timer_);
  idle_timer_ = new uv_timer_t;
  uv_timer_init(loop_, idle_timer_);
  reaper_ = new uv_idle_t;
  uv_idle_init(loop_, reaper_);
  retry_timer_->data = idle_timer_->data = reaper_->data = this;
  open_handles_ += 3;
}

base::Status Listener::start() {
  base::Result<std::vector<sockaddr_storage>> addresses =
      base::resolve_blocking(route_.listen, "the listen host");
  if (!addresses) {
    return base::fail("route " + route_.name + ": " + addresses.error().message,
                      addresses.error().code);
  }
  return start_at(addresses->front());
}

base::Status Listener::start_at(const sockaddr_storage& address) {
  open_timers();
  int status = bind_and_listen(address);
  if (status != 0) return fail_start(status);
  return finish_start();
}

base::Status Listener::adopt(int listening_fd) {
  open_timers();
  keeper_fd_ = listening_fd;
  int status = listen_on_keeper();
  if (status != 0) return fail_start(status);
  return finish_start();
}

base::Status Listener::finish_start() {
  bound_port_ = read_bound_port();
  accepting_ = true;
  schedule_idle_sweep();
  return {};
}

base::Result<int> Listener::duplicate_socket() const {
  auto failed = [this](int status) {
    return base::fail("route " + route_.name + ": cannot take over the socket listening on " +
                          route_.listen.to_string() + ": " + uv_strerror(status),
                      uv_err_name(status));
  };
  if (keeper_fd_ < 0) return failed(UV_EBADF);
  int fd = fcntl(keeper_fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return failed(-errno);
  return fd;
}

int Listener::bind_and_listen(const sockaddr_storage& address) {
  open_listen_handle();
  int status = uv_tcp_bind(listen_, reinterpret_cast<const sockaddr*>(&address), 0);
  // libuv reports EADDRINUSE from uv_listen rather than uv_tcp_bind.
  if (status == 0)
    status = uv_listen(base::as_stream(listen_), kBacklog, &Listener::on_connection_cb);
  if (status != 0) return status;
  uv_os_fd_t fd = -1;
  status = uv_fileno(base::as_handle(listen_), &fd);
  if (status != 0) return status;
  keeper_fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return keeper_fd_ < 0 ? -errno : 0;
}

void Listener::open_listen_handle() {
  assert(listen_ == nullptr);
  listen_ = new uv_tcp_t;
  uv_tcp_init(loop_, listen_);
  listen_->data = this;
  ++open_handles_;
}

uint16_t Listener::read_bound_port() const {
  sockaddr_storage bound;
  int length = sizeof(bound);
  if (uv_tcp_getsockname(listen_, reinterpret_cast<sockaddr*>(&bound), &length) != 0) return 0;
  if (bound.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
}

base::Status Listener::fail_start(int status) {
  close_listen_handle();
  close_keeper();
  return base::fail("route " + route_.name + ": cannot listen on " + route_.listen.to_string() +
                        ": " + uv_strerror(status),
                    uv_err_name(status));
}

// ---- Accepting -------------------------------------------------------------------------

void Listener::on_connection(int status) {
  if (status == 0) {
    uint32_t max = route_.limits.max_connections;
    if (max != 0 && sessions_.size() >= max) {
      reject_connection();
      return;
    }
    accept_session();
  } else if (!is_per_connection_accept_error(status)) {
    // Out of descriptors (or memory): libuv would call again at once, so back off.
    pause_accepting(status);
  }
}

void Listener::accept_session() {
  std::string id = next_connection_id();
  std::unique_ptr<capture::StreamTap> tap = tap_factory_ ? tap_factory_(id) : nullptr;
  SessionOwner& owner = *this;
  auto session = std::make_unique<Session>(loop_, route_, limits_, pool_, counters_, owner,
                                           std::move(id), std::move(tap), tls_);
  Session* raw = session.get();
  sessions_.emplace(raw, std::move(session));
  ++counters_.connections_total;
  ++counters_.connections_open;
  // A failed accept leaves the session closing; it comes back through on_session_closed.
  raw->accept(base::as_stream(listen_));
}

// Taken off the backlog and reset at once: the client learns now that the route is full,
// rather than after its connect or first request times out in a queue nobody serves.
void Listener::reject_connection() {
  auto* rejected = new uv_tcp_t;
  uv_tcp_init(loop_, rejected);
  rejected->data = this;
  ++open_handles_;
  if (uv_accept(base::as_stream(listen_), base::as_stream(rejected)) == 0) {
    ++counters_.connections_rejected;
    uint64_t suppressed = 0;
    if (reject_log_.allow(&suppressed)) {
      base::log_warn("connection rejected", {{"route", route_.name},
                                             {"reason", "limits.max_connections"},
                                             {"max_connections", route_.limits.max_connections},
                                             {"suppressed", suppressed}});
    }
    if (uv_tcp_close_reset(rejected, &Listener::on_tcp_closed) == 0) return;
  }
  uv_close(base::as_handle(rejected), &Listener::on_tcp_closed);
}

void Listener::set_limits(const RouteLimits& limits) {
  route_.limits = limits;
  schedule_idle_sweep();
}

// One timer per route rather than one per connection: idle connections stay cheap, and a
// sweep over the open sessions is a few microseconds per thousand.
void Listener::schedule_idle_sweep() {
  if (idle_timer_ == nullptr) return;
  uint64_t timeout_ms = uint64_t{route_.limits.idle_timeout_s} * 1000;
  if (timeout_ms == 0 || closing_) {
    uv_timer_stop(idle_timer_);
    return;
  }
  // A connection closes between the timeout and a quarter of it (at most 1 s) later.
  uint64_t interval_ms = std::min<uint64_t>(1000, timeout_ms / 4);
  uv_timer_start(idle_timer_, &Listener::on_idle_sweep, interval_ms, interval_ms);
}

void Listener::close_idle_sessions() {
  uint64_t timeout_ms = uint64_t{route_.limits.idle_timeout_s} * 1000;
  if (timeout_ms == 0) return;
  uint64_t now = uv_now(loop_);
  // Session::close never calls back synchronously, so the map stays intact meanwhile.
  for (auto& entry : sessions_) {
    Session& session = *entry.second;
    if (session.state() != Session::State::Forwarding) continue;  // connecting has its own deadline
    if (now - session.last_activity_ms() < timeout_ms) continue;
    ++counters_.idle_timeouts;
    session.close();
  }
}

// libuv's accept loop only ends when the handle's descriptor goes away, so the handle is
// closed; the keeper descriptor holds the port and the backlog until accepting resumes.
void Listener::pause_accepting(int status) {
  ++counters_.accept_pauses;
  uint64_t suppressed = 0;
  if (accept_pause_log_.allow(&suppressed)) {
    base::log_warn("accept paused", {{"route", route_.name},
                                     {"error", uv_err_name(status)},
                                     {"retry_ms", kAcceptRetryMs},
                                     {"suppressed", suppressed}});
  }
  close_listen_handle();
  uv_timer_start(retry_timer_, &Listener::on_retry_timer, kAcceptRetryMs, 0);
}

void Listener::resume_accepting() {
  if (!accepting_ || listen_ != nullptr) return;
  if (listen_on_keeper() != 0) {
    uv_timer_start(retry_timer_, &Listener::on_retry_timer, kAcceptRetryMs, 0);
  }
}

int Listener::listen_on_keeper() {
  int fd = fcntl(keeper_fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return -errno;
  open_listen_handle();
  int status = uv_tcp_open(listen_, fd);
  if (status != 0) ::close(fd);  // not adopted by the handle
  if (status == 0)
    status = uv_listen(base::as_stream(listen_), kBacklog, &Listener::on_connection_cb);
  if (status != 0) close_listen_handle();
  return status;
}

void Listener::stop_accepting() {
  accepting_ = false;
  close_listen_handle();
  close_keeper();
  if (retry_timer_ != nullptr) uv_timer_stop(retry_timer_);
}

std::string Listener::next_connection_id() {
  char text[17];
  std::snprintf(text, sizeof(text), "%08x%08x", id_prefix_, next_id_++);
  return text;
}

// ---- Sessions and closing --------------------------------------------------------------

void Listener::close_all_sessions() {
  // Session::close never calls back synchronously, so the map stays intact meanwhile.
  for (auto& entry : sessions_) entry.second->close();
}

// Called from the session's last close callback: it is parked and deleted on the next loop
// turn, when none of its callbacks is on the stack.
void Listener::on_session_closed(Session& session) {
  assert(counters_.connections_open > 0);
  --counters_.connections_open;
  uint64_t suppressed = 0;
  if (session.upstream_connect_error() != 0 && connect_failure_log_.allow(&suppressed)) {
    base::log_warn("upstream connect failed",
                   {{"route", route_.name},
                    {"upstream", route_.upstream_text()},
                    {"error", uv_err_name(session.upstream_connect_error())},
                    {"suppressed", suppressed}});
  }
  if (session.tls_failure()) log_tls_failure(*session.tls_failure());
  auto found = sessions_.find(&session);
  assert(found != sessions_.end());
  closed_sessions_.push_back(std::move(found->second));
  sessions_.erase(found);
  uv_idle_start(reaper_, &Listener::on_reap);
}

// A client that cannot handshake may try again at once, so these lines are rate limited;
// every failure is counted in mcptap_tls_handshake_failures_total whatever is logged.
void Listener::log_tls_failure(const TlsFailureReport& failure) {
  nlohmann::json fields = {{"route", route_.name},
                           {"side", to_string(failure.side)},
                           {"reason", to_string(failure.reason)}};
  if (!failure.detail.empty()) fields["detail"] = failure.detail;
  if (!failure.sni.empty()) fields["sni"] = failure.sni;
  base::log_limited(tls_failure_log_, base::LogLevel::Warn,
                    failure.during_handshake ? "tls handshake failed" : "tls error",
                    std::move(fields));
}

void Listener::reap_closed_sessions() {
  closed_sessions_.clear();
  uv_idle_stop(reaper_);
  maybe_finish_close();
}

void Listener::close(std::function<void()> on_closed) {
  assert(!closing_);
  closing_ = true;
  on_closed_ = std::move(on_closed);
  stop_accepting();
  close_all_sessions();
  if (retry_timer_ != nullptr) {
    uv_close(base::as_handle(std::exchange(retry_timer_, nullptr)), &Listener::on_timer_closed);
  }
  if (idle_timer_ != nullptr) {
    uv_close(base::as_handle(std::exchange(idle_timer_, nullptr)), &Listener::on_timer_closed);
  }
  maybe_finish_close();
}

// The reaper is closed last: sessions still closing need it to be reaped.
void Listener::maybe_finish_close() {
  if (!closing_ || !sessions_.empty() || !closed_sessions_.empty()) return;
  if (reaper_ != nullptr) {
    uv_close(base::as_handle(std::exchange(reaper_, nullptr)), &Listener::on_idle_closed);
  }
  if (open_handles_ > 0) return;
  std::function<void()> on_closed = std::move(on_closed_);
  on_closed_ = nullptr;
  if (on_closed) on_closed();  // may destroy this Listener: nothing follows
}

void Listener::close_listen_handle() {
  if (listen_ == nullptr) return;
  uv_close(base::as_handle(std::exchange(listen_, nullptr)), &Listener::on_tcp_closed);
}

void Listener::close_keeper() {
  if (keeper_fd_ < 0) return;
  ::close(keeper_fd_);
  keeper_fd_ = -1;
}

void Listener::on_handle_closed() {
  assert(open_handles_ > 0);
  --open_handles_;
  maybe_finish_close();  // may destroy this Listener: nothing follows
}

// ---- libuv callbacks -------------------------------------------------------------------

void Listener::on_connection_cb(uv_stream_t* server, int status) {
  static_cast<Listener*>(server->data)->on_connection(status);
}

void Listener::on_retry_timer(uv_timer_t* timer) {
  static_cast<Listener*>(timer->data)->resume_accepting();
}

void Listener::on_idle_sweep(uv_timer_t* timer) {
  static_cast<Listener*>(timer->data)->close_idle_sessions();
}

void Listener::on_reap(uv_idle_t* idle) {
  static_cast<Listener*>(idle->data)->reap_closed_sessions();
}

void Listener::on_tcp_closed(uv_handle_t* handle) {
  auto* self = static_cast<Listener*>(handle->data);
  delete reinterpret_cast<uv_tcp_t*>(handle);
  self->on_handle_closed();
}

void Listener::on_timer_closed(uv_handle_t* handle) {
  auto* self = static_cast<Listener*>(handle->data);
  delete reinterpret_cast<uv_timer_t*>(handle);
  self->on_handle_closed();
}

void Listener::on_idle_closed(uv_handle_t* handle) {
  auto* self = static_cast<Listener*>(handle->data);
  delete reinterpret_cast<uv_idle_t*>(handle);
  self->on_handle_closed();
}

}  // namespace mcptap::proxy

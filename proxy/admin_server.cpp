// The admin HTTP/1.1 server: listening, accepting, making room for a new connection, and
// closing; each client is an AdminConnection, all on the proxy's loop.
#include "proxy/admin_server.h"

#include <arpa/inet.h>

#include <cassert>
#include <cstring>

#include "base/resolver.h"
#include "base/uv_handles.h"
#include "proxy/admin_connection.h"

namespace mcptap::proxy {
namespace {

constexpr int kBacklog = 64;

}  // namespace

AdminServer::AdminServer(uv_loop_t* loop, Handler handler, AdminServerOptions options)
    : loop_(loop),
      handler_(std::move(handler)),
      options_(options),
      read_buffer_(new char[kAdminReadBufferBytes]) {
  assert(handler_ && "an AdminServer needs a handler");
}

AdminServer::~AdminServer() {
  assert(listen_ == nullptr && connections_.empty() &&
         "close() the AdminServer and run the loop until on_closed before destroying it");
}

base::Status AdminServer::start(const base::HostPort& address) {
  assert(listen_ == nullptr && !closing_);
  // A name ("localhost") is resolved once at start-up, where blocking is acceptable.
  base::Result<std::vector<sockaddr_storage>> resolved =
      base::resolve_blocking(address, "the admin listen host");
  int status = resolved ? bind_and_listen(resolved->front()) : UV_EAI_NONAME;
  if (status == 0) return {};
  if (listen_ != nullptr) uv_close(base::as_handle(listen_), &AdminServer::on_listen_closed);
  std::string reason = resolved ? uv_strerror(status) : resolved.error().message;
  return base::fail("admin: cannot listen on " + address.to_string() + ": " + reason,
                    resolved ? uv_err_name(status) : resolved.error().code);
}

int AdminServer::bind_and_listen(const sockaddr_storage& address) {
  int status = 0;
  listen_ = new uv_tcp_t;
  uv_tcp_init(loop_, listen_);
  listen_->data = this;
  status = uv_tcp_bind(listen_, reinterpret_cast<const sockaddr*>(&address), 0);
  // libuv reports EADDRINUSE from uv_listen rather than uv_tcp_bind.
  if (status == 0)
    status = uv_listen(base::as_stream(listen_), kBacklog, &AdminServer::on_connection_cb);
  if (status != 0) return status;
  sockaddr_storage bound;
  int length = sizeof(bound);
  status = uv_tcp_getsockname(listen_, reinterpret_cast<sockaddr*>(&bound), &length);
  if (status != 0) return status;
  bound_port_ = ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);  // same for v6
  return 0;
}

void AdminServer::on_connection(int status) {
  if (status != 0) {
    uint64_t suppressed = 0;
    if (accept_log_.allow(&suppressed)) {
      base::log_warn("admin accept failed",
                     {{"error", uv_err_name(status)}, {"suppressed", suppressed}});
    }
    return;
  }
  auto connection = std::make_unique<AdminConnection>(*this);
  AdminConnection* raw = connection.get();
  connections_.emplace(raw, std::move(connection));
  if (!raw->start(base::as_stream(listen_)))
    return;  // closing; comes back via on_connection_closed
  // Over the limit the oldest connection without a complete request gives way, so that idle
  // or dribbling clients cannot lock out a probe. Only when every other connection streams
  // is the new one closed at once: that costs one loop turn, where leaving it queued would
  // have the kernel hold it indefinitely.
  if (open_connections() > options_.max_connections && !evict_one(raw)) {
    ++counters_.connections_rejected;
    raw->close_now();
    return;
  }
  ++counters_.connections_accepted;
}

bool AdminServer::evict_one(const AdminConnection* keep) {
  // Connections still counted here may already be closing: only live ones hold a slot.
  size_t live = 0;
  AdminConnection* victim = nullptr;
  for (const auto& [raw, connection] : connections_) {
    if (raw->closing()) continue;
    ++live;
    if (raw == keep || !raw->evictable()) continue;
    if (victim == nullptr || raw->last_active() < victim->last_active()) victim = raw;
  }
  if (live <= options_.max_connections) return true;
  if (victim == nullptr) return false;
  ++counters_.connections_evicted;
  base::log_line(base::LogLevel::Debug, "admin connection displaced by a new one", {});
  victim->close_now();
  return true;
}

void AdminServer::on_connection_closed(AdminConnection* connection) {
  connections_.erase(connection);
  maybe_finish_close();
}

void AdminServer::close(std::function<void()> on_closed) {
  if (closing_) return;
  closing_ = true;
  on_closed_ = std::move(on_closed);
  if (listen_ != nullptr && !uv_is_closing(base::as_handle(listen_))) {
    uv_close(base::as_handle(listen_), &AdminServer::on_listen_closed);
  }
  // close_now() leaves the map alone (entries go in the close callbacks), so this is safe.
  for (const auto& [raw, connection] : connections_) raw->close_now();
  maybe_finish_close();
}

void AdminServer::maybe_finish_close() {
  if (!closing_ || listen_ != nullptr || !connections_.empty() || !on_closed_) return;
  std::function<void()> on_closed = std::move(on_closed_);
  on_closed_ = nullptr;
  on_closed();  // may destroy this server: nothing may follow
}

void AdminServer::on_connection_cb(uv_stream_t* server, int status) {
  static_cast<AdminServer*>(server->data)->on_connection(status);
}

void AdminServer::on_listen_closed(uv_handle_t* handle) {
  auto* self = static_cast<AdminServer*>(handle->data);
  delete reinterpret_cast<uv_tcp_t*>(handle);
  self->listen_ = nullptr;
  self->maybe_finish_close();
}

}  // namespace mcptap::proxy

// Resolves a route's upstream host:port for one connection: literals at once, names in the pool.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <functional>
#include <vector>

#include "proxy/route_config.h"

namespace mcptap::proxy {

// Parses an IPv4 or IPv6 literal (no DNS). False when `host` is not a literal.
bool parse_ip_literal(const HostPort& target, sockaddr_storage* address);

// Blocking resolution for start-up (listen addresses): a literal, else the first address
// getaddrinfo returns. Returns 0 or a UV_E* / UV_EAI_* status.
int resolve_blocking(uv_loop_t* loop, const HostPort& target, sockaddr_storage* address);

// Where a connection diverted to us by an iptables/nftables REDIRECT rule was going
// (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST for IPv6). Returns 0, UV_ELOOP when that is the
// accepted socket's own address (a connection made to mcptap directly: forwarding it would
// loop back), or the UV_E* status of the failed lookup (UV_ENOENT without a conntrack entry).
int original_destination(uv_tcp_t* accepted, sockaddr_storage* target);

// One lookup per connection; the caller then tries addresses() in order until a connect
// succeeds. Loop thread only.
class UpstreamResolver {
 public:
  enum class Start {
    Resolved,  // an IP literal: addresses() is filled, the callback will not run
    Pending,   // a name: the callback runs later on the loop thread
    Failed,    // could not even start: error() says why, the callback will not run
  };
  // `status` is 0 (addresses() filled, never empty) or a UV_EAI_* / UV_E* error.
  using Callback = std::function<void(int status)>;

  explicit UpstreamResolver(uv_loop_t* loop) : loop_(loop) {}
  ~UpstreamResolver() { cancel(); }
  UpstreamResolver(const UpstreamResolver&) = delete;
  UpstreamResolver& operator=(const UpstreamResolver&) = delete;

  Start start(const HostPort& target, Callback on_resolved);
  // A known address (an original destination): addresses() holds just it. Always Resolved.
  Start start_at(const sockaddr_storage& address);
  // Abandons a lookup in flight: its callback will never run. The thread pool may still be
  // busy with it; its request then frees itself when it comes back.
  void cancel();

  bool pending() const { return lookup_ != nullptr; }
  int error() const { return error_; }
  const std::vector<sockaddr_storage>& addresses() const { return addresses_; }

 private:
  struct Lookup;
  static void on_getaddrinfo(uv_getaddrinfo_t* req, int status, addrinfo* result);
  void finish_lookup(int status, const addrinfo* result);

  uv_loop_t* loop_;
  Lookup* lookup_ = nullptr;  // owned by the thread pool request until its callback
  Callback on_resolved_;
  std::vector<sockaddr_storage> addresses_;
  int error_ = 0;
};

}  // namespace mcptap::proxy

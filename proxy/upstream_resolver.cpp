// Upstream address resolution: IP literals without DNS, names through uv_getaddrinfo.
#include "proxy/upstream_resolver.h"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace mcptap::proxy {

// The request outlives a cancelled resolver: `owner` is cleared and the callback frees it.
struct UpstreamResolver::Lookup {
  uv_getaddrinfo_t req;
  UpstreamResolver* owner = nullptr;
};

namespace {

addrinfo stream_hints() {
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;
  return hints;
}

void copy_address(const addrinfo* info, sockaddr_storage* address) {
  std::memset(address, 0, sizeof(*address));
  std::memcpy(address, info->ai_addr, info->ai_addrlen);
}

}  // namespace

bool parse_ip_literal(const HostPort& target, sockaddr_storage* address) {
  std::memset(address, 0, sizeof(*address));
  auto* v4 = reinterpret_cast<sockaddr_in*>(address);
  if (uv_ip4_addr(target.host.c_str(), target.port, v4) == 0) return true;
  auto* v6 = reinterpret_cast<sockaddr_in6*>(address);
  return uv_ip6_addr(target.host.c_str(), target.port, v6) == 0;
}

int resolve_blocking(uv_loop_t* loop, const HostPort& target, sockaddr_storage* address) {
  if (parse_ip_literal(target, address)) return 0;
  uv_getaddrinfo_t req;
  addrinfo hints = stream_hints();
  hints.ai_flags |= AI_PASSIVE;
  std::string port = std::to_string(target.port);
  // Without a callback uv_getaddrinfo runs synchronously, which start-up can afford.
  int status = uv_getaddrinfo(loop, &req, nullptr, target.host.c_str(), port.c_str(), &hints);
  if (status != 0) return status;
  copy_address(req.addrinfo, address);
  uv_freeaddrinfo(req.addrinfo);
  return 0;
}

namespace {

bool same_endpoint(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
  const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
  return x.sin6_port == y.sin6_port &&
         std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof(in6_addr)) == 0;
}

}  // namespace

int original_destination(uv_tcp_t* accepted, sockaddr_storage* target) {
  std::memset(target, 0, sizeof(*target));
  sockaddr_storage local;
  int length = sizeof(local);
  int status = uv_tcp_getsockname(accepted, reinterpret_cast<sockaddr*>(&local), &length);
  if (status != 0) return status;
  uv_os_fd_t fd = -1;
  status = uv_fileno(reinterpret_cast<uv_handle_t*>(accepted), &fd);
  if (status != 0) return status;
  socklen_t size = sizeof(*target);
  int lookup = local.ss_family == AF_INET6
                   ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, target, &size)
                   : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, target, &size);
  if (lookup != 0) return -errno;
  // Not redirected (the client dialled mcptap itself): conntrack reports our own address.
  return same_endpoint(*target, local) ? UV_ELOOP : 0;
}

UpstreamResolver::Start UpstreamResolver::start_at(const sockaddr_storage& address) {
  assert(!pending());
  addresses_.assign(1, address);
  error_ = 0;
  return Start::Resolved;
}

UpstreamResolver::Start UpstreamResolver::start(const HostPort& target, Callback on_resolved) {
  assert(!pending());
  addresses_.clear();
  error_ = 0;
  sockaddr_storage literal;
  if (parse_ip_literal(target, &literal)) {
    addresses_.push_back(literal);
    return Start::Resolved;
  }
  auto* lookup = new Lookup();
  lookup->owner = this;
  lookup->req.data = lookup;
  addrinfo hints = stream_hints();
  std::string port = std::to_string(target.port);
  int status = uv_getaddrinfo(loop_, &lookup->req, &UpstreamResolver::on_getaddrinfo,
                              target.host.c_str(), port.c_str(), &hints);
  if (status != 0) {
    delete lookup;
    error_ = status;
    return Start::Failed;
  }
  lookup_ = lookup;
  on_resolved_ = std::move(on_resolved);
  return Start::Pending;
}

void UpstreamResolver::cancel() {
  if (lookup_ == nullptr) return;
  lookup_->owner = nullptr;
  // Best effort: a lookup already running in the pool cannot be stopped, only ignored.
  uv_cancel(reinterpret_cast<uv_req_t*>(&lookup_->req));
  lookup_ = nullptr;
  on_resolved_ = nullptr;
}

void UpstreamResolver::on_getaddrinfo(uv_getaddrinfo_t* req, int status, addrinfo* result) {
  auto* lookup = static_cast<Lookup*>(req->data);
  UpstreamResolver* owner = lookup->owner;
  delete lookup;
  if (owner != nullptr) owner->finish_lookup(status, result);
  uv_freeaddrinfo(result);
}

void UpstreamResolver::finish_lookup(int status, const addrinfo* result) {
  lookup_ = nullptr;
  for (const addrinfo* info = result; status == 0 && info != nullptr; info = info->ai_next) {
    if (info->ai_family != AF_INET && info->ai_family != AF_INET6) continue;
    sockaddr_storage address;
    copy_address(info, &address);
    addresses_.push_back(address);
  }
  if (status == 0 && addresses_.empty()) status = UV_EAI_NONAME;
  error_ = status;
  // Moved out first: the callback may start another lookup or drop this resolver's owner.
  Callback callback = std::move(on_resolved_);
  on_resolved_ = nullptr;
  callback(status);
}

}  // namespace mcptap::proxy

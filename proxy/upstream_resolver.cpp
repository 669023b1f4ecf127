// Upstream address resolution: IP literals without DNS, names through uv_getaddrinfo.
#include "proxy/upstream_resolver.h"

#include <netdb.h>
#include <netinet/in.h>

#include <cassert>
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

// Address resolution: IP literals without DNS, names through getaddrinfo (blocking) or
// uv_getaddrinfo (on the loop's thread pool).
#include "base/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cassert>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace mcptap::base {

// The request outlives a cancelled resolver: `owner` is cleared and the callback frees it.
struct Resolver::Lookup {
  uv_getaddrinfo_t req;
  Resolver* owner = nullptr;
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

// The IPv4 and IPv6 entries of a getaddrinfo answer, in its order.
std::vector<sockaddr_storage> stream_addresses(const addrinfo* result) {
  std::vector<sockaddr_storage> addresses;
  for (const addrinfo* info = result; info != nullptr; info = info->ai_next) {
    if (info->ai_family != AF_INET && info->ai_family != AF_INET6) continue;
    sockaddr_storage address;
    std::memset(&address, 0, sizeof(address));
    std::memcpy(&address, info->ai_addr, info->ai_addrlen);
    addresses.push_back(address);
  }
  return addresses;
}

const char* eai_name(int status) {
  switch (status) {
    case EAI_AGAIN:
      return "EAI_AGAIN";
    case EAI_FAIL:
      return "EAI_FAIL";
    case EAI_NONAME:
      return "EAI_NONAME";
    case EAI_NODATA:
      return "EAI_NODATA";
    case EAI_ADDRFAMILY:
      return "EAI_ADDRFAMILY";
    case EAI_SYSTEM:
      return "EAI_SYSTEM";
    default:
      return "EAI_OTHER";
  }
}

}  // namespace

std::optional<sockaddr_storage> ip_literal(const HostPort& target) {
  sockaddr_storage address;
  std::memset(&address, 0, sizeof(address));
  if (uv_ip4_addr(target.host.c_str(), target.port, reinterpret_cast<sockaddr_in*>(&address)) ==
      0) {
    return address;
  }
  if (uv_ip6_addr(target.host.c_str(), target.port, reinterpret_cast<sockaddr_in6*>(&address)) ==
      0) {
    return address;
  }
  return std::nullopt;
}

bool is_ip_literal(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  if (text.find('\0') != std::string_view::npos) return false;  // c_str() would cut it
  std::string terminated(text);
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, terminated.c_str(), address) == 1 ||
         inet_pton(AF_INET6, terminated.c_str(), address) == 1;
}

std::string address_text(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "";
  if (address.ss_family == AF_INET) {
    uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&address), text, sizeof(text));
  } else if (address.ss_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&address), text, sizeof(text));
  }
  return text;
}

Result<std::vector<sockaddr_storage>> resolve_blocking(const HostPort& target,
                                                       std::string_view what) {
  if (std::optional<sockaddr_storage> literal = ip_literal(target)) {
    return std::vector<sockaddr_storage>{*literal};
  }
  addrinfo hints = stream_hints();
  addrinfo* found = nullptr;
  std::string port = std::to_string(target.port);
  std::string failed = "cannot resolve " + std::string(what) + " \"" + target.host + "\": ";
  if (int status = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found)) {
    return fail(failed + ::gai_strerror(status), eai_name(status));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, &::freeaddrinfo);
  std::vector<sockaddr_storage> addresses = stream_addresses(found);
  if (addresses.empty()) return fail(failed + "no IPv4 or IPv6 address", "EAI_NONAME");
  return addresses;
}

Resolver::Start Resolver::start_at(const sockaddr_storage& address) {
  assert(!pending());
  addresses_.assign(1, address);
  error_ = 0;
  return Start::Resolved;
}

Resolver::Start Resolver::start(const HostPort& target, Callback on_resolved) {
  assert(!pending());
  addresses_.clear();
  error_ = 0;
  if (std::optional<sockaddr_storage> literal = ip_literal(target)) {
    addresses_.push_back(*literal);
    return Start::Resolved;
  }
  auto* lookup = new Lookup();
  lookup->owner = this;
  lookup->req.data = lookup;
  addrinfo hints = stream_hints();
  std::string port = std::to_string(target.port);
  int status = uv_getaddrinfo(loop_, &lookup->req, &Resolver::on_getaddrinfo, target.host.c_str(),
                              port.c_str(), &hints);
  if (status != 0) {
    delete lookup;
    error_ = status;
    return Start::Failed;
  }
  lookup_ = lookup;
  on_resolved_ = std::move(on_resolved);
  return Start::Pending;
}

void Resolver::cancel() {
  if (lookup_ == nullptr) return;
  lookup_->owner = nullptr;
  // Best effort: a lookup already running in the pool cannot be stopped, only ignored.
  uv_cancel(reinterpret_cast<uv_req_t*>(&lookup_->req));
  lookup_ = nullptr;
  on_resolved_ = nullptr;
}

void Resolver::on_getaddrinfo(uv_getaddrinfo_t* req, int status, addrinfo* result) {
  auto* lookup = static_cast<Lookup*>(req->data);
  Resolver* owner = lookup->owner;
  delete lookup;
  if (owner != nullptr) owner->finish_lookup(status, result);
  uv_freeaddrinfo(result);
}

void Resolver::finish_lookup(int status, const addrinfo* result) {
  lookup_ = nullptr;
  if (status == 0) addresses_ = stream_addresses(result);
  if (status == 0 && addresses_.empty()) status = UV_EAI_NONAME;
  error_ = status;
  // Moved out first: the callback may start another lookup or drop this resolver's owner.
  Callback callback = std::move(on_resolved_);
  on_resolved_ = nullptr;
  callback(status);
}

}  // namespace mcptap::base

// The original destination of a redirected connection, from conntrack.
#include "proxy/original_destination.h"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace mcptap::proxy {

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

}  // namespace mcptap::proxy

// The original destination of a connection diverted here by a REDIRECT rule: the upstream
// of an original_dst route (the other routes resolve theirs with base::Resolver).
#pragma once

#include <sys/socket.h>
#include <uv.h>

namespace mcptap::proxy {

// Where a connection diverted to us by an iptables/nftables REDIRECT rule was going
// (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST for IPv6). Returns 0, UV_ELOOP when that is the
// accepted socket's own address (a connection made to mcptap directly: forwarding it would
// loop back), or the UV_E* status of the failed lookup (UV_ENOENT without a conntrack entry).
int original_destination(uv_tcp_t* accepted, sockaddr_storage* target);

}  // namespace mcptap::proxy

// A TCP port on 127.0.0.1 where, right after this returns, nothing listens: for a server a
// test starts later that cannot bind port 0 and report its port (PostgreSQL names its socket
// after its port). The port is released, so another process may take it meanwhile; for a
// port that must refuse connections, hold a ClosedPort (closed_port.h) instead.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

namespace mcptap::test_support {

inline uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace mcptap::test_support

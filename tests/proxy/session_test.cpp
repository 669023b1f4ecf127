// Session: forwarding, half-close, resets, watermarks, upstream failures and the tap.
#include "proxy/session.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "proxy_test_support.h"

namespace mcptap::proxy {
namespace {

using namespace std::chrono_literals;
using testing::Ending;
using testing::TapLog;
using testing::TestServer;

class SessionTest : public testing::ProxyTest {
 protected:
  // A route with "upstream": "original_dst", listening on loopback.
  Listener& start_transparent_proxy() {
    RouteConfig route = testing::test_route("transparent", {"127.0.0.1", 0}, {});
    route.upstream_original_dst = true;
    listener_ = std::make_unique<Listener>(&loop_, route, limits_, pool_, nullptr);
    base::Status started = listener_->start();
    EXPECT_TRUE(started) << started.error().message;
    return *listener_;
  }
};

// How one client connection through the proxy ended, and how long it took.
struct ClientOutcome {
  Ending ending = Ending::Other;
  std::string received;
  std::chrono::steady_clock::duration took{};
};

// Connects, sends `request` (if any), reads to the end. The failure tests send nothing: a
// socket closed with unread bytes is reset by the kernel anyway, and Node's fetch met the
// proxy's close before it had written its request.
ClientOutcome connect_and_read(uint16_t port, const std::string& request = {}) {
  ClientOutcome outcome;
  auto begin = std::chrono::steady_clock::now();
  int fd = testing::connect_to(port);
  EXPECT_GE(fd, 0);
  if (fd < 0) return outcome;
  if (!request.empty()) testing::send_all(fd, request);
  outcome.ending = testing::read_to_end(fd, &outcome.received);
  outcome.took = std::chrono::steady_clock::now() - begin;
  ::close(fd);
  return outcome;
}

TEST_F(SessionTest, ForwardsBytesUnchangedBothWays) {
  uint16_t upstream = start_server(TestServer::Mode::Echo);
  uint16_t proxy = start_proxy({"127.0.0.1", upstream}).bound_port();
  std::string sent = testing::random_bytes(200000, 1);
  std::string received;
  Ending ending = Ending::Other;
  ASSERT_TRUE(run_with_client([&] {
    int fd = testing::connect_to(proxy);
    ASSERT_GE(fd, 0);
    std::thread writer([&] {
      testing::send_all(fd, sent);
      ::shutdown(fd, SHUT_WR);
    });
    ending = testing::read_to_end(fd, &received);
    writer.join();
    ::close(fd);
  }));
  EXPECT_EQ(ending, Ending::Eof);
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().connections_total, 1u);
  EXPECT_EQ(listener_->counters().connections_open, 0u);
  EXPECT_EQ(listener_->counters().bytes_client_to_server, sent.size());
  EXPECT_EQ(listener_->counters().bytes_server_to_client, sent.size());
  EXPECT_EQ(pool_.buffers_in_use(), 0u);
}

// A reader that stalls makes the proxy's queue toward it pass the high watermark: reads from
// the other side must stop (counted), resume later, and not a byte may change.
TEST_F(SessionTest, LargeTransferToSlowReaderPausesAndStaysIntact) {
  uint16_t upstream = start_server(TestServer::Mode::Echo);
  FlowLimits limits;
  uint16_t proxy = start_proxy({"127.0.0.1", upstream}, limits).bound_port();
  std::string sent = testing::random_bytes(32u << 20, 7);
  std::string received;
  received.reserve(sent.size());
  ASSERT_TRUE(run_with_client(
      [&] {
        int fd = testing::connect_to(proxy);
        ASSERT_GE(fd, 0);
        std::thread writer([&] {
          testing::send_all(fd, sent);
          ::shutdown(fd, SHUT_WR);
        });
        std::this_thread::sleep_for(300ms);  // let every queue on the way fill up
        char chunk[16384];
        size_t since_nap = 0;
        for (;;) {
          ssize_t got = ::recv(fd, chunk, sizeof(chunk), 0);
          if (got <= 0) break;
          received.append(chunk, static_cast<size_t>(got));
          since_nap += static_cast<size_t>(got);
          if (since_nap >= (1u << 20)) {  // keep reading slowly so pauses recur
            since_nap = 0;
            std::this_thread::sleep_for(5ms);
          }
        }
        writer.join();
        ::close(fd);
      },
      120000));
  ASSERT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_GT(listener_->counters().watermark_pauses, 0u);
  // The watermarks bound memory: per direction at most high/buffer + 1 buffers are queued,
  // plus the one being read.
  size_t per_direction = limits.high_watermark_bytes / pool_.buffer_bytes() + 2;
  EXPECT_LE(pool_.allocations(), 2 * per_direction);
  EXPECT_EQ(pool_.buffers_in_use(), 0u);
}

// With both watermarks at zero every queued write pauses the source, and an empty queue
// must resume it, or the transfer stalls.
TEST_F(SessionTest, ZeroWatermarksStillMakeProgress) {
  uint16_t upstream = start_server(TestServer::Mode::Echo);
  FlowLimits limits;
  limits.high_watermark_bytes = 0;
  limits.low_watermark_bytes = 0;
  uint16_t proxy = start_proxy({"127.0.0.1", upstream}, limits).bound_port();
  std::string sent = testing::random_bytes(8u << 20, 11);
  std::string received;
  ASSERT_TRUE(run_with_client([&] {
    int fd = testing::connect_to(proxy);
    ASSERT_GE(fd, 0);
    std::thread writer([&] {
      testing::send_all(fd, sent);
      ::shutdown(fd, SHUT_WR);
    });
    std::this_thread::sleep_for(100ms);
    testing::read_to_end(fd, &received);
    writer.join();
    ::close(fd);
  }));
  ASSERT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_GT(listener_->counters().watermark_pauses, 0u);
}

// The client ends its side; the server still answers after that, and the answer arrives
// before the client's EOF.
TEST_F(SessionTest, HalfClosePassesThroughAndServerCanStillReply) {
  uint16_t upstream = start_server(TestServer::Mode::ReplyOnEof);
  auto log = std::make_shared<TapLog>();
  TapFactory taps = [log](const std::string&) {
    return std::make_unique<testing::RecordingTap>(log);
  };
  uint16_t proxy = start_proxy({"127.0.0.1", upstream}, {}, taps).bound_port();
  std::string reply;
  Ending ending = Ending::Other;
  ASSERT_TRUE(run_with_client([&] {
    int fd = testing::connect_to(proxy);
    ASSERT_GE(fd, 0);
    testing::send_all(fd, std::string("hello world"));
    ::shutdown(fd, SHUT_WR);
    ending = testing::read_to_end(fd, &reply);
    ::close(fd);
  }));
  EXPECT_EQ(ending, Ending::Eof);
  EXPECT_EQ(reply, "received 11 bytes");
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(log->client_to_server, "hello world");
  EXPECT_EQ(log->server_to_client, "received 11 bytes");
  EXPECT_TRUE(log->client_ended);
  EXPECT_TRUE(log->server_ended);
  EXPECT_FALSE(log->bytes_after_end);
  EXPECT_TRUE(log->closed);
}

// Many small exchanges: the tap sees exactly the forwarded bytes, in order, each way.
TEST_F(SessionTest, TapSeesForwardedBytesInOrder) {
  uint16_t upstream = start_server(TestServer::Mode::Echo);
  auto log = std::make_shared<TapLog>();
  std::vector<std::string> ids;
  TapFactory taps = [log, &ids](const std::string& id) {
    ids.push_back(id);
    return std::make_unique<testing::RecordingTap>(log);
  };
  uint16_t proxy = start_proxy({"127.0.0.1", upstream}, {}, taps).bound_port();
  std::string all_sent;
  std::string all_received;
  ASSERT_TRUE(run_with_client([&] {
    int fd = testing::connect_to(proxy);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 50; ++i) {
      std::string message = "{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(i) + "}\n" +
                            testing::random_bytes(static_cast<size_t>(i) * 97, i);
      testing::send_all(fd, message);
      all_sent += message;
      all_received += testing::read_exactly(fd, message.size());
    }
    ::shutdown(fd, SHUT_WR);
    testing::read_to_end(fd, &all_received);
    ::close(fd);
  }));
  EXPECT_TRUE(all_received == all_sent);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_TRUE(log->client_to_server == all_sent);
  EXPECT_TRUE(log->server_to_client == all_sent);
  EXPECT_TRUE(log->client_ended && log->server_ended && log->closed);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0].size(), 16u);
  EXPECT_EQ(ids[0].find_first_not_of("0123456789abcdef"), std::string::npos);
}

// Direct, the client's connect would be refused. Through the proxy its connect succeeded,
// so it must be reset: a FIN reads as an empty answer that an HTTP client may wait on forever.
// A client that says nothing is reset after the grace.
TEST_F(SessionTest, RefusedUpstreamResetsSilentClientAfterTheGrace) {
  uint16_t proxy = start_proxy({"127.0.0.1", testing::unused_port()}).bound_port();
  ClientOutcome outcome;
  ASSERT_TRUE(run_with_client([&] { outcome = connect_and_read(proxy); }));
  EXPECT_EQ(outcome.ending, Ending::Reset);
  EXPECT_TRUE(outcome.received.empty());
  EXPECT_GE(outcome.took, std::chrono::milliseconds(Session::kFailedClientGraceMs) - 50ms);
  EXPECT_LT(outcome.took, 2s);  // not the 10 s connect timeout
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().upstream_connect_failures, 1u);
  EXPECT_EQ(listener_->counters().connections_open, 0u);
}

// A client that speaks after the connect failed is reset as soon as its bytes arrive.
TEST_F(SessionTest, RefusedUpstreamResetsClientAsSoonAsItSpeaks) {
  uint16_t proxy = start_proxy({"127.0.0.1", testing::unused_port()}).bound_port();
  Ending ending = Ending::Other;
  std::chrono::steady_clock::duration after_request{};
  ASSERT_TRUE(run_with_client([&] {
    int fd = testing::connect_to(proxy);
    ASSERT_GE(fd, 0);
    std::this_thread::sleep_for(100ms);  // the refusal is in by now
    auto sent = std::chrono::steady_clock::now();
    testing::send_all(fd, std::string("POST /mcp HTTP/1.1\r\n"));
    ending = testing::read_to_end(fd, nullptr);
    after_request = std::chrono::steady_clock::now() - sent;
    ::close(fd);
  }));
  EXPECT_EQ(ending, Ending::Reset);
  EXPECT_LT(after_request, std::chrono::milliseconds(Session::kFailedClientGraceMs) - 200ms);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().upstream_connect_failures, 1u);
  EXPECT_EQ(listener_->counters().bytes_client_to_server, 0u);  // dropped, never forwarded
}

// An upstream that never answers a connect, without sending a packet off this machine:
// a loopback listener with backlog 0 whose one accept-queue slot is taken by a connection
// nobody accepts. Linux then drops every further SYN to it (tcp_conn_request counts a
// ListenOverflow and drops; tcp_abort_on_overflow only concerns the final ACK), so a
// connect stays in SYN-SENT until the caller gives up. drops_connects() checks that this
// stack behaves so; the test fails rather than passes vacuously if it does not.
class SaturatedListener {
 public:
  SaturatedListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::listen(fd_, 0);
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    for (int i = 0; i < 4; ++i) fillers_.push_back(nonblocking_connect());
  }
  ~SaturatedListener() {
    for (int fd : fillers_) ::close(fd);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  // True when one more connect really stays pending (the kernel drops the SYN).
  bool drops_connects() {
    int probe = nonblocking_connect();
    pollfd waiting{probe, POLLOUT, 0};
    bool pending = ::poll(&waiting, 1, 200) == 0;
    ::close(probe);
    return pending;
  }

 private:
  int nonblocking_connect() const {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    return fd;
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> fillers_;
};

TEST_F(SessionTest, UpstreamConnectTimeoutResetsClient) {
  SaturatedListener upstream;
  ASSERT_TRUE(upstream.drops_connects()) << "a connect to a full accept queue was answered";
  FlowLimits limits;
  limits.connect_timeout_ms = 300;
  uint16_t proxy = start_proxy({"127.0.0.1", upstream.port()}, limits).bound_port();
  ClientOutcome outcome;
  ASSERT_TRUE(run_with_client([&] { outcome = connect_and_read(proxy); }));
  EXPECT_EQ(outcome.ending, Ending::Reset);
  EXPECT_TRUE(outcome.received.empty());
  EXPECT_GE(outcome.took, 250ms);
  EXPECT_LT(outcome.took, 2s);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().upstream_connect_failures, 1u);
}

// Closing a session whose upstream connect is still pending (a drain deadline) resets the
// client too: its request never reached a server.
TEST_F(SessionTest, CloseWhileConnectingResetsClient) {
  SaturatedListener upstream;
  ASSERT_TRUE(upstream.drops_connects()) << "a connect to a full accept queue was answered";
  uint16_t proxy = start_proxy({"127.0.0.1", upstream.port()}).bound_port();  // 10 s timeout
  int fd = -1;
  ASSERT_TRUE(run_with_client([&] { fd = testing::connect_to(proxy); }));
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(run_until([&] { return listener_->open_sessions() == 1; }, 5000));
  listener_->close_all_sessions();
  Ending ending = Ending::Other;
  ASSERT_TRUE(run_with_client([&] {
    ending = testing::read_to_end(fd, nullptr);
    ::close(fd);
  }));
  EXPECT_EQ(ending, Ending::Reset);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().upstream_connect_failures, 0u);  // closed, not failed
}

TEST_F(SessionTest, ResolvesUpstreamHostName) {
  uint16_t upstream = start_server(TestServer::Mode::Echo);
  uint16_t proxy = start_proxy({"localhost", upstream}).bound_port();
  std::string received;
  ASSERT_TRUE(run_with_client([&] {
    int fd = testing::connect_to(proxy);
    ASSERT_GE(fd, 0);
    testing::send_all(fd, std::string("ping"));
    ::shutdown(fd, SHUT_WR);
    testing::read_to_end(fd, &received);
    ::close(fd);
  }));
  EXPECT_EQ(received, "ping");
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().upstream_connect_failures, 0u);
}

// The resolved addresses are tried in order: earlier ones refusing is not a failure.
TEST_F(SessionTest, FallsBackToTheNextResolvedAddress) {
  base::Resolver probe(&loop_);
  int status = 1;
  ASSERT_EQ(probe.start({"localhost", 1}, [&](int result) { status = result; }),
            base::Resolver::Start::Pending);
  ASSERT_TRUE(run_until([&] { return status != 1; }, 10000));
  if (status != 0 || probe.addresses().size() < 2) {
    GTEST_SKIP() << "localhost has a single address here";
  }
  // Only the last address listens; every earlier one refuses.
  const sockaddr_storage& last = probe.addresses().back();
  char ip[INET6_ADDRSTRLEN] = {};
  if (last.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&last)->sin6_addr, ip, sizeof(ip));
  } else {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&last)->sin_addr, ip, sizeof(ip));
  }
  uint16_t upstream = start_server(TestServer::Mode::Echo, ip);
  uint16_t proxy = start_proxy({"localhost", upstream}).bound_port();
  std::string received;
  ASSERT_TRUE(run_with_client([&] {
    int fd = testing::connect_to(proxy);
    ASSERT_GE(fd, 0);
    testing::send_all(fd, std::string("fallback"));
    ::shutdown(fd, SHUT_WR);
    testing::read_to_end(fd, &received);
    ::close(fd);
  }));
  EXPECT_EQ(received, "fallback");
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().upstream_connect_failures, 0u);
}

TEST_F(SessionTest, UnresolvableUpstreamResetsClient) {
  uint16_t proxy = start_proxy({"no-such-host.invalid", 9}).bound_port();
  ClientOutcome outcome;
  ASSERT_TRUE(run_with_client([&] { outcome = connect_and_read(proxy); }));
  EXPECT_EQ(outcome.ending, Ending::Reset);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().upstream_connect_failures, 1u);
}

// A transparent route reached directly has no original destination to forward to (no
// conntrack entry, or its own address: a loop). That is a failed connect, and a reset.
TEST_F(SessionTest, TransparentRouteReachedDirectlyResetsClient) {
  uint16_t proxy = start_transparent_proxy().bound_port();
  ClientOutcome outcome;
  ASSERT_TRUE(run_with_client([&] { outcome = connect_and_read(proxy); }));
  EXPECT_EQ(outcome.ending, Ending::Reset);
  EXPECT_LT(outcome.took, 2s);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().upstream_connect_failures, 1u);
}

// An upstream that answers one request and, once the client confirms the answer arrived,
// ends the connection its own way: a FIN, or a reset (SO_LINGER 0). The confirmation makes
// the ending arrive on its own; a reset that comes in with unread data is reported by libuv
// as an EOF (its POLLHUP shortcut after a partial read). Blocking, in a thread of its own,
// so the proxy's loop stays free.
class OneShotUpstream {
 public:
  explicit OneShotUpstream(bool reset) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval timeout{20, 0};  // accept and recv give up instead of hanging a failed test
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::listen(listen_fd_, 1);
    socklen_t length = sizeof(address);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this, reset] { serve(reset); });
  }
  ~OneShotUpstream() {
    thread_.join();
    ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void serve(bool reset) const {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    timeval timeout{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (testing::read_exactly(fd, 7) == "request" && testing::send_all(fd, std::string("reply"))) {
      testing::read_exactly(fd, 3);  // "ack"
    }
    if (reset) {
      linger abort_on_close{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
    }
    ::close(fd);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

// Sends "request", expects "reply", confirms with "ack", then reads to the end.
Ending exchange_then_read_to_end(uint16_t port) {
  int fd = testing::connect_to(port);
  EXPECT_GE(fd, 0);
  if (fd < 0) return Ending::Other;
  testing::send_all(fd, std::string("request"));
  EXPECT_EQ(testing::read_exactly(fd, 5), "reply");
  testing::send_all(fd, std::string("ack"));
  std::string more;
  Ending ending = testing::read_to_end(fd, &more);
  EXPECT_TRUE(more.empty());
  ::close(fd);
  return ending;
}

// Established connections keep their endings: the upstream's FIN reaches the client as an
// orderly EOF...
TEST_F(SessionTest, UpstreamFinReachesClientAsEof) {
  OneShotUpstream upstream(false);
  uint16_t proxy = start_proxy({"127.0.0.1", upstream.port()}).bound_port();
  Ending ending = Ending::Other;
  ASSERT_TRUE(run_with_client([&] { ending = exchange_then_read_to_end(proxy); }));
  EXPECT_EQ(ending, Ending::Eof);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().upstream_connect_failures, 0u);
}

// ...and its reset as a reset.
TEST_F(SessionTest, UpstreamResetReachesClientAsReset) {
  OneShotUpstream upstream(true);
  uint16_t proxy = start_proxy({"127.0.0.1", upstream.port()}).bound_port();
  Ending ending = Ending::Other;
  ASSERT_TRUE(run_with_client([&] { ending = exchange_then_read_to_end(proxy); }));
  EXPECT_EQ(ending, Ending::Reset);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().upstream_connect_failures, 0u);
}

// A reset from the client reaches the server as a reset, not as an orderly EOF.
TEST_F(SessionTest, ClientResetReachesUpstreamAsReset) {
  uint16_t upstream = start_server(TestServer::Mode::Echo);
  uint16_t proxy = start_proxy({"127.0.0.1", upstream}).bound_port();
  ASSERT_TRUE(run_with_client([&] {
    int fd = testing::connect_to(proxy);
    ASSERT_GE(fd, 0);
    testing::send_all(fd, std::string("x"));
    EXPECT_EQ(testing::read_exactly(fd, 1), "x");  // the session is forwarding by now
    linger abort_on_close{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
    ::close(fd);
  }));
  ASSERT_TRUE(run_until([&] { return !server_->read_errors().empty(); }, 5000));
  EXPECT_EQ(server_->read_errors()[0], UV_ECONNRESET);
  ASSERT_TRUE(wait_until_no_sessions());
}

// After warm-up, forwarding takes every buffer from the free list.
TEST_F(SessionTest, BufferPoolNeedsNoAllocationsAfterWarmUp) {
  uint16_t upstream = start_server(TestServer::Mode::Echo);
  uint16_t proxy = start_proxy({"127.0.0.1", upstream}).bound_port();
  int fd = -1;
  auto exchange = [&](int rounds) {
    for (int i = 0; i < rounds; ++i) {
      std::string message = testing::random_bytes(1000, i);
      testing::send_all(fd, message);
      EXPECT_TRUE(testing::read_exactly(fd, message.size()) == message);
    }
  };
  ASSERT_TRUE(run_with_client([&] {
    fd = testing::connect_to(proxy);
    ASSERT_GE(fd, 0);
    exchange(10);
  }));
  uint64_t warmed_up = pool_.allocations();
  EXPECT_GT(warmed_up, 0u);
  ASSERT_TRUE(run_with_client([&] {
    exchange(500);
    ::shutdown(fd, SHUT_WR);
    testing::read_to_end(fd, nullptr);
    ::close(fd);
  }));
  EXPECT_EQ(pool_.allocations(), warmed_up);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(pool_.buffers_in_use(), 0u);
}

TEST_F(SessionTest, ManyConcurrentSessions) {
  constexpr int kClients = 64;
  constexpr size_t kBytes = 64u << 10;
  uint16_t upstream = start_server(TestServer::Mode::Echo);
  uint16_t proxy = start_proxy({"127.0.0.1", upstream}).bound_port();
  std::atomic<int> intact{0};
  ASSERT_TRUE(run_with_client([&] {
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.emplace_back([&, i] {
        std::string sent = testing::random_bytes(kBytes, 100 + i);
        std::string received;
        int fd = testing::connect_to(proxy);
        if (fd < 0) return;
        std::thread writer([&] {
          testing::send_all(fd, sent);
          ::shutdown(fd, SHUT_WR);
        });
        testing::read_to_end(fd, &received);
        writer.join();
        ::close(fd);
        if (received == sent) ++intact;
      });
    }
    for (auto& client : clients) client.join();
  }));
  EXPECT_EQ(intact.load(), kClients);
  ASSERT_TRUE(wait_until_no_sessions());
  EXPECT_EQ(listener_->counters().connections_total, static_cast<uint64_t>(kClients));
  EXPECT_EQ(listener_->counters().bytes_client_to_server, kClients * kBytes);
  EXPECT_EQ(listener_->counters().bytes_server_to_client, kClients * kBytes);
  EXPECT_EQ(server_->accepted(), static_cast<size_t>(kClients));
}

}  // namespace
}  // namespace mcptap::proxy

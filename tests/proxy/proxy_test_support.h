// Real peers for proxy tests: a libuv loop fixture, a libuv upstream server, blocking clients.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "capture/stream_tap.h"
#include "proxy/buffer_pool.h"
#include "proxy/listener.h"
#include "tests/support/unused_port.h"

namespace mcptap::proxy::testing {

// A loop per test. TearDown insists every handle was closed: uv_loop_close must return 0.
class LoopTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }

  void TearDown() override {
    // Give close callbacks their turn, without hanging on a handle a test forgot.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (uv_loop_alive(&loop_) && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    uv_walk(
        &loop_,
        [](uv_handle_t* handle, void*) {
          ADD_FAILURE() << "handle left open: " << uv_handle_type_name(uv_handle_get_type(handle));
        },
        nullptr);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // Runs the loop until `done` holds or `timeout_ms` passes; returns done().
  bool run_until(const std::function<bool()>& done, int timeout_ms = 20000) {
    uv_timer_t tick;  // wakes the loop so `done` is checked even when nothing else happens
    uv_timer_init(&loop_, &tick);
    uv_timer_start(
        &tick, [](uv_timer_t*) {}, 2, 2);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    bool closed = false;
    tick.data = &closed;
    uv_close(reinterpret_cast<uv_handle_t*>(&tick),
             [](uv_handle_t* handle) { *static_cast<bool*>(handle->data) = true; });
    while (!closed) uv_run(&loop_, UV_RUN_ONCE);
    return done();
  }

  // Runs the loop while `work` runs in a thread (a blocking client), then joins it.
  bool run_with_client(const std::function<void()>& work, int timeout_ms = 30000) {
    std::atomic<bool> finished{false};
    std::thread client([&] {
      work();
      finished = true;
    });
    bool ok = run_until([&] { return finished.load(); }, timeout_ms);
    client.join();
    return ok;
  }

  uv_loop_t loop_;
};

// ---- An upstream server on the test loop -----------------------------------------------

class TestServer {
 public:
  enum class Mode {
    Echo,        // writes back what it reads, with its own watermarks; FIN after client's
    ReplyOnEof,  // reads to EOF, then replies "received <n> bytes" and sends FIN
  };

  TestServer(uv_loop_t* loop, Mode mode) : loop_(loop), mode_(mode) {}
  ~TestServer() { EXPECT_TRUE(listen_closed_) << "close() the TestServer before it goes"; }

  uint16_t listen(const char* ip = "127.0.0.1") {
    sockaddr_storage address;
    if (std::strchr(ip, ':') != nullptr) {
      uv_ip6_addr(ip, 0, reinterpret_cast<sockaddr_in6*>(&address));
    } else {
      uv_ip4_addr(ip, 0, reinterpret_cast<sockaddr_in*>(&address));
    }
    uv_tcp_init(loop_, &listen_);
    listen_.data = this;
    EXPECT_EQ(uv_tcp_bind(&listen_, reinterpret_cast<sockaddr*>(&address), 0), 0);
    EXPECT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(&listen_), 128, &TestServer::on_connection),
              0);
    sockaddr_storage bound;
    int length = sizeof(bound);
    uv_tcp_getsockname(&listen_, reinterpret_cast<sockaddr*>(&bound), &length);
    return ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);  // same offset for v6
  }

  // Closes the listening socket and every connection still open.
  void close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&listen_), [](uv_handle_t* handle) {
      static_cast<TestServer*>(handle->data)->listen_closed_ = true;
    });
    for (Connection* connection : open_) connection->close();
  }

  size_t accepted() const { return accepted_; }
  size_t open_connections() const { return open_.size(); }
  uint64_t bytes_received() const { return bytes_received_; }
  const std::vector<int>& read_errors() const { return read_errors_; }

 private:
  struct Write {
    uv_write_t req;
    char* bytes;
    size_t length;
  };

  struct Connection {
    TestServer* server;
    uv_tcp_t tcp;
    uv_shutdown_t shutdown_req;
    size_t queued = 0;
    bool paused = false;
    bool closing = false;
    uint64_t received = 0;

    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }
    void close() {
      if (closing) return;
      closing = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* handle) {
        auto* self = static_cast<Connection*>(handle->data);
        self->server->open_.erase(self);
        delete self;
      });
    }
  };

  static constexpr size_t kHigh = 1 << 20;
  static constexpr size_t kLow = 256 << 10;

  static void on_connection(uv_stream_t* listener, int status) {
    ASSERT_EQ(status, 0);
    auto* server = static_cast<TestServer*>(listener->data);
    auto* connection = new Connection{server, {}, {}};
    uv_tcp_init(server->loop_, &connection->tcp);
    connection->tcp.data = connection;
    connection->shutdown_req.data = connection;
    ASSERT_EQ(uv_accept(listener, connection->stream()), 0);
    server->open_.insert(connection);
    ++server->accepted_;
    start_reading(connection);
  }

  static void start_reading(Connection* connection) {
    uv_read_start(
        connection->stream(),
        [](uv_handle_t*, size_t size, uv_buf_t* buf) {
          *buf = uv_buf_init(static_cast<char*>(std::malloc(size)), static_cast<unsigned>(size));
        },
        &TestServer::on_read);
  }

  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* connection = static_cast<Connection*>(stream->data);
    TestServer* server = connection->server;
    if (nread <= 0) std::free(buf->base);
    if (nread == 0) return;
    if (nread == UV_EOF) return server->on_eof(connection);
    if (nread < 0) {
      server->read_errors_.push_back(static_cast<int>(nread));
      return connection->close();
    }
    connection->received += static_cast<uint64_t>(nread);
    server->bytes_received_ += static_cast<uint64_t>(nread);
    if (server->mode_ == Mode::Echo) return echo(connection, buf->base, static_cast<size_t>(nread));
    std::free(buf->base);
  }

  static void echo(Connection* connection, char* bytes, size_t length) {
    send(connection, bytes, length);
    if (connection->queued > kHigh && !connection->paused) {
      connection->paused = true;
      uv_read_stop(connection->stream());
    }
  }

  static void send(Connection* connection, char* bytes, size_t length) {
    auto* write = new Write{{}, bytes, length};
    write->req.data = connection;
    uv_buf_t buf = uv_buf_init(bytes, static_cast<unsigned>(length));
    connection->queued += length;
    int status = uv_write(&write->req, connection->stream(), &buf, 1, [](uv_write_t* req, int) {
      auto* written = reinterpret_cast<Write*>(req);
      auto* owner = static_cast<Connection*>(req->data);
      owner->queued -= written->length;
      std::free(written->bytes);
      delete written;
      resume_if_drained(owner);
    });
    if (status != 0) {
      connection->queued -= length;
      std::free(bytes);
      delete write;
    }
  }

  static void resume_if_drained(Connection* connection) {
    if (connection->paused && connection->queued < kLow && !connection->closing) {
      connection->paused = false;
      start_reading(connection);
    }
  }

  void on_eof(Connection* connection) {
    if (mode_ == Mode::ReplyOnEof) {
      std::string reply = "received " + std::to_string(connection->received) + " bytes";
      char* bytes = static_cast<char*>(std::malloc(reply.size()));
      std::memcpy(bytes, reply.data(), reply.size());
      send(connection, bytes, reply.size());
    }
    uv_shutdown(&connection->shutdown_req, connection->stream(),
                [](uv_shutdown_t* req, int) { static_cast<Connection*>(req->data)->close(); });
  }

  uv_loop_t* loop_;
  Mode mode_;
  uv_tcp_t listen_;
  bool listen_closed_ = false;
  std::set<Connection*> open_;
  size_t accepted_ = 0;
  uint64_t bytes_received_ = 0;
  std::vector<int> read_errors_;
};

// ---- Blocking clients, run in a thread -------------------------------------------------

inline int connect_to(uint16_t port, const char* ip = "127.0.0.1") {
  bool v6 = std::strchr(ip, ':') != nullptr;
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval timeout{20, 0};  // a stuck test fails instead of hanging
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_storage address;
  std::memset(&address, 0, sizeof(address));
  socklen_t length;
  if (v6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &in6->sin6_addr);
    length = sizeof(*in6);
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&address);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, ip, &in->sin_addr);
    length = sizeof(*in);
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, const char* bytes, size_t length) {
  while (length > 0) {
    ssize_t sent = ::send(fd, bytes, length, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    bytes += sent;
    length -= static_cast<size_t>(sent);
  }
  return true;
}

inline bool send_all(int fd, const std::string& bytes) {
  return send_all(fd, bytes.data(), bytes.size());
}

// Reads exactly `length` bytes (or fewer if the connection ends first).
inline std::string read_exactly(int fd, size_t length) {
  std::string bytes(length, '\0');
  size_t filled = 0;
  while (filled < length) {
    ssize_t got = ::recv(fd, bytes.data() + filled, length - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    filled += static_cast<size_t>(got);
  }
  bytes.resize(filled);
  return bytes;
}

// How a connection ended, as the client saw it.
enum class Ending { Eof, Reset, Timeout, Other };

inline Ending read_to_end(int fd, std::string* bytes) {
  char chunk[65536];
  for (;;) {
    ssize_t got = ::recv(fd, chunk, sizeof(chunk), 0);
    if (got > 0) {
      if (bytes != nullptr) bytes->append(chunk, static_cast<size_t>(got));
      continue;
    }
    if (got == 0) return Ending::Eof;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return Ending::Reset;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Ending::Timeout;
    return Ending::Other;
  }
}

using test_support::unused_port;

// ---- A tap that keeps everything it is shown -------------------------------------------

struct TapLog {
  std::string client_to_server;
  std::string server_to_client;
  bool client_ended = false;
  bool server_ended = false;
  bool closed = false;
  bool bytes_after_end = false;
};

class RecordingTap : public capture::StreamTap {
 public:
  explicit RecordingTap(std::shared_ptr<TapLog> log) : log_(std::move(log)) {}
  void on_bytes(capture::Direction direction, std::string_view bytes) override {
    bool to_server = direction == capture::Direction::ClientToServer;
    if (to_server ? log_->client_ended : log_->server_ended) log_->bytes_after_end = true;
    (to_server ? log_->client_to_server : log_->server_to_client).append(bytes);
  }
  void on_end(capture::Direction direction) override {
    (direction == capture::Direction::ClientToServer ? log_->client_ended : log_->server_ended) =
        true;
  }
  void on_close() override { log_->closed = true; }

 private:
  std::shared_ptr<TapLog> log_;
};

inline std::string random_bytes(size_t length, uint64_t seed) {
  std::string bytes(length, '\0');
  uint64_t state = seed;
  for (size_t i = 0; i < length; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    bytes[i] = static_cast<char>(state >> 56);
  }
  return bytes;
}

// ---- A proxy route between a blocking client and a TestServer ---------------------------

inline RouteConfig test_route(std::string name, HostPort listen, HostPort upstream) {
  RouteConfig route;
  route.name = std::move(name);
  route.listen = std::move(listen);
  route.upstream = std::move(upstream);
  return route;
}

class ProxyTest : public LoopTest {
 protected:
  void TearDown() override {
    close_listener();
    if (server_) server_->close();
    LoopTest::TearDown();
  }

  uint16_t start_server(TestServer::Mode mode, const char* ip = "127.0.0.1") {
    server_ = std::make_unique<TestServer>(&loop_, mode);
    return server_->listen(ip);
  }

  Listener& start_proxy(HostPort upstream, FlowLimits limits = {}, TapFactory taps = nullptr,
                        HostPort listen = {"127.0.0.1", 0}, RouteLimits route_limits = {}) {
    limits_ = limits;
    RouteConfig route = test_route("test", std::move(listen), std::move(upstream));
    route.limits = route_limits;
    listener_ = std::make_unique<Listener>(&loop_, route, limits_, pool_, std::move(taps));
    base::Status started = listener_->start();
    EXPECT_TRUE(started) << started.error().message;
    return *listener_;
  }

  void close_listener() {
    if (!listener_) return;
    bool closed = false;
    listener_->close([&closed] { closed = true; });
    EXPECT_TRUE(run_until([&] { return closed; }));
    listener_.reset();
  }

  bool wait_until_no_sessions() {
    return run_until([&] { return listener_->open_sessions() == 0; });
  }

  BufferPool pool_{64u << 10};
  FlowLimits limits_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Listener> listener_;
};

}  // namespace mcptap::proxy::testing

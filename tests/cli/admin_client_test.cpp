// Tests for cli/admin_client against a small HTTP server on a real socket in a thread.
#include "cli/admin_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "cli/config_loader.h"
#include "tests/support/unused_port.h"

namespace mcptap::cli {
namespace {

using namespace std::chrono_literals;

void send_text(int fd, const std::string& text) {
  ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

// Reads one request: the head, then Content-Length bytes of body.
std::string read_request(int fd) {
  std::string request;
  char buffer[4096];
  size_t head_end = std::string::npos;
  size_t wanted = 0;
  while (head_end == std::string::npos || request.size() < head_end + 4 + wanted) {
    ssize_t received = ::recv(fd, buffer, sizeof buffer, 0);
    if (received <= 0) break;
    request.append(buffer, static_cast<size_t>(received));
    if (head_end == std::string::npos &&
        (head_end = request.find("\r\n\r\n")) != std::string::npos) {
      size_t length = request.find("Content-Length: ");
      if (length != std::string::npos && length < head_end) {
        wanted = std::stoul(request.substr(length + 16));
      }
    }
  }
  return request;
}

// Blocks until the client closes its end (or 5 s pass), so a test can keep a connection open.
void wait_for_client_close(int fd) {
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char byte;
  while (::recv(fd, &byte, 1, 0) > 0) {
  }
}

// Accepts connections on 127.0.0.1 (port 0) and hands each, with its request, to handler.
class TestServer {
 public:
  using Handler = std::function<void(int fd, const std::string& request)>;

  explicit TestServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(listen_fd_, 8), 0);
    socklen_t length = sizeof address;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~TestServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);  // wakes the blocked accept
    thread_.join();
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  void accept_loop() {
    while (true) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::string request = read_request(fd);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back(request);
      }
      handler_(fd, request);
      ::close(fd);
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
};

AdminClient client_for(const TestServer& server, const std::string& token = "",
                       std::chrono::milliseconds timeout = 5s) {
  AdminEndpoint endpoint;
  endpoint.address = {"127.0.0.1", server.port()};
  endpoint.token_env = "TEST_ADMIN_TOKEN";
  endpoint.bearer_token = token;
  return AdminClient(endpoint, timeout);
}

std::string chunk(const std::string& data) {
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

const char* kChunkedHead =
    "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

TEST(AdminClient, GetReturnsStatusAndBodyAndSendsNoTokenWhenThereIsNone) {
  TestServer server([](int fd, const std::string&) {
    send_text(fd,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n"
              "[{\"a\":1}]");
  });
  AdminResponse response = client_for(server).get("/routes");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "[{\"a\":1}]");
  ASSERT_EQ(server.requests().size(), 1u);
  const std::string request = server.requests()[0];
  EXPECT_EQ(request.rfind("GET /routes HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos);
  EXPECT_EQ(request.find("Authorization"), std::string::npos);
}

TEST(AdminClient, PostSendsTheJsonBodyAndTheBearerToken) {
  TestServer server([](int fd, const std::string&) {
    send_text(
        fd, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 23\r\n\r\n{\"error\":\"bad token\"}\n\n");
  });
  AdminClient client = client_for(server, "s3cret");
  AdminResponse response = client.post_json("/routes/gates/capture", R"({"enabled":true})");
  EXPECT_EQ(response.status, 401);
  const std::string request = server.requests().at(0);
  EXPECT_EQ(request.rfind("POST /routes/gates/capture HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("\r\nAuthorization: Bearer s3cret\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("\r\nContent-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(request.find("\r\nContent-Length: 16\r\n"), std::string::npos);
  EXPECT_EQ(request.substr(request.size() - 16), R"({"enabled":true})");
  std::string failure = client.describe_failure(response.status, response.body);
  EXPECT_EQ(failure, "admin API at 127.0.0.1:" + std::to_string(server.port()) +
                         " answered 401: bad token (the token in $TEST_ADMIN_TOKEN was refused)");
}

TEST(AdminClient, DescribesAMissingTokenAndPlainTextBodies) {
  TestServer server([](int, const std::string&) {});
  AdminClient client = client_for(server);
  EXPECT_NE(client.describe_failure(401, "").find("(no token: set $TEST_ADMIN_TOKEN)"),
            std::string::npos);
  EXPECT_NE(client.describe_failure(500, "\n  boom\nsecond line").find("answered 500: boom"),
            std::string::npos);
}

// A server's message reaches the user's terminal: no control in it may act there, and a
// cut never splits a character.
TEST(AdminClient, DescribesAHostileBodyWithItsControlsWrittenOut) {
  TestServer server([](int, const std::string&) {});
  AdminClient client = client_for(server);
  std::string failure = client.describe_failure(
      500, "{\"error\":\"\\u001b]52;c;cm0=\\u0007\\u001b[2J\\u009b\\u007f\"}");
  EXPECT_NE(failure.find(R"(answered 500: \x1b]52;c;cm0=\x07\x1b[2J\u009b\x7f)"), std::string::npos)
      << failure;
  std::string plain = client.describe_failure(502, "\x1b[31mred\x9b");
  EXPECT_NE(plain.find(R"(answered 502: \x1b[31mred\x9b)"), std::string::npos) << plain;
  std::string long_body = std::string(299, 'a') + "→→";
  std::string cut = client.describe_failure(500, long_body);
  EXPECT_NE(cut.find(std::string(299, 'a') + "..."), std::string::npos) << cut;
}

TEST(AdminClient, ChunkedBodiesAreReassembled) {
  TestServer server([](int fd, const std::string&) {
    send_text(fd, std::string(kChunkedHead) + chunk("{\"ver") + chunk("sion\":1}") + "0\r\n\r\n");
  });
  AdminResponse response = client_for(server).get("/status");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "{\"version\":1}");
}

TEST(AdminClient, AResponseEndedByTheCloseIsComplete) {
  TestServer server([](int fd, const std::string&) {
    send_text(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"ok\":true}");
  });
  EXPECT_EQ(client_for(server).get("/status").body, "{\"ok\":true}");
}

TEST(AdminClient, StreamDeliversEachLineAsItArrives) {
  std::promise<void> first_line_seen;
  std::atomic<bool> second_sent_after_first{false};
  TestServer server([&](int fd, const std::string&) {
    send_text(fd, std::string(kChunkedHead) + chunk("{\"n\":1}\n"));
    // The rest goes out only once the client has shown the first line: a client that
    // buffered until the end would never get it.
    std::future<void> seen = first_line_seen.get_future();
    if (seen.wait_for(5s) != std::future_status::ready) return;
    second_sent_after_first = true;
    send_text(fd, chunk("{\"n\":") + chunk("2}\r\n{\"n\":3}\n") + "0\r\n\r\n");
  });
  std::vector<std::string> lines;
  StreamOutcome outcome = client_for(server).stream_lines(
      "/tail?route=gates",
      [&](std::string_view line) {
        lines.emplace_back(line);
        if (lines.size() == 1) first_line_seen.set_value();
        return true;
      },
      [] { return false; });
  EXPECT_TRUE(second_sent_after_first);
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"n\":1}", "{\"n\":2}", "{\"n\":3}"}));
  EXPECT_EQ(outcome.status, 200);
  EXPECT_FALSE(outcome.stopped);  // the server ended it
  const std::string request = server.requests().at(0);
  EXPECT_EQ(request.rfind("GET /tail?route=gates HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(request.find("\r\nAccept: application/x-ndjson\r\n"), std::string::npos);
}

TEST(AdminClient, StreamDeliversALastLineEndedByTheClose) {
  TestServer server([](int fd, const std::string&) {
    send_text(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\none\ntwo");
  });
  std::vector<std::string> lines;
  StreamOutcome outcome = client_for(server).stream_lines(
      "/tail",
      [&](std::string_view line) {
        lines.emplace_back(line);
        return true;
      },
      nullptr);
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two"}));
  EXPECT_FALSE(outcome.stopped);
}

TEST(AdminClient, StreamStopsWhenTheCallerAsks) {
  std::atomic<bool> client_closed{false};
  TestServer server([&](int fd, const std::string&) {
    send_text(fd, std::string(kChunkedHead) + chunk("{\"n\":1}\n"));
    wait_for_client_close(fd);
    client_closed = true;
  });
  std::atomic<bool> stop{false};
  auto started = std::chrono::steady_clock::now();
  StreamOutcome outcome = client_for(server).stream_lines(
      "/tail",
      [&](std::string_view) {
        stop = true;  // as a SIGINT handler would
        return true;
      },
      [&] { return stop.load(); });
  EXPECT_TRUE(outcome.stopped);
  EXPECT_EQ(outcome.status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(AdminClient, StreamStopsWhenTheLineHandlerSaysSo) {
  TestServer server([](int fd, const std::string&) {
    send_text(fd, std::string(kChunkedHead) + chunk("a\nb\nc\n"));
    wait_for_client_close(fd);
  });
  std::vector<std::string> lines;
  StreamOutcome outcome = client_for(server).stream_lines(
      "/tail",
      [&](std::string_view line) {
        lines.emplace_back(line);
        return lines.size() < 2;
      },
      [] { return false; });
  EXPECT_TRUE(outcome.stopped);
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "b"}));
}

TEST(AdminClient, StreamReportsAnErrorStatusWithItsBody) {
  TestServer server([](int fd, const std::string&) {
    send_text(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 21\r\n\r\n{\"error\":\"no route\"}\n");
  });
  std::vector<std::string> lines;
  StreamOutcome outcome = client_for(server).stream_lines(
      "/tail?route=x",
      [&](std::string_view line) {
        lines.emplace_back(line);
        return true;
      },
      [] { return false; });
  EXPECT_EQ(outcome.status, 404);
  EXPECT_EQ(outcome.error_body, "{\"error\":\"no route\"}\n");
  EXPECT_TRUE(lines.empty());
}

using test_support::unused_port;

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const AdminError& error) {
    return error.what();
  }
  return "no error";
}

TEST(AdminClient, ConnectionRefusedIsOneClearLine) {
  AdminEndpoint endpoint;
  endpoint.address = {"127.0.0.1", unused_port()};
  AdminClient client(endpoint);
  std::string error = error_of([&] { client.get("/routes"); });
  EXPECT_EQ(error, "cannot connect to the admin API at " + endpoint.address.to_string() +
                       ": Connection refused (is mcptap running?)");
  EXPECT_EQ(error_of([&] {
              client.stream_lines(
                  "/tail", [](std::string_view) { return true; }, nullptr);
            }),
            error);
}

TEST(AdminClient, ACloseWithoutAnAnswerIsAnError) {
  TestServer server([](int, const std::string&) {});
  std::string error = error_of([&] { client_for(server).get("/routes"); });
  EXPECT_NE(error.find("closed the connection without answering"), std::string::npos) << error;
}

TEST(AdminClient, ASilentServerTimesOut) {
  TestServer server([](int fd, const std::string&) { wait_for_client_close(fd); });
  std::string error = error_of([&] { client_for(server, "", 200ms).get("/routes"); });
  EXPECT_NE(error.find("did not answer within 200 ms"), std::string::npos) << error;
}

TEST(AdminClient, NotHttpIsAnError) {
  TestServer server([](int fd, const std::string&) { send_text(fd, "SSH-2.0-OpenSSH\r\n"); });
  std::string error = error_of([&] { client_for(server).get("/routes"); });
  EXPECT_NE(error.find("sent a malformed response"), std::string::npos) << error;
}

TEST(AdminEndpointResolution, DefaultsToLoopback9901AndTheDefaultTokenVariable) {
  ::unsetenv("MCPTAP_ADMIN_TOKEN");
  AdminEndpoint endpoint = resolve_admin_endpoint("", "").value();
  EXPECT_EQ(endpoint.address.to_string(), "127.0.0.1:9901");
  EXPECT_EQ(endpoint.token_env, "MCPTAP_ADMIN_TOKEN");
  EXPECT_EQ(endpoint.bearer_token, "");
  ::setenv("MCPTAP_ADMIN_TOKEN", "t0ken", 1);
  EXPECT_EQ(resolve_admin_endpoint("", "")->bearer_token, "t0ken");
  ::unsetenv("MCPTAP_ADMIN_TOKEN");
}

TEST(AdminEndpointResolution, FlagWinsAndWildcardsMeanLoopback) {
  EXPECT_EQ(resolve_admin_endpoint("10.1.2.3:80", "")->address.to_string(), "10.1.2.3:80");
  EXPECT_EQ(resolve_admin_endpoint("http://[::1]:9000/", "")->address.to_string(), "[::1]:9000");
  EXPECT_EQ(resolve_admin_endpoint("0.0.0.0:9901", "")->address.to_string(), "127.0.0.1:9901");
  EXPECT_EQ(resolve_admin_endpoint("[::]:9901", "")->address.to_string(), "[::1]:9901");
  EXPECT_EQ(resolve_admin_endpoint(":9902", "")->address.to_string(), "127.0.0.1:9902");
  EXPECT_FALSE(resolve_admin_endpoint("localhost", "").ok());
  base::Result<AdminEndpoint> port_zero = resolve_admin_endpoint("localhost:0", "");
  ASSERT_FALSE(port_zero.ok());
  EXPECT_EQ(port_zero.error().message, "admin address localhost:0: port 0 is not one");
}

TEST(AdminEndpointResolution, ConfigGivesAddressAndTokenVariable) {
  std::string path = ::testing::TempDir() + "admin_client_test_config.json";
  std::ofstream(path) << R"({
    "admin": { "listen": "0.0.0.0:9911", "token_env": "ADMIN_CLIENT_TEST_TOKEN" },
    "routes": [ { "name": "gates", "listen": "0.0.0.0:9001", "upstream": "gates:8001" } ]
  })";
  ::setenv("ADMIN_CLIENT_TEST_TOKEN", "from-config-var", 1);
  AdminEndpoint endpoint = resolve_admin_endpoint("", path).value();
  EXPECT_EQ(endpoint.address.to_string(), "127.0.0.1:9911");
  EXPECT_EQ(endpoint.token_env, "ADMIN_CLIENT_TEST_TOKEN");
  EXPECT_EQ(endpoint.bearer_token, "from-config-var");
  EXPECT_EQ(resolve_admin_endpoint("127.0.0.1:9999", path)->address.port, 9999);
  ::setenv("ADMIN_CLIENT_TEST_TOKEN", "line\r\nX-Injected: 1", 1);
  EXPECT_FALSE(resolve_admin_endpoint("", path).ok());
  ::unsetenv("ADMIN_CLIENT_TEST_TOKEN");
  std::remove(path.c_str());
}

TEST(PercentEncode, KeepsUnreservedAndEncodesTheRest) {
  EXPECT_EQ(percent_encode("tools/call"), "tools%2Fcall");
  EXPECT_EQ(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(percent_encode("x y&z=é"), "x%20y%26z%3D%C3%A9");
}

}  // namespace
}  // namespace mcptap::cli

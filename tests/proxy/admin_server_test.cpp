// AdminServer over real sockets: requests, keep-alive, pipelining, limits, errors, streams
// (framing, hang-ups, slow readers), idle timeouts, close(); and bearer token matching.
#include "proxy/admin_server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "base/http_message_parser.h"
#include "proxy/constant_time.h"
#include "proxy_test_support.h"

namespace mcptap::proxy {
namespace {

using nlohmann::json;
using testing::Ending;

// ---- A blocking HTTP client for the client thread ----------------------------------------

struct Response {
  base::HttpHead head;
  std::string body;
  std::string header(std::string_view name) const {
    return std::string(head.header(name).value_or(""));
  }
};

class HttpClient : private base::HttpMessageParser::Listener {
 public:
  // receive_buffer > 0 shrinks the socket's receive buffer (set before connect, so that the
  // advertised window is small too): a client that stops reading then fills up quickly.
  explicit HttpClient(uint16_t port, int receive_buffer = 0) {
    if (receive_buffer == 0) {
      fd_ = testing::connect_to(port);
      return;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    timeval timeout{20, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) close();
  }
  ~HttpClient() override { close(); }

  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes) { return testing::send_all(fd_, bytes); }
  // The next response answers a HEAD request: it has no body whatever its headers say.
  void expect_head_response() { ++head_responses_; }

  // Reads until a whole response arrived; false if the connection ended (or broke) first.
  bool next(Response* out) {
    while (complete_.empty()) {
      if (!read_some()) return false;
    }
    *out = std::move(complete_.front());
    complete_.pop_front();
    return true;
  }
  // Reads until `done()` holds; false if the connection ended first.
  bool read_until(const std::function<bool()>& done) {
    while (!done()) {
      if (!read_some()) return false;
    }
    return true;
  }
  Ending read_to_end() {
    std::string rest;
    Ending ending = testing::read_to_end(fd_, &rest);
    raw_ += rest;
    return ending;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  const std::string& raw() const { return raw_; }
  bool head_seen() const { return head_seen_; }
  const std::string& partial_body() const { return current_.body; }
  size_t body_pieces() const { return body_pieces_; }
  bool parse_failed() const { return failed_; }

 private:
  bool read_some() {
    char buffer[16384];
    ssize_t got = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (got <= 0) return false;
    raw_.append(buffer, static_cast<size_t>(got));
    size_t consumed = 0;
    if (parser_.feed(std::string_view(buffer, static_cast<size_t>(got)), &consumed) !=
        base::HttpMessageParser::Status::Ok) {
      failed_ = true;
      return false;
    }
    return true;
  }

  bool on_head(const base::HttpHead& head) override {
    current_ = Response{head, ""};
    head_seen_ = true;
    if (head.status_code < 200 || head_responses_ == 0) return false;
    --head_responses_;
    return true;
  }
  void on_body(std::string_view chunk) override {
    current_.body.append(chunk);
    ++body_pieces_;
  }
  void on_message_complete() override {
    complete_.push_back(std::move(current_));
    current_ = Response{};
    head_seen_ = false;
  }

  int fd_ = -1;
  base::HttpMessageParser parser_{base::HttpMessageParser::Type::Response, *this};
  std::deque<Response> complete_;
  Response current_;
  std::string raw_;
  int head_responses_ = 0;
  bool head_seen_ = false;
  size_t body_pieces_ = 0;
  bool failed_ = false;
};

std::string get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: admin\r\n" +
         std::string(extra_headers) + "\r\n";
}

std::string post(std::string_view target, std::string_view body,
                 std::string_view extra_headers = "") {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: admin\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + std::string(extra_headers) + "\r\n" +
         std::string(body);
}

// ---- The fixture -------------------------------------------------------------------------

class AdminServerTest : public testing::LoopTest {
 protected:
  void TearDown() override {
    close_server();
    held_.clear();
    LoopTest::TearDown();
  }

  uint16_t start_server(AdminServerOptions options = {}) {
    server_ = std::make_unique<AdminServer>(
        &loop_,
        [this](const AdminRequest& request, AdminResponder& responder) {
          requests_.push_back(request);
          handler_(request, responder);
        },
        options);
    base::Status started = server_->start({"127.0.0.1", 0});
    EXPECT_TRUE(started.ok()) << started.error().message;
    EXPECT_NE(server_->bound_port(), 0);
    return server_->bound_port();
  }

  void close_server() {
    if (!server_) return;
    bool closed = false;
    server_->close([&closed] { closed = true; });
    EXPECT_TRUE(run_until([&] { return closed; }));
    EXPECT_EQ(server_->open_connections(), 0u);
    server_.reset();
  }

  // Runs the loop while `work` runs in a client thread; `on_tick` runs on the loop thread
  // between loop turns (every few milliseconds), where a test plays the server's owner.
  bool run_with_client(const std::function<void()>& work,
                       const std::function<void()>& on_tick = nullptr, int timeout_ms = 30000) {
    std::atomic<bool> finished{false};
    std::thread client([&] {
      work();
      finished = true;
    });
    bool ok = run_until(
        [&] {
          if (on_tick) on_tick();
          return finished.load();
        },
        timeout_ms);
    client.join();
    return ok;
  }

  // Echo by default: the request as JSON, or 404 for /missing.
  static void echo(const AdminRequest& request, AdminResponder& responder) {
    if (request.path == "/missing") {
      responder.respond_error(404, "no such path");
      return;
    }
    json query = request.query;
    json body = {{"method", request.method},
                 {"path", request.path},
                 {"query", query},
                 {"body", request.body}};
    responder.respond(200, "application/json", body.dump(), {{"X-Admin", "yes"}});
  }

  std::unique_ptr<AdminServer> server_;
  AdminServer::Handler handler_ = &AdminServerTest::echo;
  std::vector<AdminRequest> requests_;  // loop thread; read after the client joined
  std::vector<std::shared_ptr<AdminResponder>> held_;
};

// ---- Requests ----------------------------------------------------------------------------

TEST_F(AdminServerTest, GetWithQueryParametersAndHeaders) {
  uint16_t port = start_server();
  Response response;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    ASSERT_TRUE(client.send(get("/routes?name=a%20b&x=1+2&flag&name=second&e=%E2%9C%93#frag",
                                "X-Custom-Thing: Yes\r\n")));
    ASSERT_TRUE(client.next(&response));
  }));
  EXPECT_EQ(response.head.status_code, 200);
  EXPECT_EQ(response.header("Content-Type"), "application/json");
  EXPECT_EQ(response.header("Content-Length"), std::to_string(response.body.size()));
  EXPECT_EQ(response.header("X-Admin"), "yes");
  EXPECT_EQ(response.header("Connection"), "keep-alive");
  json body = json::parse(response.body);
  EXPECT_EQ(body["method"], "GET");
  EXPECT_EQ(body["path"], "/routes");
  ASSERT_EQ(requests_.size(), 1u);
  const AdminRequest& request = requests_[0];
  std::map<std::string, std::string> expected_query = {
      {"name", "a b"}, {"x", "1 2"}, {"flag", ""}, {"e", "\xE2\x9C\x93"}};
  EXPECT_EQ(request.query, expected_query);
  EXPECT_EQ(request.target, "/routes?name=a%20b&x=1+2&flag&name=second&e=%E2%9C%93#frag");
  EXPECT_EQ(request.header("x-custom-thing").value_or("-"), "Yes");
  EXPECT_EQ(request.header("X-CUSTOM-THING").value_or("-"), "Yes");
  EXPECT_FALSE(request.header("X-Absent").has_value());
  EXPECT_EQ(request.http_minor, 1);
}

TEST_F(AdminServerTest, PostBodiesWithLengthAndChunked) {
  uint16_t port = start_server();
  Response first, second, missing;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    ASSERT_TRUE(client.send(post("/routes/gates/capture", "{\"enabled\": false}")));
    ASSERT_TRUE(client.next(&first));
    ASSERT_TRUE(
        client.send("POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
    ASSERT_TRUE(client.next(&second));
    ASSERT_TRUE(client.send(get("/missing")));
    ASSERT_TRUE(client.next(&missing));
  }));
  EXPECT_EQ(first.head.status_code, 200);
  EXPECT_EQ(json::parse(first.body)["body"], "{\"enabled\": false}");
  EXPECT_EQ(json::parse(first.body)["method"], "POST");
  EXPECT_EQ(json::parse(second.body)["body"], "hello world");
  EXPECT_EQ(missing.head.status_code, 404);
  EXPECT_EQ(missing.header("Content-Type"), "application/json");
  EXPECT_EQ(json::parse(missing.body), json({{"error", "no such path"}}));
}

TEST_F(AdminServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  uint16_t port = start_server();
  Response first, second;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    ASSERT_TRUE(client.send(get("/healthz")));
    ASSERT_TRUE(client.next(&first));
    ASSERT_TRUE(client.send(get("/readyz")));
    ASSERT_TRUE(client.next(&second));
  }));
  EXPECT_EQ(json::parse(first.body)["path"], "/healthz");
  EXPECT_EQ(json::parse(second.body)["path"], "/readyz");
  EXPECT_EQ(server_->counters().connections_accepted, 1u);
  EXPECT_EQ(server_->counters().requests, 2u);
}

// The first request is answered last by its handler, yet its response leaves first.
TEST_F(AdminServerTest, PipelinedRequestsAreAnsweredInOrder) {
  handler_ = [this](const AdminRequest& request, AdminResponder& responder) {
    if (request.path == "/slow") return held_.push_back(responder.shared_from_this());
    echo(request, responder);
  };
  uint16_t port = start_server();
  std::vector<Response> responses(4);
  ASSERT_TRUE(run_with_client(
      [&] {
        HttpClient client(port);
        ASSERT_TRUE(client.send(get("/slow") + get("/one") + post("/two", "2") + get("/three")));
        for (Response& response : responses) ASSERT_TRUE(client.next(&response));
      },
      [&] {
        // Once all four reached the handler, answer the held one.
        if (requests_.size() == 4 && held_.size() == 1 && !held_[0]->answered()) {
          held_[0]->respond(200, "text/plain", "slow done");
        }
      }));
  EXPECT_EQ(responses[0].body, "slow done");
  EXPECT_EQ(json::parse(responses[1].body)["path"], "/one");
  EXPECT_EQ(json::parse(responses[2].body)["body"], "2");
  EXPECT_EQ(json::parse(responses[3].body)["path"], "/three");
  EXPECT_EQ(server_->counters().connections_accepted, 1u);
}

TEST_F(AdminServerTest, ConnectionCloseIsHonoured) {
  uint16_t port = start_server();
  Response response;
  Ending ending = Ending::Other;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    // The second request follows "Connection: close" and must be ignored.
    ASSERT_TRUE(client.send(get("/bye", "Connection: close\r\n") + get("/ignored")));
    ASSERT_TRUE(client.next(&response));
    ending = client.read_to_end();
    EXPECT_EQ(client.raw().find("ignored"), std::string::npos);
  }));
  EXPECT_EQ(response.head.status_code, 200);
  EXPECT_EQ(response.header("Connection"), "close");
  EXPECT_EQ(ending, Ending::Eof);
  EXPECT_EQ(requests_.size(), 1u);
  EXPECT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
}

TEST_F(AdminServerTest, Http10ClosesUnlessKeepAliveAsked) {
  uint16_t port = start_server();
  Response plain, kept, again;
  Ending ending = Ending::Other;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient first(port);
    ASSERT_TRUE(first.send("GET /old HTTP/1.0\r\n\r\n"));
    ASSERT_TRUE(first.next(&plain));
    ending = first.read_to_end();
    HttpClient second(port);
    ASSERT_TRUE(second.send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    ASSERT_TRUE(second.next(&kept));
    ASSERT_TRUE(second.send("GET /again HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    ASSERT_TRUE(second.next(&again));
  }));
  EXPECT_EQ(plain.header("Connection"), "close");
  EXPECT_EQ(ending, Ending::Eof);
  EXPECT_EQ(kept.header("Connection"), "keep-alive");
  EXPECT_EQ(json::parse(again.body)["path"], "/again");
}

TEST_F(AdminServerTest, HeadRequestGetsNoBody) {
  uint16_t port = start_server();
  Response head, after;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    client.expect_head_response();
    ASSERT_TRUE(client.send("HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n" + get("/after")));
    ASSERT_TRUE(client.next(&head));
    ASSERT_TRUE(client.next(&after));  // framing intact: no stray body bytes in between
  }));
  EXPECT_EQ(head.head.status_code, 200);
  EXPECT_NE(head.header("Content-Length"), "0");
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(json::parse(after.body)["path"], "/after");
}

TEST_F(AdminServerTest, NoContentNeverCarriesABody) {
  handler_ = [](const AdminRequest& request, AdminResponder& responder) {
    if (request.path != "/nocontent") return echo(request, responder);
    responder.respond(204, "text/plain", "ignored");
  };
  uint16_t port = start_server();
  Response empty, after;
  std::string raw;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    ASSERT_TRUE(client.send(get("/nocontent") + get("/after")));
    ASSERT_TRUE(client.next(&empty));
    ASSERT_TRUE(client.next(&after));
    raw = client.raw();
  }));
  EXPECT_EQ(empty.head.status_code, 204);
  EXPECT_EQ(empty.body, "");
  EXPECT_FALSE(empty.head.header("Content-Length").has_value());
  EXPECT_EQ(raw.find("ignored"), std::string::npos);
  EXPECT_EQ(json::parse(after.body)["path"], "/after");
}

// With every request held by the handler, no more than max_pipelined_requests are ever
// outstanding, however many the client sent at once; all are still answered in order.
TEST_F(AdminServerTest, PipelineDepthIsBounded) {
  handler_ = [this](const AdminRequest&, AdminResponder& responder) {
    held_.push_back(responder.shared_from_this());
  };
  AdminServerOptions options;
  options.max_pipelined_requests = 4;
  uint16_t port = start_server(options);
  constexpr int kRequests = 40;
  std::vector<Response> responses(kRequests);
  size_t max_outstanding = 0;
  size_t answered = 0;
  ASSERT_TRUE(run_with_client(
      [&] {
        HttpClient client(port);
        std::string all;
        for (int i = 0; i < kRequests; ++i) all += get("/n/" + std::to_string(i));
        ASSERT_TRUE(client.send(all));
        for (Response& response : responses) ASSERT_TRUE(client.next(&response));
      },
      [&] {
        max_outstanding = std::max(max_outstanding, held_.size() - answered);
        // Answer the oldest only: the next one is dispatched when it has been retired.
        if (answered < held_.size()) {
          held_[answered]->respond(200, "text/plain", requests_[answered].path);
          ++answered;
        }
      }));
  EXPECT_LE(max_outstanding, 4u);
  EXPECT_GE(max_outstanding, 2u);  // requests were pipelined at all
  for (int i = 0; i < kRequests; ++i) EXPECT_EQ(responses[i].body, "/n/" + std::to_string(i));
}

// A client that sends requests but does not read the answers: past the write watermark the
// server stops dispatching (and reading) instead of queuing every response.
TEST_F(AdminServerTest, UnreadResponsesPauseDispatch) {
  const std::string big(1u << 20, 'b');
  handler_ = [&big](const AdminRequest&, AdminResponder& responder) {
    responder.respond(200, "text/plain", big);
  };
  AdminServerOptions options;
  options.write_high_watermark = 256u << 10;
  uint16_t port = start_server(options);
  constexpr int kRequests = 12;
  std::atomic<size_t> dispatched{0};
  size_t dispatched_while_stalled = 0;
  int complete = 0;
  ASSERT_TRUE(run_with_client(
      [&] {
        HttpClient client(port, 4096);
        std::string all;
        for (int i = 0; i < kRequests; ++i) all += get("/big");
        ASSERT_TRUE(client.send(all));
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        dispatched_while_stalled = dispatched;
        Response response;
        for (int i = 0; i < kRequests && client.next(&response); ++i) {
          complete += response.body == big ? 1 : 0;
        }
      },
      [&] { dispatched = requests_.size(); }));
  EXPECT_GE(dispatched_while_stalled, 1u);
  EXPECT_LE(dispatched_while_stalled, kRequests / 2);
  EXPECT_EQ(complete, kRequests);
}

TEST_F(AdminServerTest, ExpectContinueIsAnswered) {
  uint16_t port = start_server();
  Response interim, final_response;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    ASSERT_TRUE(client.send(
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
    ASSERT_TRUE(client.next(&interim));  // before the body was sent
    ASSERT_TRUE(client.send("body"));
    ASSERT_TRUE(client.next(&final_response));
  }));
  EXPECT_EQ(interim.head.status_code, 100);
  EXPECT_EQ(final_response.head.status_code, 200);
  EXPECT_EQ(json::parse(final_response.body)["body"], "body");
}

// ---- Limits and errors -------------------------------------------------------------------

TEST_F(AdminServerTest, OversizedBodyGets413AndClose) {
  uint16_t port = start_server();
  Response declared, chunked, fine;
  Ending declared_end = Ending::Other, chunked_end = Ending::Other;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    ASSERT_TRUE(client.send(get("/first")));
    ASSERT_TRUE(client.next(&fine));
    // Content-Length says too much: refused before the body is read.
    ASSERT_TRUE(client.send("POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n"));
    ASSERT_TRUE(client.next(&declared));
    client.send(std::string(100000, 'x'));  // may fail once the server is gone
    declared_end = client.read_to_end();

    HttpClient second(port);
    std::string body = "POST /big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 20; ++i) body += "1000\r\n" + std::string(4096, 'y') + "\r\n";
    body += "0\r\n\r\n";
    second.send(body);
    ASSERT_TRUE(second.next(&chunked));
    chunked_end = second.read_to_end();
  }));
  EXPECT_EQ(fine.head.status_code, 200);
  EXPECT_EQ(declared.head.status_code, 413);
  EXPECT_EQ(declared.header("Connection"), "close");
  EXPECT_EQ(json::parse(declared.body)["error"], "request body larger than 65536 bytes");
  EXPECT_EQ(declared_end, Ending::Eof);
  EXPECT_EQ(chunked.head.status_code, 413);
  EXPECT_EQ(chunked_end, Ending::Eof);
  EXPECT_EQ(requests_.size(), 1u);  // neither big request reached the handler
  EXPECT_EQ(server_->counters().bad_requests, 2u);
}

TEST_F(AdminServerTest, GarbageGets400AndClose) {
  uint16_t port = start_server();
  Response garbage, bad_query;
  Ending garbage_end = Ending::Other, query_end = Ending::Other;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    ASSERT_TRUE(client.send("HELLO THERE\r\n\r\n"));
    ASSERT_TRUE(client.next(&garbage));
    garbage_end = client.read_to_end();
    HttpClient second(port);
    ASSERT_TRUE(second.send(get("/routes?name=%zz")));
    ASSERT_TRUE(second.next(&bad_query));
    query_end = second.read_to_end();
  }));
  EXPECT_EQ(garbage.head.status_code, 400);
  EXPECT_EQ(garbage.header("Connection"), "close");
  EXPECT_TRUE(json::parse(garbage.body)["error"].is_string());
  EXPECT_EQ(garbage_end, Ending::Eof);
  EXPECT_EQ(bad_query.head.status_code, 400);
  EXPECT_EQ(json::parse(bad_query.body)["error"], "malformed query string");
  EXPECT_EQ(query_end, Ending::Eof);
  EXPECT_TRUE(requests_.empty());
}

TEST_F(AdminServerTest, GarbageAfterAGoodRequestIsAnsweredInOrder) {
  uint16_t port = start_server();
  Response good, bad;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    ASSERT_TRUE(client.send(get("/good") + "\x01\x02 nonsense\r\n\r\n"));
    ASSERT_TRUE(client.next(&good));
    ASSERT_TRUE(client.next(&bad));
    EXPECT_EQ(client.read_to_end(), Ending::Eof);
  }));
  EXPECT_EQ(good.head.status_code, 200);
  EXPECT_EQ(bad.head.status_code, 400);
}

TEST_F(AdminServerTest, HandlerThatNeitherAnswersNorKeepsGets500) {
  handler_ = [](const AdminRequest& request, AdminResponder&) {
    if (request.path == "/throw") throw std::runtime_error("boom");
  };
  uint16_t port = start_server();
  Response silent, thrown;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    ASSERT_TRUE(client.send(get("/silent") + get("/throw")));
    ASSERT_TRUE(client.next(&silent));
    ASSERT_TRUE(client.next(&thrown));
  }));
  EXPECT_EQ(silent.head.status_code, 500);
  EXPECT_EQ(json::parse(silent.body)["error"], "the handler did not respond");
  EXPECT_EQ(thrown.head.status_code, 500);
  EXPECT_EQ(json::parse(thrown.body)["error"], "internal error");
}

// Over the limit, the connection that has waited longest without a request gives way.
TEST_F(AdminServerTest, ConnectionsOverTheLimitDisplaceTheLongestIdle) {
  AdminServerOptions options;
  options.max_connections = 2;
  uint16_t port = start_server(options);
  Ending first_end = Ending::Other;
  Response second_again, third_response;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient first(port), second(port);
    Response response;
    ASSERT_TRUE(first.send(get("/a")));
    ASSERT_TRUE(first.next(&response));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(second.send(get("/b")));
    ASSERT_TRUE(second.next(&response));
    HttpClient third(port);
    ASSERT_TRUE(third.send(get("/c")));
    ASSERT_TRUE(third.next(&third_response));
    first_end = first.read_to_end();  // the longest idle went
    ASSERT_TRUE(second.send(get("/b2")));
    ASSERT_TRUE(second.next(&second_again));
  }));
  EXPECT_EQ(third_response.head.status_code, 200);
  EXPECT_EQ(first_end, Ending::Eof);
  EXPECT_EQ(second_again.head.status_code, 200);
  EXPECT_EQ(server_->counters().connections_evicted, 1u);
  EXPECT_EQ(server_->counters().connections_rejected, 0u);
}

// When every slot streams, nothing gives way: the new connection is closed at once.
TEST_F(AdminServerTest, ConnectionsOverTheLimitAreClosedWhenAllStream) {
  handler_ = [this](const AdminRequest& request, AdminResponder& responder) {
    if (request.path != "/tail") return echo(request, responder);
    responder.start_stream(200, "application/x-ndjson");
    held_.push_back(responder.shared_from_this());
  };
  AdminServerOptions options;
  options.max_connections = 2;
  options.max_streams = 2;
  uint16_t port = start_server(options);
  Ending third_end = Ending::Other;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient first(port), second(port);
    for (HttpClient* client : {&first, &second}) {
      ASSERT_TRUE(client->send(get("/tail")));
      ASSERT_TRUE(client->read_until([&] { return client->head_seen(); }));
    }
    HttpClient third(port);
    third_end = third.read_to_end();
  }));
  EXPECT_EQ(third_end, Ending::Eof);
  EXPECT_GE(server_->counters().connections_rejected, 1u);
  EXPECT_EQ(server_->counters().connections_evicted, 0u);
}

// A lockout attempt: idle connections, dribbling heads and streams fill every slot, yet each
// new probe connection is answered, one displaced connection at a time.
TEST_F(AdminServerTest, ProbesAreAnsweredWhileSlotsAreFull) {
  handler_ = [this](const AdminRequest& request, AdminResponder& responder) {
    if (request.path != "/tail") return echo(request, responder);
    if (responder.start_stream(200, "application/x-ndjson")) {
      held_.push_back(responder.shared_from_this());
    }
  };
  AdminServerOptions options;
  options.max_connections = 8;
  options.max_streams = 2;
  uint16_t port = start_server(options);
  std::vector<int> probe_statuses;
  ASSERT_TRUE(run_with_client([&] {
    std::vector<std::unique_ptr<HttpClient>> attackers;
    for (int i = 0; i < 4; ++i) {  // streams (two refused: the cap), then idle ones
      attackers.push_back(std::make_unique<HttpClient>(port));
      ASSERT_TRUE(attackers.back()->send(get("/tail")));
    }
    for (int i = 0; i < 8; ++i) {
      attackers.push_back(std::make_unique<HttpClient>(port));
      if (i % 2 == 0) {
        ASSERT_TRUE(attackers.back()->send("GET /slow HTTP/1.1\r\nX-A: "));
      }
    }
    for (int i = 0; i < 10; ++i) {
      HttpClient probe(port);
      Response response;
      probe_statuses.push_back(
          probe.send(get("/healthz")) && probe.next(&response) ? response.head.status_code : 0);
    }
  }));
  EXPECT_EQ(probe_statuses, std::vector<int>(10, 200));
  EXPECT_GE(server_->counters().connections_evicted, 4u);
  EXPECT_EQ(server_->counters().connections_rejected, 0u);
}

// A head sent a byte at a time cannot hold a connection past the request deadline: later
// bytes do not extend it.
TEST_F(AdminServerTest, RequestDeadlineRunsFromTheFirstByte) {
  AdminServerOptions options;
  options.request_timeout_ms = 300;
  options.idle_timeout_ms = 60000;
  uint16_t port = start_server(options);
  Response timeout;
  Ending ending = Ending::Other;
  std::chrono::milliseconds took{0};
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    auto begin = std::chrono::steady_clock::now();
    std::string head = "GET /slowloris HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(200, 'p');
    std::atomic<bool> stop{false};
    std::thread dribble([&] {
      for (char c : head) {
        if (stop || !client.send(std::string(1, c))) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    bool answered = client.next(&timeout);
    took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 begin);
    stop = true;
    dribble.join();
    EXPECT_TRUE(answered);
    ending = client.read_to_end();
  }));
  EXPECT_EQ(timeout.head.status_code, 408);
  EXPECT_EQ(timeout.header("Connection"), "close");
  EXPECT_GE(took.count(), 250);
  EXPECT_LT(took.count(), 2000);  // the dribble would have taken 4 s
  EXPECT_TRUE(ending == Ending::Eof || ending == Ending::Reset);
  EXPECT_EQ(server_->counters().request_timeouts, 1u);
  EXPECT_TRUE(requests_.empty());
}

// Between requests the idle timeout applies, not the request deadline.
TEST_F(AdminServerTest, RequestDeadlineDoesNotCutKeepAliveIdleTime) {
  AdminServerOptions options;
  options.request_timeout_ms = 100;
  options.idle_timeout_ms = 60000;
  uint16_t port = start_server(options);
  Response first, second;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    ASSERT_TRUE(client.send(get("/one")));
    ASSERT_TRUE(client.next(&first));
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    ASSERT_TRUE(client.send(get("/two")));
    ASSERT_TRUE(client.next(&second));
  }));
  EXPECT_EQ(json::parse(second.body)["path"], "/two");
  EXPECT_EQ(server_->counters().request_timeouts, 0u);
}

TEST_F(AdminServerTest, IdleConnectionsAreClosed) {
  AdminServerOptions options;
  options.idle_timeout_ms = 100;
  uint16_t port = start_server(options);
  Ending silent_end = Ending::Other, after_end = Ending::Other;
  std::chrono::milliseconds silent_ms{0};
  ASSERT_TRUE(run_with_client([&] {
    auto begin = std::chrono::steady_clock::now();
    HttpClient silent(port);
    silent_end = silent.read_to_end();
    silent_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - begin);
    HttpClient after(port);  // idle after one response
    Response response;
    ASSERT_TRUE(after.send(get("/once")));
    ASSERT_TRUE(after.next(&response));
    after_end = after.read_to_end();
  }));
  EXPECT_EQ(silent_end, Ending::Eof);
  EXPECT_GE(silent_ms.count(), 90);
  EXPECT_LT(silent_ms.count(), 5000);
  EXPECT_EQ(after_end, Ending::Eof);
}

TEST_F(AdminServerTest, StartFailureIsOneLineAndCloseStillCallsBack) {
  uint16_t port = start_server();
  AdminServer second(&loop_, &AdminServerTest::echo);
  base::Status started = second.start({"127.0.0.1", port});
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().message, "admin: cannot listen on 127.0.0.1:" + std::to_string(port) +
                                         ": address already in use");
  EXPECT_EQ(started.error().code, "EADDRINUSE");
  bool closed = false;
  second.close([&] { closed = true; });
  EXPECT_TRUE(run_until([&] { return closed; }));

  AdminServer never_started(&loop_, &AdminServerTest::echo);
  bool closed_at_once = false;
  never_started.close([&] { closed_at_once = true; });
  EXPECT_TRUE(closed_at_once);
}

// ---- Streams -----------------------------------------------------------------------------

class AdminStreamTest : public AdminServerTest {
 protected:
  void SetUp() override {
    AdminServerTest::SetUp();
    handler_ = [this](const AdminRequest& request, AdminResponder& responder) {
      if (request.path != "/tail") return echo(request, responder);
      if (!responder.start_stream(200, "application/x-ndjson")) return;
      held_.push_back(responder.shared_from_this());
    };
  }

  AdminResponder* stream() { return held_.empty() ? nullptr : held_.back().get(); }

  // Held responses that stopped being open() before they were finished (the client went
  // away, its stream was cut off, or the server closed): what their holder sees.
  long closed_before_finished() const {
    return std::count_if(held_.begin(), held_.end(), [](const auto& responder) {
      return !responder->open() && (responder->streaming() || !responder->answered());
    });
  }

  std::vector<std::shared_ptr<AdminResponder>> slow_;
};

TEST_F(AdminStreamTest, LinesArriveAsChunksWhileStreamingAndEndTerminates) {
  uint16_t port = start_server();
  std::atomic<bool> first_line_seen{false};
  Response tail;
  std::string raw;
  Ending ending = Ending::Other;
  bool first_sent = false, ended = false;
  ASSERT_TRUE(run_with_client(
      [&] {
        HttpClient client(port);
        ASSERT_TRUE(client.send(get("/tail")));
        ASSERT_TRUE(client.read_until([&] { return client.partial_body() == "{\"n\":1}\n"; }));
        first_line_seen = true;  // the server has not ended the stream yet
        ASSERT_TRUE(client.next(&tail));
        ending = client.read_to_end();  // a stream is the connection's last response
        raw = client.raw();
      },
      [&] {
        AdminResponder* s = stream();
        if (s == nullptr || ended) return;
        if (!first_sent) {
          EXPECT_EQ(s->send("{\"n\":1}\n"), AdminResponder::SendResult::Sent);
          first_sent = true;
        }
        if (!first_line_seen) return;
        EXPECT_EQ(s->send("{\"n\":2}\n"), AdminResponder::SendResult::Sent);
        EXPECT_EQ(s->send(""), AdminResponder::SendResult::Sent);  // ignored, not a terminator
        EXPECT_EQ(s->send("{\"n\":3}\n"), AdminResponder::SendResult::Sent);
        s->end();
        ended = true;
        EXPECT_FALSE(s->open());
        EXPECT_EQ(s->send("late\n"), AdminResponder::SendResult::Closed);
      }));
  EXPECT_EQ(tail.head.status_code, 200);
  EXPECT_EQ(tail.header("Transfer-Encoding"), "chunked");
  EXPECT_EQ(tail.header("Content-Type"), "application/x-ndjson");
  EXPECT_EQ(tail.body, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
  // The framing on the wire: one chunk per line, then the terminating chunk.
  EXPECT_NE(
      raw.find("\r\n\r\n8\r\n{\"n\":1}\n\r\n8\r\n{\"n\":2}\n\r\n8\r\n{\"n\":3}\n\r\n0\r\n\r\n"),
      std::string::npos);
  EXPECT_EQ(tail.header("Connection"), "close");
  EXPECT_EQ(ending, Ending::Eof);
  EXPECT_EQ(closed_before_finished(), 0);  // ended normally
  EXPECT_EQ(server_->open_streams(), 0u);
}

TEST_F(AdminStreamTest, ClientHangingUpIsNoticed) {
  uint16_t port = start_server();
  ASSERT_TRUE(run_with_client([&] {
    HttpClient client(port);
    ASSERT_TRUE(client.send(get("/tail")));
    ASSERT_TRUE(client.read_until([&] { return client.head_seen(); }));
    client.close();
  }));
  ASSERT_NE(stream(), nullptr);
  EXPECT_TRUE(run_until([&] { return closed_before_finished() == 1; }));
  EXPECT_FALSE(stream()->open());
  EXPECT_EQ(stream()->send("x\n"), AdminResponder::SendResult::Closed);
  stream()->end();  // harmless on a closed stream
  EXPECT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
  EXPECT_FALSE(stream()->open());
}

TEST_F(AdminStreamTest, StreamsAreExemptFromTheIdleTimeout) {
  AdminServerOptions options;
  options.idle_timeout_ms = 50;
  uint16_t port = start_server(options);
  std::atomic<bool> waited{false};
  Response tail;
  ASSERT_TRUE(run_with_client(
      [&] {
        HttpClient client(port);
        ASSERT_TRUE(client.send(get("/tail")));
        ASSERT_TRUE(client.read_until([&] { return client.head_seen(); }));
        std::this_thread::sleep_for(std::chrono::milliseconds(400));  // eight idle timeouts
        waited = true;
        ASSERT_TRUE(client.next(&tail));
      },
      [&] {
        if (waited && stream() != nullptr && stream()->open()) {
          EXPECT_EQ(stream()->send("still here\n"), AdminResponder::SendResult::Sent);
          stream()->end();
        }
      }));
  EXPECT_EQ(tail.body, "still here\n");
  EXPECT_EQ(closed_before_finished(), 0);
}

// A stream behind an unanswered request holds its lines until the request before it is
// answered; then they flow in order.
TEST_F(AdminStreamTest, StreamBehindAPendingRequestHoldsItsLines) {
  auto tail = handler_;
  handler_ = [this, tail](const AdminRequest& request, AdminResponder& responder) {
    if (request.path == "/slow") return slow_.push_back(responder.shared_from_this());
    tail(request, responder);
  };
  uint16_t port = start_server();
  const std::string line(39, 'x');
  Response slow, stream_response;
  std::vector<AdminResponder::SendResult> results;
  size_t head_bytes = 0, held_bytes = 0;
  bool done = false;
  ASSERT_TRUE(run_with_client(
      [&] {
        HttpClient client(port);
        ASSERT_TRUE(client.send(get("/slow") + get("/tail")));
        ASSERT_TRUE(client.next(&slow));
        ASSERT_TRUE(client.next(&stream_response));
      },
      [&] {
        if (done || slow_.empty() || stream() == nullptr) return;
        head_bytes = stream()->queued_bytes();  // the response head is held too
        for (int i = 0; i < 3; ++i) results.push_back(stream()->send(line + "\n"));
        held_bytes = stream()->queued_bytes();
        slow_[0]->respond(200, "text/plain", "slow");
        results.push_back(stream()->send("last\n"));
        stream()->end();
        done = true;
      }));
  using R = AdminResponder::SendResult;
  EXPECT_EQ(results, std::vector<R>(4, R::Sent));
  ASSERT_GT(head_bytes, 50u);
  EXPECT_EQ(held_bytes, head_bytes + 3 * 46);  // "28\r\n" + 40 bytes + "\r\n" each
  EXPECT_EQ(slow.body, "slow");
  EXPECT_EQ(stream_response.body, line + "\n" + line + "\n" + line + "\n" + "last\n");
}

// Held lines count against the stream's bound like queued ones: past it, the stream is cut
// off, and the client, which never read, loses the connection.
TEST_F(AdminStreamTest, StreamHeldBehindAPendingRequestIsCutOffPastItsBound) {
  auto tail = handler_;
  handler_ = [this, tail](const AdminRequest& request, AdminResponder& responder) {
    if (request.path == "/slow") return slow_.push_back(responder.shared_from_this());
    tail(request, responder);
  };
  AdminServerOptions options;
  options.stream_max_queued_bytes = 300;
  uint16_t port = start_server(options);
  std::vector<AdminResponder::SendResult> results;
  size_t head_bytes = 0;
  bool done = false;
  Ending ending = Ending::Other;
  ASSERT_TRUE(run_with_client(
      [&] {
        HttpClient client(port);
        ASSERT_TRUE(client.send(get("/slow") + get("/tail")));
        ending = client.read_to_end();
      },
      [&] {
        if (done || slow_.empty() || stream() == nullptr) return;
        head_bytes = stream()->queued_bytes();
        for (int i = 0; i < 10; ++i) results.push_back(stream()->send(std::string(39, 'x') + "\n"));
        done = true;
      }));
  using R = AdminResponder::SendResult;
  ASSERT_EQ(results.size(), 10u);
  EXPECT_EQ(results.front(), R::Sent);
  EXPECT_EQ(results.back(), R::Closed);
  EXPECT_TRUE(stream()->cut_off());
  // Sent while the held bytes (head, then 46 per line) were within the bound.
  ASSERT_LT(head_bytes, 300u);
  auto kept = static_cast<long>((300 - head_bytes) / 46 + 1);
  EXPECT_EQ(std::count(results.begin(), results.end(), R::Sent), kept);
  EXPECT_EQ(server_->counters().stream_cutoffs, 1u);
  EXPECT_EQ(closed_before_finished(), 1);
  EXPECT_TRUE(ending == Ending::Eof || ending == Ending::Reset);
  EXPECT_FALSE(slow_[0]->open());
  EXPECT_EQ(server_->open_streams(), 0u);
}

TEST_F(AdminStreamTest, Http10StreamEndsWithTheConnection) {
  uint16_t port = start_server();
  std::atomic<bool> head_seen{false};
  std::string raw;
  Ending ending = Ending::Other;
  bool ended = false;
  ASSERT_TRUE(run_with_client(
      [&] {
        HttpClient client(port);
        ASSERT_TRUE(client.send("GET /tail HTTP/1.0\r\n\r\n"));
        ASSERT_TRUE(client.read_until([&] { return client.head_seen(); }));
        head_seen = true;
        ending = client.read_to_end();
        raw = client.raw();
      },
      [&] {
        if (!head_seen || ended) return;
        stream()->send("a\n");
        stream()->send("b\n");
        stream()->end();
        ended = true;
      }));
  EXPECT_EQ(ending, Ending::Eof);
  size_t body_start = raw.find("\r\n\r\n");
  ASSERT_NE(body_start, std::string::npos);
  EXPECT_EQ(raw.substr(body_start + 4), "a\nb\n");  // no chunk framing
  EXPECT_NE(raw.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(raw.find("Transfer-Encoding"), std::string::npos);
}

// A client that stops reading: once the stream's queue passes its bound, the stream is cut
// off (counted, on_closed called, the connection closed); the queue never grows past the
// bound plus one line.
TEST_F(AdminStreamTest, SlowReaderIsCutOffNotBufferedFor) {
  AdminServerOptions options;
  options.stream_max_queued_bytes = 64u << 10;
  uint16_t port = start_server(options);
  const std::string line = std::string(999, 'l') + "\n";
  const size_t frame = line.size() + 9;  // "3e8\r\n" + line + "\r\n"
  std::atomic<bool> head_read{false}, enough{false};
  size_t max_queued = 0;
  uint64_t sent = 0;
  Ending ending = Ending::Other;
  ASSERT_TRUE(run_with_client(
      [&] {
        HttpClient client(port, 4096);
        ASSERT_TRUE(client.send(get("/tail")));
        ASSERT_TRUE(client.read_until([&] { return client.head_seen(); }));
        head_read = true;
        while (!enough) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ending = client.read_to_end();  // what was sent, then the end
      },
      [&] {
        AdminResponder* s = stream();
        if (!head_read || s == nullptr || enough) return;
        for (int i = 0; i < 256 && s->open(); ++i) {
          if (s->send(line) == AdminResponder::SendResult::Sent) ++sent;
          max_queued = std::max(max_queued, s->queued_bytes());
        }
        if (!s->open() || sent > (64u << 20)) enough = true;
      }));
  ASSERT_NE(stream(), nullptr);
  EXPECT_TRUE(stream()->cut_off());
  EXPECT_LE(max_queued, options.stream_max_queued_bytes + frame);
  EXPECT_GT(max_queued, options.stream_max_queued_bytes / 2);  // the bound was reached
  EXPECT_EQ(server_->counters().stream_cutoffs, 1u);
  EXPECT_EQ(closed_before_finished(), 1);
  EXPECT_TRUE(ending == Ending::Eof || ending == Ending::Reset);
  EXPECT_EQ(stream()->send(line), AdminResponder::SendResult::Closed);
  EXPECT_EQ(server_->open_streams(), 0u);
  EXPECT_EQ(server_->stream_queued_bytes(), 0u);
}

// Several slow readers, each within its own bound, together past the bound for all streams:
// those with output waiting are cut off, so the total stays near that bound.
TEST_F(AdminStreamTest, SlowReadersTogetherAreBoundedByTheTotal) {
  AdminServerOptions options;
  options.stream_max_queued_bytes = 1u << 20;
  options.streams_max_queued_bytes = 96u << 10;
  uint16_t port = start_server(options);
  const std::string line = std::string(999, 'l') + "\n";
  constexpr int kReaders = 4;
  std::atomic<bool> heads_read{false}, enough{false};
  size_t max_total = 0;
  ASSERT_TRUE(run_with_client(
      [&] {
        std::vector<std::unique_ptr<HttpClient>> clients;
        for (int i = 0; i < kReaders; ++i) {
          clients.push_back(std::make_unique<HttpClient>(port, 4096));
          ASSERT_TRUE(clients.back()->send(get("/tail")));
          ASSERT_TRUE(clients.back()->read_until([&] { return clients.back()->head_seen(); }));
        }
        heads_read = true;
        while (!enough) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      },
      [&] {
        if (!heads_read || enough || held_.size() != kReaders) return;
        size_t open = 0;
        for (int round = 0; round < 64; ++round) {
          open = 0;
          for (const auto& s : held_) {
            if (s->open()) {
              s->send(line);
              ++open;
            }
          }
          max_total = std::max(max_total, server_->stream_queued_bytes());
        }
        if (open == 0) enough = true;
      }));
  EXPECT_EQ(server_->counters().stream_cutoffs, static_cast<uint64_t>(kReaders));
  // Each reader adds at most one line past the total before it is cut off.
  EXPECT_LE(max_total, options.streams_max_queued_bytes + kReaders * (line.size() + 9));
  EXPECT_GT(max_total, options.streams_max_queued_bytes / 2);
  EXPECT_EQ(server_->stream_queued_bytes(), 0u);
}

// Pipelined /tail requests behind a stream: one stream per connection, the rest refused and
// never dispatched (each would have held up to a stream's bound).
TEST_F(AdminStreamTest, RequestsPipelinedBehindAStreamAreRefused) {
  uint16_t port = start_server();
  std::atomic<bool> head_read{false};
  Response tail;
  Ending ending = Ending::Other;
  bool ended = false;
  ASSERT_TRUE(run_with_client(
      [&] {
        HttpClient client(port);
        std::string all;
        for (int i = 0; i < 32; ++i) all += get("/tail");
        ASSERT_TRUE(client.send(all + get("/after")));
        ASSERT_TRUE(client.read_until([&] { return client.head_seen(); }));
        head_read = true;
        ASSERT_TRUE(client.next(&tail));
        ending = client.read_to_end();
        EXPECT_EQ(client.raw().find("HTTP/1.1", 10), std::string::npos);  // one response
      },
      [&] {
        if (!head_read || ended || stream() == nullptr) return;
        stream()->send("only\n");
        stream()->end();
        ended = true;
      }));
  EXPECT_EQ(held_.size(), 1u);
  EXPECT_EQ(requests_.size(), 1u);
  EXPECT_GE(server_->counters().refused_behind_stream, 1u);
  EXPECT_EQ(tail.header("Connection"), "close");
  EXPECT_EQ(tail.body, "only\n");
  EXPECT_EQ(ending, Ending::Eof);
}

// No more than max_streams at once over all connections; the next one gets 503, and a slot
// frees when a stream's client leaves.
TEST_F(AdminStreamTest, StreamsOverTheCapAreRefused) {
  handler_ = [this](const AdminRequest& request, AdminResponder& responder) {
    if (request.path != "/tail") return echo(request, responder);
    if (!responder.start_stream(200, "application/x-ndjson")) return;
    held_.push_back(responder.shared_from_this());
  };
  AdminServerOptions options;
  options.max_streams = 2;
  uint16_t port = start_server(options);
  Response refused, later;
  ASSERT_TRUE(run_with_client([&] {
    HttpClient first(port), second(port);
    for (HttpClient* client : {&first, &second}) {
      ASSERT_TRUE(client->send(get("/tail")));
      ASSERT_TRUE(client->read_until([&] { return client->head_seen(); }));
    }
    HttpClient third(port);
    ASSERT_TRUE(third.send(get("/tail")));
    ASSERT_TRUE(third.next(&refused));
    first.close();
    for (int attempt = 0; attempt < 200; ++attempt) {
      HttpClient fourth(port);
      ASSERT_TRUE(fourth.send(get("/tail", "Connection: close\r\n")));
      if (fourth.read_until([&] { return fourth.head_seen(); }) && !fourth.raw().empty() &&
          fourth.raw().starts_with("HTTP/1.1 200")) {
        later.head.status_code = 200;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }));
  EXPECT_EQ(refused.head.status_code, 503);
  EXPECT_EQ(refused.header("Retry-After"), "5");
  EXPECT_EQ(later.head.status_code, 200);
  EXPECT_GE(server_->counters().streams_refused, 1u);
  EXPECT_LE(server_->open_streams(), 2u);
}

TEST_F(AdminStreamTest, CloseWithOpenConnectionsFinishes) {
  handler_ = [this](const AdminRequest& request, AdminResponder& responder) {
    if (request.path == "/tail") {
      responder.start_stream(200, "application/x-ndjson");
    } else if (request.path != "/pending") {
      return echo(request, responder);
    }
    held_.push_back(responder.shared_from_this());
  };
  uint16_t port = start_server();
  std::atomic<bool> all_open{false};
  bool close_called = false, closed = false;
  std::vector<Ending> endings;
  ASSERT_TRUE(run_with_client(
      [&] {
        HttpClient idle(port), kept(port), streaming(port), pending(port);
        Response response;
        ASSERT_TRUE(kept.send(get("/kept")));
        ASSERT_TRUE(kept.next(&response));
        ASSERT_TRUE(streaming.send(get("/tail")));
        ASSERT_TRUE(streaming.read_until([&] { return streaming.head_seen(); }));
        ASSERT_TRUE(pending.send(get("/pending")));
        all_open = true;
        for (HttpClient* client : {&idle, &kept, &streaming, &pending}) {
          endings.push_back(client->read_to_end());
        }
      },
      [&] {
        if (all_open && held_.size() == 2 && !close_called) {
          close_called = true;
          server_->close([&] { closed = true; });
        }
      }));
  EXPECT_TRUE(close_called);
  EXPECT_TRUE(run_until([&] { return closed; }));
  EXPECT_EQ(server_->open_connections(), 0u);
  ASSERT_EQ(endings.size(), 4u);
  for (Ending ending : endings) EXPECT_TRUE(ending == Ending::Eof || ending == Ending::Reset);
  EXPECT_EQ(closed_before_finished(), 2);  // the stream and the unanswered request
  for (const auto& responder : held_) {
    EXPECT_FALSE(responder->open());
    EXPECT_FALSE(responder->respond(200, "text/plain", "too late"));
  }
  server_.reset();  // closed already
}

// ---- Bearer tokens -----------------------------------------------------------------------

TEST(BearerTokenTest, MatchesOnlyTheExactToken) {
  EXPECT_TRUE(bearer_token_matches("Bearer s3cret-token", "s3cret-token"));
  EXPECT_TRUE(bearer_token_matches("bearer s3cret-token", "s3cret-token"));
  EXPECT_TRUE(bearer_token_matches("BEARER   s3cret-token  ", "s3cret-token"));
  EXPECT_TRUE(bearer_token_matches("  Bearer\ts3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret-tokeN", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret-toke", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret-token2", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearers3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Basic s3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("s3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", ""));  // no configured token never matches
  EXPECT_FALSE(bearer_token_matches("Bearer x", ""));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret token", "s3cret-token"));
}

TEST(BearerTokenTest, ConstantTimeEqualsComparesEveryByte) {
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_TRUE(constant_time_equals("abc", "abc"));
  EXPECT_FALSE(constant_time_equals("abd", "abc"));
  EXPECT_FALSE(constant_time_equals("xbc", "abc"));
  EXPECT_FALSE(constant_time_equals("ab", "abc"));
  EXPECT_FALSE(constant_time_equals("abcd", "abc"));
  EXPECT_FALSE(constant_time_equals("", "abc"));
  EXPECT_FALSE(constant_time_equals("abc", ""));
  // A prefix of the expected token padded with what the comparison substitutes past the end
  // must not match.
  std::string expected = "k";
  std::string tricky = "";
  EXPECT_FALSE(constant_time_equals(tricky, expected));
  EXPECT_FALSE(constant_time_equals(std::string("a\0", 2), "a"));
}

}  // namespace
}  // namespace mcptap::proxy

// The control plane's handlers against a real ProxyServer on a real loop: /routes with
// counters, the capture switch, /status, /metrics, /readyz, /tail through the formatter it
// is given, and what a refused or successful reload leaves visible.
#include "proxy/control_plane.h"

#include <poll.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "running_proxy.h"

namespace mcptap::proxy {
namespace {

using nlohmann::json;

struct HttpReply {
  int status = 0;
  std::string body;
};

class ControlPlaneTest : public testing::RunningProxyTest {
 protected:
  void SetUp() override {
    ProxyOptions initial = options({});
    initial.admin.tail_line = tail_line_;
    server_ =
        std::make_unique<ProxyServer>(initial, capture::CaptureOptions{}, redactor_, consumer_);
    base::Status started = server_->start();
    ASSERT_TRUE(started) << started.error().message;
    upstream_ = start_upstream();
    base::Status applied = apply(options({route("a", {"127.0.0.1", 0}, upstream_)}));
    ASSERT_TRUE(applied) << applied.error().message;
  }

  // One request on its own connection (Connection: close), answered in full.
  HttpReply request(const std::string& method, const std::string& path,
                    const std::string& body = "") {
    std::string raw;
    EXPECT_TRUE(run_with_client([&] {
      int fd = testing::connect_to(server_->admin_port());
      ASSERT_GE(fd, 0);
      std::string head = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
      if (!body.empty()) head += "Content-Type: application/json\r\n";
      head += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
      ASSERT_TRUE(testing::send_all(fd, head + body));
      testing::read_to_end(fd, &raw);
      ::close(fd);
    }));
    HttpReply reply;
    size_t space = raw.find(' ');
    size_t blank = raw.find("\r\n\r\n");
    if (space == std::string::npos || blank == std::string::npos) return reply;
    reply.status = std::atoi(raw.c_str() + space + 1);
    reply.body = raw.substr(blank + 4);
    return reply;
  }

  json get_json(const std::string& path) {
    HttpReply reply = request("GET", path);
    EXPECT_EQ(reply.status, 200) << path << ": " << reply.body;
    return json::parse(reply.body, nullptr, false);
  }

  // Reads from `fd` until `done` holds of what came, the peer closes, or 10 s pass.
  static std::string read_until(int fd, const std::function<bool(const std::string&)>& done) {
    std::string bytes;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done(bytes) && std::chrono::steady_clock::now() < deadline) {
      pollfd readable{fd, POLLIN, 0};
      if (::poll(&readable, 1, 100) <= 0) continue;
      char chunk[4096];
      ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
      if (got <= 0) break;
      bytes.append(chunk, static_cast<size_t>(got));
    }
    return bytes;
  }

  // Not the record's JSON: the control plane writes whatever it is given.
  TailFormatter tail_line_ = [](const capture::Record& record) {
    return "tail " + record.route + " " + record.method.value_or("-") + " " +
           std::string(capture::to_string(record.direction)) + "\n";
  };
  uint16_t upstream_ = 0;
};

// A control plane built without a formatter says so instead of streaming.
class ControlPlaneWithoutTailTest : public ControlPlaneTest {
 protected:
  ControlPlaneWithoutTailTest() { tail_line_ = nullptr; }
};

TEST_F(ControlPlaneTest, RoutesListEveryRouteWithItsCounters) {
  uint16_t port = server_->bound_port("a");
  EXPECT_EQ(echo_through(port, "hello"), "hello");
  ASSERT_TRUE(run_until([&] { return server_->find_route("a")->traffic.connections_open == 0; }));
  json routes = get_json("/routes");
  ASSERT_TRUE(routes.is_array());
  ASSERT_EQ(routes.size(), 1u);
  const json& a = routes[0];
  EXPECT_EQ(a["name"], "a");
  EXPECT_EQ(a["listen"], "127.0.0.1:0");
  EXPECT_EQ(a["upstream"], "127.0.0.1:" + std::to_string(upstream_));
  EXPECT_EQ(a["capture"], true);
  EXPECT_EQ(a["connections_total"], 1);
  EXPECT_EQ(a["connections_open"], 0);
  EXPECT_EQ(a["bytes_client_to_server"], 5);
  EXPECT_EQ(a["bytes_server_to_client"], 5);
}

TEST_F(ControlPlaneTest, CaptureSwitchChangesTheRouteAndAnswersItsNewState) {
  HttpReply off = request("POST", "/routes/a/capture", R"({"enabled": false})");
  ASSERT_EQ(off.status, 200) << off.body;
  EXPECT_EQ(json::parse(off.body)["capture"], false);
  EXPECT_FALSE(server_->find_route("a")->capture.capture_switch().enabled);

  HttpReply sampled =
      request("POST", "/routes/a/capture", R"({"enabled": true, "sample": 0.5, "methods": ["x"]})");
  ASSERT_EQ(sampled.status, 200) << sampled.body;
  const capture::CaptureSwitch& now = server_->find_route("a")->capture.capture_switch();
  EXPECT_TRUE(now.enabled);
  EXPECT_EQ(now.sample, 0.5);
  EXPECT_EQ(now.methods, std::vector<std::string>{"x"});
  EXPECT_EQ(get_json("/routes")[0]["sample"], 0.5);
}

TEST_F(ControlPlaneTest, CaptureSwitchRefusesUnknownRoutesAndBadBodies) {
  HttpReply unknown = request("POST", "/routes/nosuch/capture", R"({"enabled": true})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"], "no route named \"nosuch\"");
  for (const auto& [body, reason] : std::vector<std::pair<std::string, std::string>>{
           {"[1]", "body must be a JSON object"},
           {R"({"enabled": "yes"})", "\"enabled\" must be true or false"},
           {R"({"enabled": true, "sample": 2})", "\"sample\" must be a number from 0 to 1"},
           {R"({"enabled": true, "methods": [1]})", "\"methods\" must be an array of strings"},
           {R"({"enabled": true, "extra": 1})", "unknown key \"extra\""}}) {
    HttpReply refused = request("POST", "/routes/a/capture", body);
    EXPECT_EQ(refused.status, 400) << body;
    EXPECT_EQ(json::parse(refused.body, nullptr, false).value("error", ""), reason) << body;
  }
  EXPECT_TRUE(server_->find_route("a")->capture.capture_switch().enabled) << "nothing changed";
}

TEST_F(ControlPlaneTest, StatusMetricsAndReadiness) {
  EXPECT_EQ(echo_through(server_->bound_port("a"), "x"), "x");
  json status = get_json("/status");
  EXPECT_EQ(status["ready"], true);
  EXPECT_EQ(status["draining"], false);
  EXPECT_EQ(status["sink"], json::object());  // no status source
  ASSERT_EQ(status["routes"].size(), 1u);
  EXPECT_EQ(status["routes"][0]["name"], "a");

  HttpReply metrics = request("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("mcptap_connections_total{route=\"a\"} 1\n"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("mcptap_capture_enabled{route=\"a\"} 1\n"), std::string::npos);

  HttpReply ready = request("GET", "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ready\n");
}

// Each captured record reaches the open tail as the formatter writes it, once per record.
TEST_F(ControlPlaneTest, TailStreamsEachRecordThroughTheFormatter) {
  const std::string message = R"({"jsonrpc":"2.0","id":1,"method":"ping"})"
                              "\n";
  const std::string expected[] = {"tail a ping client_to_server\n",
                                  "tail a ping server_to_client\n"};
  std::string head;
  std::string streamed;
  ASSERT_TRUE(run_with_client([&] {
    int admin = testing::connect_to(server_->admin_port());
    ASSERT_GE(admin, 0);
    ASSERT_TRUE(testing::send_all(admin, "GET /tail HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    head = read_until(
        admin, [](const std::string& got) { return got.find("\r\n\r\n") != std::string::npos; });
    // The stream is open once its head is sent: what is captured from now on reaches it.
    int route = testing::connect_to(server_->bound_port("a"));
    ASSERT_GE(route, 0);
    ASSERT_TRUE(testing::send_all(route, message));
    EXPECT_EQ(testing::read_exactly(route, message.size()), message);
    ::close(route);
    streamed = read_until(admin, [&](const std::string& got) {
      return got.find(expected[0]) != std::string::npos &&
             got.find(expected[1]) != std::string::npos;
    });
    ::close(admin);
  }));
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_NE(head.find("application/x-ndjson"), std::string::npos) << head;
  std::string body = head.substr(head.find("\r\n\r\n") + 4) + streamed;
  for (const std::string& line : expected) {
    size_t at = body.find(line);
    ASSERT_NE(at, std::string::npos) << line << " not in: " << body;
    EXPECT_EQ(body.find(line, at + 1), std::string::npos) << line << " twice in: " << body;
  }
}

TEST_F(ControlPlaneWithoutTailTest, TailIsUnavailable) {
  HttpReply tail = request("GET", "/tail");
  EXPECT_EQ(tail.status, 503);
  EXPECT_EQ(json::parse(tail.body, nullptr, false).value("error", ""),
            "no tail formatter: this server streams no records");
  EXPECT_EQ(get_json("/status")["tail_streams"], 0);
}

// A refused reload shows nothing of the configuration it refused; an accepted one shows the
// new routes, with counters of their own.
TEST_F(ControlPlaneTest, ReloadErrorsLeaveTheRoutesAsTheyWere) {
  uint16_t taken = start_upstream();
  base::Status refused = apply(options(
      {route("a", {"127.0.0.1", taken}, upstream_), route("b", {"127.0.0.1", 0}, upstream_)}));
  ASSERT_FALSE(refused);
  json routes = get_json("/routes");
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0]["listen"], "127.0.0.1:0");
  EXPECT_EQ(request("POST", "/routes/b/capture", R"({"enabled": false})").status, 404);

  base::Status accepted = apply(
      options({route("a", {"127.0.0.1", 0}, upstream_), route("b", {"127.0.0.1", 0}, upstream_)}));
  ASSERT_TRUE(accepted) << accepted.error().message;
  routes = get_json("/routes");
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[1]["name"], "b");
  EXPECT_EQ(routes[1]["connections_total"], 0);
  EXPECT_EQ(request("POST", "/routes/b/capture", R"({"enabled": false})").status, 200);
  EXPECT_FALSE(server_->find_route("b")->capture.capture_switch().enabled);
}

}  // namespace
}  // namespace mcptap::proxy

// A real ProxyServer on its own loop, driven from the test thread, with an echo upstream on
// that loop and blocking clients on a thread of their own.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "capture/record.h"
#include "capture/redactor.h"
#include "proxy/proxy_server.h"
#include "proxy_test_support.h"

namespace mcptap::proxy::testing {

// Counts what capture hands over; the loop thread is the only caller.
class CountingConsumer : public capture::RecordConsumer {
 public:
  bool consume(capture::Record&&) override {
    ++records;
    return true;
  }
  size_t records = 0;
};

class RunningProxyTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!server_) return;
    server_->request_shutdown();
    for (auto& upstream : upstreams_) upstream->close();
    server_.reset();  // runs the loop until every handle is closed
    upstreams_.clear();
  }

  // An echo upstream on the proxy's loop; the server must exist.
  uint16_t start_upstream() {
    upstreams_.push_back(std::make_unique<TestServer>(server_->loop(), TestServer::Mode::Echo));
    return upstreams_.back()->listen();
  }

  static RouteConfig route(std::string name, HostPort listen, uint16_t upstream_port) {
    return test_route(std::move(name), std::move(listen), {"127.0.0.1", upstream_port});
  }

  static ProxyOptions options(std::vector<RouteConfig> routes) {
    ProxyOptions options;
    options.routes = std::move(routes);
    options.admin.listen = {"127.0.0.1", 0};
    options.drain_timeout_ms = 0;
    return options;
  }

  // A server with no route yet (its loop hosts the upstreams), then its routes applied.
  void create_server() {
    server_ =
        std::make_unique<ProxyServer>(options({}), capture::CaptureOptions{}, redactor_, consumer_);
    base::Status started = server_->start();
    ASSERT_TRUE(started) << started.error().message;
  }

  // Applies and waits for the result, running the loop meanwhile.
  base::Status apply(const ProxyOptions& next) {
    std::optional<base::Status> result;
    server_->apply(next, [&](base::Status applied) { result = std::move(applied); });
    EXPECT_TRUE(run_until([&] { return result.has_value(); }));
    return result ? std::move(*result) : base::Status(base::fail("apply never finished"));
  }

  bool run_until(const std::function<bool()>& done, int timeout_ms = 20000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      uv_run(server_->loop(), UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return done();
  }

  // Runs the loop while `work` runs in a thread (a blocking client), then joins it.
  bool run_with_client(const std::function<void()>& work, int timeout_ms = 20000) {
    std::atomic<bool> finished{false};
    std::thread client([&] {
      work();
      finished = true;
    });
    bool ok = run_until([&] { return finished.load(); }, timeout_ms);
    client.join();
    return ok;
  }

  // One message echoed through the route's port, on a fresh connection; "" on failure.
  std::string echo_through(uint16_t port, const std::string& message) {
    std::string answer;
    EXPECT_TRUE(run_with_client([&] {
      int fd = connect_to(port);
      if (fd < 0) return;
      if (send_all(fd, message)) answer = read_exactly(fd, message.size());
      ::close(fd);
    }));
    return answer;
  }

  capture::Redactor redactor_{capture::RedactOptions{}};
  CountingConsumer consumer_;
  std::unique_ptr<ProxyServer> server_;
  std::vector<std::unique_ptr<TestServer>> upstreams_;
};

}  // namespace mcptap::proxy::testing

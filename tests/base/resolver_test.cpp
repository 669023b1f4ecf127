// The resolver: literals without DNS, names through the thread pool on a loop, cancellation,
// and the blocking form.
#include "base/resolver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>

namespace mcptap::base {
namespace {

std::string address_text(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  uint16_t port = 0;
  if (address.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    port = ntohs(in->sin_port);
  } else {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    port = ntohs(in6->sin6_port);
  }
  return std::string(text) + " " + std::to_string(port);
}

// A loop per test, which must end with nothing open.
class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  bool run_until(const std::function<bool()>& done, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    return done();
  }

  uv_loop_t loop_;
};

TEST_F(ResolverTest, Ipv4LiteralResolvesAtOnce) {
  Resolver resolver(&loop_);
  bool called = false;
  auto started = resolver.start({"127.0.0.1", 8080}, [&](int) { called = true; });
  ASSERT_EQ(started, Resolver::Start::Resolved);
  ASSERT_EQ(resolver.addresses().size(), 1u);
  EXPECT_EQ(address_text(resolver.addresses()[0]), "127.0.0.1 8080");
  EXPECT_FALSE(resolver.pending());
  EXPECT_FALSE(called);
}

TEST_F(ResolverTest, Ipv6LiteralResolvesAtOnce) {
  Resolver resolver(&loop_);
  ASSERT_EQ(resolver.start({"::1", 443}, [](int) {}), Resolver::Start::Resolved);
  ASSERT_EQ(resolver.addresses().size(), 1u);
  EXPECT_EQ(address_text(resolver.addresses()[0]), "::1 443");
}

TEST_F(ResolverTest, NameResolvesThroughLookup) {
  Resolver resolver(&loop_);
  int status = 1;
  auto started = resolver.start({"localhost", 9001}, [&](int result) { status = result; });
  ASSERT_EQ(started, Resolver::Start::Pending);
  EXPECT_TRUE(resolver.pending());
  ASSERT_TRUE(run_until([&] { return status != 1; }, 10000));
  ASSERT_EQ(status, 0);
  EXPECT_FALSE(resolver.pending());
  ASSERT_FALSE(resolver.addresses().empty());
  bool loopback = false;
  for (const auto& address : resolver.addresses()) {
    std::string text = address_text(address);
    loopback = loopback || text == "127.0.0.1 9001" || text == "::1 9001";
  }
  EXPECT_TRUE(loopback);
}

TEST_F(ResolverTest, UnknownNameReportsAnError) {
  Resolver resolver(&loop_);
  int status = 1;
  auto started = resolver.start({"no-such-host.invalid", 80}, [&](int result) { status = result; });
  if (started == Resolver::Start::Pending) {
    ASSERT_TRUE(run_until([&] { return status != 1; }, 15000));
  } else {
    status = resolver.error();
  }
  EXPECT_LT(status, 0);
  EXPECT_TRUE(resolver.addresses().empty());
}

// The loop goes on while a name is looked up: a timer due meanwhile fires before the answer
// (the lookup runs on the thread pool, not on the loop thread).
TEST_F(ResolverTest, LoopKeepsRunningDuringALookup) {
  Resolver resolver(&loop_);
  bool resolved = false;
  ASSERT_EQ(resolver.start({"localhost", 80}, [&](int) { resolved = true; }),
            Resolver::Start::Pending);
  uv_timer_t timer;
  uv_timer_init(&loop_, &timer);
  bool fired = false;
  timer.data = &fired;
  uv_timer_start(
      &timer, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, 0, 0);
  EXPECT_FALSE(resolved);  // start() never answers a name synchronously
  ASSERT_TRUE(run_until([&] { return fired && resolved; }, 10000));
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);  // the close completes while `timer` is still alive
}

// A cancelled lookup never calls back, even when the resolver is gone before the thread
// pool returns; the loop still ends with nothing open.
TEST_F(ResolverTest, CancelledLookupNeverCallsBack) {
  bool called = false;
  {
    Resolver resolver(&loop_);
    ASSERT_EQ(resolver.start({"localhost", 80}, [&](int) { called = true; }),
              Resolver::Start::Pending);
    resolver.cancel();
    EXPECT_FALSE(resolver.pending());
  }
  uv_run(&loop_, UV_RUN_DEFAULT);  // returns once the orphaned request came back
  EXPECT_FALSE(called);
}

TEST(IpLiteralTest, LiteralsOnlyNeverNames) {
  ASSERT_TRUE(ip_literal({"10.1.2.3", 80}));
  EXPECT_EQ(address_text(*ip_literal({"10.1.2.3", 80})), "10.1.2.3 80");
  EXPECT_EQ(address_text(*ip_literal({"::", 9001})), ":: 9001");
  EXPECT_FALSE(ip_literal({"localhost", 80}));
  EXPECT_FALSE(ip_literal({"[::1]", 80}));  // HostPort holds the address without brackets
}

TEST(ResolveBlockingTest, ResolvesLiteralsAndNames) {
  Result<std::vector<sockaddr_storage>> literal = resolve_blocking({"0.0.0.0", 9001});
  ASSERT_TRUE(literal) << literal.error().message;
  ASSERT_EQ(literal->size(), 1u);
  EXPECT_EQ(address_text(literal->front()), "0.0.0.0 9001");
  Result<std::vector<sockaddr_storage>> name = resolve_blocking({"localhost", 7});
  ASSERT_TRUE(name) << name.error().message;
  ASSERT_FALSE(name->empty());
  for (const sockaddr_storage& address : *name) {
    EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port), 7);
  }
}

TEST(ResolveBlockingTest, FailureNamesTheHost) {
  Result<std::vector<sockaddr_storage>> failed =
      resolve_blocking({"no-such-host.invalid", 80}, "the admin API host");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message.rfind("cannot resolve the admin API host "
                                         "\"no-such-host.invalid\": ",
                                         0),
            0u)
      << failed.error().message;
  EXPECT_EQ(failed.error().code.rfind("EAI_", 0), 0u) << failed.error().code;
}

}  // namespace
}  // namespace mcptap::base

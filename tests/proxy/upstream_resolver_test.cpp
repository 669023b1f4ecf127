// UpstreamResolver: literals without DNS, names through the thread pool, cancellation.
#include "proxy/upstream_resolver.h"

#include <arpa/inet.h>

#include "proxy_test_support.h"

namespace mcptap::proxy {
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

class UpstreamResolverTest : public testing::LoopTest {};

TEST_F(UpstreamResolverTest, Ipv4LiteralResolvesAtOnce) {
  UpstreamResolver resolver(&loop_);
  bool called = false;
  auto started = resolver.start({"127.0.0.1", 8080}, [&](int) { called = true; });
  ASSERT_EQ(started, UpstreamResolver::Start::Resolved);
  ASSERT_EQ(resolver.addresses().size(), 1u);
  EXPECT_EQ(address_text(resolver.addresses()[0]), "127.0.0.1 8080");
  EXPECT_FALSE(resolver.pending());
  EXPECT_FALSE(called);
}

TEST_F(UpstreamResolverTest, Ipv6LiteralResolvesAtOnce) {
  UpstreamResolver resolver(&loop_);
  ASSERT_EQ(resolver.start({"::1", 443}, [](int) {}), UpstreamResolver::Start::Resolved);
  ASSERT_EQ(resolver.addresses().size(), 1u);
  EXPECT_EQ(address_text(resolver.addresses()[0]), "::1 443");
}

TEST_F(UpstreamResolverTest, NameResolvesThroughLookup) {
  UpstreamResolver resolver(&loop_);
  int status = 1;
  auto started = resolver.start({"localhost", 9001}, [&](int result) { status = result; });
  ASSERT_EQ(started, UpstreamResolver::Start::Pending);
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

TEST_F(UpstreamResolverTest, UnknownNameReportsAnError) {
  UpstreamResolver resolver(&loop_);
  int status = 1;
  auto started = resolver.start({"no-such-host.invalid", 80}, [&](int result) { status = result; });
  if (started == UpstreamResolver::Start::Pending) {
    ASSERT_TRUE(run_until([&] { return status != 1; }, 15000));
  } else {
    status = resolver.error();
  }
  EXPECT_LT(status, 0);
  EXPECT_TRUE(resolver.addresses().empty());
}

// A cancelled lookup never calls back, even when the resolver is gone before the thread
// pool returns; the loop still ends with nothing open.
TEST_F(UpstreamResolverTest, CancelledLookupNeverCallsBack) {
  bool called = false;
  {
    UpstreamResolver resolver(&loop_);
    ASSERT_EQ(resolver.start({"localhost", 80}, [&](int) { called = true; }),
              UpstreamResolver::Start::Pending);
    resolver.cancel();
    EXPECT_FALSE(resolver.pending());
  }
  uv_run(&loop_, UV_RUN_DEFAULT);  // returns once the orphaned request came back
  EXPECT_FALSE(called);
}

TEST(ResolveBlockingTest, ResolvesLiteralsAndNames) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  sockaddr_storage address;
  ASSERT_EQ(resolve_blocking(&loop, {"0.0.0.0", 9001}, &address), 0);
  EXPECT_EQ(address_text(address), "0.0.0.0 9001");
  ASSERT_EQ(resolve_blocking(&loop, {"localhost", 7}, &address), 0);
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port), 7);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace mcptap::proxy

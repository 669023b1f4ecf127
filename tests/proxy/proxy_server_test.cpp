// ProxyServer::apply on a real loop: unchanged routes keep their connections, a changed
// upstream takes over the running socket, any failure leaves the running routes as they
// were and is reported, listen names are resolved without blocking the loop.
#include "proxy/proxy_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "running_proxy.h"

namespace mcptap::proxy {
namespace {

using testing::connect_to;
using testing::read_exactly;
using testing::send_all;

class ProxyServerTest : public testing::RunningProxyTest {
 protected:
  void SetUp() override { create_server(); }

  std::vector<std::string> route_names() const {
    std::vector<std::string> names;
    for (const RouteState& route : server_->routes()) names.push_back(route.config.name);
    return names;
  }

  const capture::MessagePipeline* pipeline_of(const std::string& name) const {
    std::optional<RouteState> route = server_->find_route(name);
    return route ? &route->capture : nullptr;
  }
};

TEST_F(ProxyServerTest, UnchangedRouteKeepsItsConnectionsAndTakesNewCaptureAndLimits) {
  uint16_t upstream = start_upstream();
  RouteConfig a = route("a", {"127.0.0.1", 0}, upstream);
  ASSERT_TRUE(apply(options({a})));
  uint16_t port = server_->bound_port("a");
  const capture::MessagePipeline* before = pipeline_of("a");
  int fd = -1;
  ASSERT_TRUE(run_with_client([&] {
    fd = connect_to(port);
    ASSERT_TRUE(send_all(fd, "one"));
    EXPECT_EQ(read_exactly(fd, 3), "one");
  }));

  a.capture = false;
  a.limits.max_connections = 7;
  base::Status applied = apply(options({a}));
  ASSERT_TRUE(applied) << applied.error().message;

  EXPECT_EQ(pipeline_of("a"), before) << "the route was replaced";
  EXPECT_FALSE(server_->find_route("a")->capture.enabled());
  EXPECT_EQ(server_->find_route("a")->config.limits.max_connections, 7u);
  EXPECT_EQ(server_->bound_port("a"), port);
  ASSERT_TRUE(run_with_client([&] {  // the connection opened before the apply still forwards
    ASSERT_TRUE(send_all(fd, "two"));
    EXPECT_EQ(read_exactly(fd, 3), "two");
    ::close(fd);
  }));
  EXPECT_EQ(server_->find_route("a")->traffic.connections_total, 1u);
}

// A changed upstream on the same listen address: the replacement listens on the running
// route's socket, so the port is never free in between, and new connections go upstream
// to the new address.
TEST_F(ProxyServerTest, ChangedUpstreamTakesOverTheListeningSocket) {
  uint16_t first = start_upstream();
  uint16_t second = start_upstream();
  ASSERT_TRUE(apply(options({route("a", {"127.0.0.1", 0}, first)})));
  uint16_t port = server_->bound_port("a");
  EXPECT_EQ(echo_through(port, "to-first"), "to-first");
  const capture::MessagePipeline* before = pipeline_of("a");

  // The same listen address as configured ("127.0.0.1:0"), another upstream.
  base::Status applied = apply(options({route("a", {"127.0.0.1", 0}, second)}));
  ASSERT_TRUE(applied) << applied.error().message;

  EXPECT_NE(pipeline_of("a"), before) << "a route with a new upstream starts afresh";
  EXPECT_EQ(server_->bound_port("a"), port);
  EXPECT_EQ(server_->find_route("a")->config.upstream.port, second);
  EXPECT_EQ(echo_through(port, "to-second"), "to-second");
  EXPECT_EQ(upstreams_[0]->accepted(), 1u);
  EXPECT_EQ(upstreams_[1]->accepted(), 1u);
}

// A route moved to a port someone else holds: the whole apply is refused, with the reason,
// and nothing running changes (not even the other route it adds).
TEST_F(ProxyServerTest, PortTakenRejectsTheApplyAndKeepsTheRunningRoutes) {
  uint16_t upstream = start_upstream();
  uint16_t taken = start_upstream();  // its listening port is the one taken
  ASSERT_TRUE(apply(options({route("a", {"127.0.0.1", 0}, upstream)})));
  uint16_t port = server_->bound_port("a");

  base::Status applied = apply(options(
      {route("a", {"127.0.0.1", taken}, upstream), route("b", {"127.0.0.1", 0}, upstream)}));
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().message, "route a: cannot listen on 127.0.0.1:" +
                                         std::to_string(taken) + ": address already in use");
  EXPECT_EQ(route_names(), std::vector<std::string>{"a"});
  EXPECT_EQ(server_->bound_port("a"), port);
  EXPECT_EQ(echo_through(port, "still"), "still");
}

// The descriptors this process has open now.
std::vector<int> open_descriptors() {
  std::vector<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') fds.push_back(std::atoi(entry->d_name));
  }
  closedir(dir);
  return fds;
}

// Without a descriptor to spare, a replaced route cannot take over its socket: apply says
// so instead of dropping the route, and the running route goes on serving.
TEST_F(ProxyServerTest, FailedTakeOverIsReportedAndKeepsTheRunningRoute) {
  uint16_t first = start_upstream();
  uint16_t second = start_upstream();
  ASSERT_TRUE(apply(options({route("a", {"127.0.0.1", 0}, first)})));
  uint16_t port = server_->bound_port("a");

  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  std::vector<int> fds = open_descriptors();
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(*std::max_element(fds.begin(), fds.end()) + 1);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::vector<int> fillers;  // every lower descriptor in use: the next dup fails
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
  std::optional<base::Status> result;
  server_->apply(options({route("a", {"127.0.0.1", 0}, second)}),
                 [&](base::Status applied) { result = std::move(applied); });
  for (int fd : fillers) ::close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);

  ASSERT_TRUE(result.has_value()) << "only IP literals: apply finishes at once";
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().message,
            "route a: cannot take over the socket listening on "
            "127.0.0.1:0: too many open files");
  EXPECT_EQ(server_->find_route("a")->config.upstream.port, first);
  EXPECT_EQ(echo_through(port, "kept"), "kept");
  EXPECT_EQ(upstreams_[1]->accepted(), 0u);
}

TEST_F(ProxyServerTest, RoutesAddedAndRemoved) {
  uint16_t upstream = start_upstream();
  ASSERT_TRUE(apply(options({route("a", {"127.0.0.1", 0}, upstream)})));
  uint16_t a_port = server_->bound_port("a");
  ASSERT_TRUE(apply(
      options({route("a", {"127.0.0.1", 0}, upstream), route("b", {"127.0.0.1", 0}, upstream)})));
  EXPECT_EQ(route_names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(server_->bound_port("a"), a_port);
  EXPECT_EQ(echo_through(server_->bound_port("b"), "via-b"), "via-b");

  ASSERT_TRUE(apply(options({route("b", {"127.0.0.1", 0}, upstream)})));
  EXPECT_EQ(route_names(), std::vector<std::string>{"b"});
  EXPECT_FALSE(server_->find_route("a"));
  bool refused = false;
  ASSERT_TRUE(run_until([&] {
    int fd = connect_to(a_port);
    if (fd >= 0) ::close(fd);
    refused = fd < 0;
    return refused;
  }));
}

// A listen name goes to the thread pool: apply returns at once, the loop keeps serving
// (a timer fires, a connection through another route is forwarded) and the route listens
// once the answer is back.
TEST_F(ProxyServerTest, ListenNamesAreResolvedWhileTheLoopServes) {
  uint16_t upstream = start_upstream();
  ASSERT_TRUE(apply(options({route("a", {"127.0.0.1", 0}, upstream)})));
  uint16_t a_port = server_->bound_port("a");

  std::optional<base::Status> result;
  server_->apply(
      options({route("a", {"127.0.0.1", 0}, upstream), route("named", {"localhost", 0}, upstream)}),
      [&](base::Status applied) { result = std::move(applied); });
  EXPECT_FALSE(result.has_value()) << "apply waited for DNS on the loop thread";
  EXPECT_FALSE(server_->find_route("named"));

  uv_timer_t timer;
  uv_timer_init(server_->loop(), &timer);
  bool fired_before_result = false;
  struct Probe {
    bool* fired;
    std::optional<base::Status>* result;
  } probe{&fired_before_result, &result};
  timer.data = &probe;
  uv_timer_start(
      &timer,
      [](uv_timer_t* t) {
        auto* p = static_cast<Probe*>(t->data);
        *p->fired = !p->result->has_value();
      },
      0, 0);
  EXPECT_EQ(echo_through(a_port, "meanwhile"), "meanwhile");
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  uv_run(server_->loop(), UV_RUN_NOWAIT);
  EXPECT_TRUE(fired_before_result);
  ASSERT_TRUE(*result) << result->error().message;
  ASSERT_TRUE(server_->find_route("named"));
  EXPECT_EQ(echo_through(server_->bound_port("named"), "named"), "named");
}

TEST_F(ProxyServerTest, UnresolvableListenNameRejectsTheApply) {
  uint16_t upstream = start_upstream();
  ASSERT_TRUE(apply(options({route("a", {"127.0.0.1", 0}, upstream)})));
  base::Status applied = apply(options(
      {route("a", {"127.0.0.1", 0}, upstream), route("b", {"no-such-host.invalid", 0}, upstream)}));
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().message.rfind(
                "route b: cannot resolve the listen host \"no-such-host.invalid\": ", 0),
            0u)
      << applied.error().message;
  EXPECT_EQ(route_names(), std::vector<std::string>{"a"});
}

// SIGHUP while a reload still resolves: the newer configuration wins, the older is told.
TEST_F(ProxyServerTest, NewerApplySupersedesOneStillResolving) {
  uint16_t upstream = start_upstream();
  std::optional<base::Status> first;
  server_->apply(options({route("slow", {"localhost", 0}, upstream)}),
                 [&](base::Status applied) { first = std::move(applied); });
  ASSERT_FALSE(first.has_value());
  base::Status second = apply(options({route("fast", {"127.0.0.1", 0}, upstream)}));
  ASSERT_TRUE(second) << second.error().message;
  ASSERT_TRUE(first.has_value());
  ASSERT_FALSE(*first);
  EXPECT_EQ(first->error().message, "superseded by a newer configuration");
  EXPECT_EQ(route_names(), std::vector<std::string>{"fast"});
  uv_run(server_->loop(), UV_RUN_NOWAIT);  // the abandoned lookup comes back to nobody
  EXPECT_EQ(route_names(), std::vector<std::string>{"fast"});
}

}  // namespace
}  // namespace mcptap::proxy

// The admin API's access rules without sockets: Host, Origin, token and Content-Type per
// kind of endpoint, as a browser page, a kubelet, Prometheus and the CLI would send them.
#include "proxy/admin_access.h"

#include <gtest/gtest.h>

namespace mcptap::proxy {
namespace {

AdminRequest request(std::string method, std::string path, HttpHeaders headers,
                     std::string local_address = "127.0.0.1") {
  AdminRequest r;
  r.method = std::move(method);
  r.path = r.target = std::move(path);
  r.headers = std::move(headers);
  r.local_address = std::move(local_address);
  return r;
}

int status_of(const AdminRequest& r, AdminEndpointKind kind, const AdminAccessPolicy& policy) {
  std::optional<AdminRefusal> refusal = check_admin_access(r, kind, policy);
  return refusal ? refusal->status : 0;
}

const AdminAccessPolicy kLoopbackNoToken{"", "127.0.0.1", {}};
const AdminAccessPolicy kWildcardWithToken{"s3cret", "0.0.0.0", {"mcptap.internal", "ops:9901"}};
const AdminAccessPolicy kWildcardNoToken{"", "0.0.0.0", {}};

TEST(AdminAccessTest, LoopbackHostsAreAcceptedWithAnyPort) {
  for (const char* host : {"localhost", "LOCALHOST:9901", "localhost.", "127.0.0.1", "127.0.0.1:80",
                           "127.1.2.3:9", "[::1]", "[::1]:9901", "[::ffff:127.0.0.1]:1"}) {
    EXPECT_TRUE(admin_host_allowed(host, "127.0.0.1", kLoopbackNoToken)) << host;
  }
}

TEST(AdminAccessTest, ForeignAndMalformedHostsAreRefused) {
  for (const char* host :
       {"evil.example", "evil.example:9901", "localhost.evil.example", "127.0.0.1.nip.io",
        "10.0.0.5:9901", "::1", "[::1", "a:b", "", "localhost:99999999", "[::2]:1"}) {
    EXPECT_FALSE(admin_host_allowed(host, "127.0.0.1", kLoopbackNoToken)) << host;
  }
}

// A kubelet probes (and Prometheus scrapes) the pod IP with "Host: <podIP>:<port>": an IP
// literal equal to the address the connection arrived on names this server.
TEST(AdminAccessTest, TheAddressTheConnectionArrivedOnIsThisServer) {
  EXPECT_TRUE(admin_host_allowed("10.1.2.3:9901", "10.1.2.3", kWildcardNoToken));
  EXPECT_TRUE(admin_host_allowed("10.1.2.3:9901", "::ffff:10.1.2.3", kWildcardNoToken));
  EXPECT_TRUE(admin_host_allowed("[fd00::5]:9901", "fd00::5", kWildcardNoToken));
  EXPECT_FALSE(admin_host_allowed("10.1.2.4:9901", "10.1.2.3", kWildcardNoToken));
  // A name resolving to that address is what DNS rebinding sends: refused.
  EXPECT_FALSE(admin_host_allowed("rebind.evil.example:9901", "10.1.2.3", kWildcardNoToken));
  // The wildcard itself names nothing.
  EXPECT_FALSE(admin_host_allowed("0.0.0.0:9901", "10.1.2.3", kWildcardNoToken));
}

TEST(AdminAccessTest, ListenHostAndAllowedHostsAreAccepted) {
  AdminAccessPolicy named{"", "admin.local", {}};
  EXPECT_TRUE(admin_host_allowed("Admin.Local:9901", "10.0.0.1", named));
  EXPECT_TRUE(admin_host_allowed("mcptap.internal", "10.0.0.1", kWildcardWithToken));
  EXPECT_TRUE(admin_host_allowed("mcptap.internal:1234", "10.0.0.1", kWildcardWithToken));
  EXPECT_TRUE(admin_host_allowed("ops:9901", "10.0.0.1", kWildcardWithToken));
  EXPECT_FALSE(admin_host_allowed("ops:9902", "10.0.0.1", kWildcardWithToken));
  EXPECT_FALSE(admin_host_allowed("ops", "10.0.0.1", kWildcardWithToken));
}

// What the security review sent: a text/plain POST from a web page with a foreign Host and
// an Origin. Each of the three is enough to refuse it.
TEST(AdminAccessTest, CsrfShapedChangesAreRefused) {
  HttpHeaders evil = {{"Host", "evil.example:9901"},
                      {"Origin", "https://evil.example"},
                      {"Content-Type", "text/plain"}};
  auto r = request("POST", "/routes/r1/capture", evil);
  std::optional<AdminRefusal> refusal =
      check_admin_access(r, AdminEndpointKind::Change, kLoopbackNoToken);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->status, 403);
  EXPECT_EQ(refusal->reason, "host");
  r = request("POST", "/routes/r1/capture",
              {{"Host", "127.0.0.1:9901"},
               {"Origin", "https://evil.example"},
               {"Content-Type", "application/json"}});
  refusal = check_admin_access(r, AdminEndpointKind::Change, kLoopbackNoToken);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->status, 403);
  EXPECT_EQ(refusal->reason, "origin");
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded",
                           "multipart/form-data; boundary=x", "application/jsonp", ""}) {
    r = request("POST", "/routes/r1/capture", {{"Host", "localhost:9901"}, {"Content-Type", type}});
    refusal = check_admin_access(r, AdminEndpointKind::Change, kLoopbackNoToken);
    ASSERT_TRUE(refusal) << type;
    EXPECT_EQ(refusal->status, 415) << type;
    EXPECT_EQ(refusal->reason, "content_type");
  }
  for (const char* type :
       {"application/json", "Application/JSON; charset=utf-8", " application/json "}) {
    r = request("POST", "/routes/r1/capture", {{"Host", "localhost:9901"}, {"Content-Type", type}});
    EXPECT_EQ(status_of(r, AdminEndpointKind::Change, kLoopbackNoToken), 0) << type;
  }
}

TEST(AdminAccessTest, ChangesNeedTheTokenWhenOneIsConfigured) {
  HttpHeaders json = {{"Host", "127.0.0.1:9901"}, {"Content-Type", "application/json"}};
  auto r = request("POST", "/routes/r1/capture", json);
  EXPECT_EQ(status_of(r, AdminEndpointKind::Change, kWildcardWithToken), 401);
  r.headers.emplace_back("Authorization", "Bearer wrong");
  EXPECT_EQ(status_of(r, AdminEndpointKind::Change, kWildcardWithToken), 401);
  r.headers.back().second = "Bearer s3cret";
  EXPECT_EQ(status_of(r, AdminEndpointKind::Change, kWildcardWithToken), 0);
  // The token is checked before the media type: a refusal does not say what else is wrong.
  auto plain = request("POST", "/routes/r1/capture",
                       {{"Host", "127.0.0.1"}, {"Content-Type", "text/plain"}});
  EXPECT_EQ(status_of(plain, AdminEndpointKind::Change, kWildcardWithToken), 401);
}

TEST(AdminAccessTest, CapturedContentNeedsTheTokenOrALoopbackListener) {
  auto tail = request("GET", "/tail", {{"Host", "127.0.0.1:9901"}});
  EXPECT_EQ(status_of(tail, AdminEndpointKind::CapturedContent, kWildcardWithToken), 401);
  tail.headers.emplace_back("Authorization", "Bearer s3cret");
  EXPECT_EQ(status_of(tail, AdminEndpointKind::CapturedContent, kWildcardWithToken), 0);

  auto open_tail = request("GET", "/tail", {{"Host", "127.0.0.1:9901"}});
  EXPECT_EQ(status_of(open_tail, AdminEndpointKind::CapturedContent, kLoopbackNoToken), 0);
  EXPECT_EQ(status_of(open_tail, AdminEndpointKind::CapturedContent,
                      AdminAccessPolicy{"", "localhost", {}}),
            0);
  std::optional<AdminRefusal> refusal =
      check_admin_access(open_tail, AdminEndpointKind::CapturedContent, kWildcardNoToken);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->status, 403);
  EXPECT_EQ(refusal->reason, "no_token");
  EXPECT_NE(refusal->message.find("admin.token_env"), std::string::npos);
  EXPECT_NE(refusal->message.find("MCPTAP_ADMIN_TOKEN"), std::string::npos);
  auto with_origin = request("GET", "/tail", {{"Host", "localhost"}, {"Origin", "null"}});
  EXPECT_EQ(status_of(with_origin, AdminEndpointKind::CapturedContent, kLoopbackNoToken), 403);
}

TEST(AdminAccessTest, ProbesAreAlwaysAnsweredAndOpenEndpointsNeedNoToken) {
  auto probe =
      request("GET", "/healthz", {{"Host", "evil.example"}, {"Origin", "https://evil.example"}});
  EXPECT_EQ(status_of(probe, AdminEndpointKind::Probe, kWildcardWithToken), 0);
  auto kubelet = request("GET", "/metrics", {{"Host", "10.4.0.7:9901"}}, "10.4.0.7");
  EXPECT_EQ(status_of(kubelet, AdminEndpointKind::Open, kWildcardWithToken), 0);
  auto no_host = request("GET", "/routes", {});  // HTTP/1.0 tools
  EXPECT_EQ(status_of(no_host, AdminEndpointKind::Open, kWildcardWithToken), 0);
  auto rebinding = request("GET", "/routes", {{"Host", "rebind.evil.example:9901"}});
  EXPECT_EQ(status_of(rebinding, AdminEndpointKind::Open, kLoopbackNoToken), 403);
}

TEST(AdminAccessTest, LoopbackNames) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.255.0.1"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("[::1]"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
  EXPECT_FALSE(is_loopback_host("localhost.example"));
}

}  // namespace
}  // namespace mcptap::proxy

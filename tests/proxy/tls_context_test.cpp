// TlsServerContext / TlsClientContext / load_route_tls: each file refused with one line that
// names the route, the key and the path (never the key's bytes), warnings for what only
// deserves one, and the client session cache's bound.
#include "proxy/tls_context.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "tests/proxy/tls_test_certificates.h"
#include "tests/support/temp_dir.h"

namespace mcptap::proxy {
namespace {

using test_support::make_test_ca;
using test_support::make_test_leaf;
using test_support::TestCertificate;
using test_support::write_test_certificate;
using test_support::write_test_file;

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = make_test_ca("mcptap test CA");
    write_test_certificate(dir_.file("ca"), ca_);
    leaf_ = make_test_leaf(ca_, "localhost", "DNS:localhost", -3600, 30 * 86400);
    write_test_certificate(dir_.file("leaf"), leaf_);
    listen_.cert_file = dir_.file("leaf.crt");
    listen_.key_file = dir_.file("leaf.key");
    key_pem_ = private_key_pem(leaf_.key.get());
  }

  // The load's error line, checked to be one line without any of the key's base64.
  std::string refusal(const ListenTls& config) {
    auto loaded = TlsServerContext::load("gates", config);
    EXPECT_FALSE(loaded.ok());
    if (loaded.ok()) return {};
    const std::string& message = loaded.error().message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    expect_no_key_bytes(message);
    return message;
  }
  void expect_no_key_bytes(const std::string& message) {
    size_t body = key_pem_.find('\n') + 1;
    EXPECT_EQ(message.find(key_pem_.substr(body, 16)), std::string::npos) << message;
    EXPECT_EQ(message.find("PRIVATE KEY"), std::string::npos) << message;
  }

  test_support::TempDir dir_{"mcptap-tls"};
  TestCertificate ca_;
  TestCertificate leaf_;
  ListenTls listen_;
  std::string key_pem_;
};

TEST_F(TlsContextTest, LoadsATerminationContext) {
  auto loaded = TlsServerContext::load("gates", listen_);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  std::shared_ptr<TlsServerContext> context = *loaded;
  EXPECT_NE(context->ctx(), nullptr);
  EXPECT_EQ(context->minter(), nullptr);
  EXPECT_EQ(context->description()["side"], "client");
  EXPECT_EQ(context->description()["subject"], "CN=localhost");
  EXPECT_EQ(context->description()["issuer"], "CN=mcptap test CA");
  EXPECT_TRUE(context->warnings().empty());
  SSL_CTX* ctx = context->ctx();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
  EXPECT_NE(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION, 0u);
  EXPECT_NE(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS, 0u);
  EXPECT_EQ(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);

  ListenTls strict = listen_;
  strict.min_version = TlsVersion::V1_3;
  strict.client_ca_file = dir_.file("ca.crt");
  auto mtls = TlsServerContext::load("gates", strict);
  ASSERT_TRUE(mtls.ok()) << mtls.error().message;
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*mtls)->ctx()), TLS1_3_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode((*mtls)->ctx()),
            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
}

TEST_F(TlsContextTest, RefusesAKeyReadableByOthers) {
  // Owned by someone other than root (as root, the test hands the file to nobody).
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(listen_.key_file.c_str(), 65534, 65534), 0);
  }
  for (mode_t mode : {0644, 0640, 0604, 0440}) {
    ASSERT_EQ(::chmod(listen_.key_file.c_str(), mode), 0);
    char expected_mode[8];
    std::snprintf(expected_mode, sizeof expected_mode, "%04o", mode);
    EXPECT_EQ(refusal(listen_), "route gates: listen_tls.key_file " + listen_.key_file +
                                    " is readable by group or others (mode " + expected_mode +
                                    "); chmod 600 it");
  }
  ASSERT_EQ(::chmod(listen_.key_file.c_str(), 0400), 0);
  EXPECT_TRUE(TlsServerContext::load("gates", listen_).ok());
}

// As PostgreSQL allows: a root-owned key its group may read, which is how a Kubernetes
// Secret with a pod fsGroup is mounted. Others, or a group that may write, still refused.
TEST_F(TlsContextTest, AcceptsARootOwnedKeyItsGroupMayRead) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the key to root";
  ASSERT_EQ(::chown(listen_.key_file.c_str(), 0, 65534), 0);
  for (mode_t mode : {0640, 0440}) {
    ASSERT_EQ(::chmod(listen_.key_file.c_str(), mode), 0);
    auto loaded = TlsServerContext::load("gates", listen_);
    EXPECT_TRUE(loaded.ok()) << std::oct << mode << ": " << loaded.error().message;
  }
  for (mode_t mode : {0644, 0660, 0604}) {
    ASSERT_EQ(::chmod(listen_.key_file.c_str(), mode), 0);
    EXPECT_NE(refusal(listen_).find("is readable by group or others"), std::string::npos)
        << std::oct << mode;
  }
}

TEST_F(TlsContextTest, RefusesAKeyThatIsNotTheCertificates) {
  write_test_certificate(dir_.file("other"), make_test_leaf(ca_, "other", "DNS:other"));
  listen_.key_file = dir_.file("other.key");
  EXPECT_EQ(refusal(listen_), "route gates: listen_tls.key_file " + listen_.key_file +
                                  " does not match the certificate in listen_tls.cert_file " +
                                  listen_.cert_file);
}

TEST_F(TlsContextTest, RefusesAnEncryptedKey) {
  write_test_file(listen_.key_file, test_support::encrypted_key_pem(leaf_.key.get()), 0600);
  std::string message = refusal(listen_);
  EXPECT_EQ(
      message.rfind("route gates: listen_tls.key_file " + listen_.key_file + " is encrypted", 0),
      0u)
      << message;
}

TEST_F(TlsContextTest, RefusesMissingAndUnusableFiles) {
  ListenTls missing = listen_;
  missing.cert_file = dir_.file("absent.crt");
  EXPECT_EQ(refusal(missing), "route gates: listen_tls.cert_file " + missing.cert_file +
                                  ": cannot open (No such file or directory)");
  missing = listen_;
  missing.key_file = dir_.file("absent.key");
  EXPECT_EQ(refusal(missing), "route gates: listen_tls.key_file " + missing.key_file +
                                  ": cannot open (No such file or directory)");
  ListenTls swapped = listen_;
  swapped.key_file = listen_.cert_file;  // 0644, so refused for its mode first
  ASSERT_EQ(::chmod(swapped.key_file.c_str(), 0600), 0);
  EXPECT_EQ(refusal(swapped),
            "route gates: listen_tls.key_file " + swapped.key_file + ": holds no PEM private key");
  ListenTls directory = listen_;
  directory.cert_file = dir_.path();
  EXPECT_EQ(refusal(directory),
            "route gates: listen_tls.cert_file " + dir_.path() + ": not a regular file");
  ListenTls not_pem = listen_;
  write_test_file(dir_.file("junk.crt"), "not a certificate\n", 0644);
  not_pem.cert_file = dir_.file("junk.crt");
  EXPECT_EQ(refusal(not_pem), "route gates: listen_tls.cert_file " + not_pem.cert_file +
                                  ": holds no PEM certificate");
}

TEST_F(TlsContextTest, RefusesAnExpiredCertificateAndWarnsOfOneExpiringSoon) {
  TestCertificate expired = make_test_leaf(ca_, "localhost", "DNS:localhost", -3 * 86400, -86400);
  write_test_certificate(dir_.file("expired"), expired);
  ListenTls config{dir_.file("expired.crt"), dir_.file("expired.key")};
  key_pem_ = private_key_pem(expired.key.get());
  std::string message = refusal(config);
  EXPECT_EQ(message.rfind("route gates: listen_tls.cert_file " + config.cert_file +
                              ": the certificate expired on 20",
                          0),
            0u)
      << message;

  TestCertificate soon = make_test_leaf(ca_, "localhost", "DNS:localhost", -86400, 3 * 86400);
  write_test_certificate(dir_.file("soon"), soon);
  auto loaded = TlsServerContext::load("gates", {dir_.file("soon.crt"), dir_.file("soon.key")});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  ASSERT_EQ((*loaded)->warnings().size(), 1u);
  EXPECT_NE((*loaded)->warnings()[0].find("listen_tls.cert_file " + dir_.file("soon.crt") +
                                          ": the certificate expires on "),
            std::string::npos)
      << (*loaded)->warnings()[0];
}

TEST_F(TlsContextTest, InterceptionNeedsARealCa) {
  ListenTls intercept;
  intercept.intercept = InterceptCa{dir_.file("ca.crt"), dir_.file("ca.key")};
  auto loaded = TlsServerContext::load("gates", intercept);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_NE((*loaded)->minter(), nullptr);
  EXPECT_EQ((*loaded)->description()["intercept"], true);
  EXPECT_EQ((*loaded)->description()["subject"], "CN=mcptap test CA");

  intercept.intercept = InterceptCa{dir_.file("leaf.crt"), dir_.file("leaf.key")};
  std::string message = refusal(intercept);
  EXPECT_EQ(message, "route gates: listen_tls.intercept.ca_cert_file " + dir_.file("leaf.crt") +
                         " is not a CA certificate (it needs basicConstraints CA:TRUE); mcptap "
                         "ca init makes one");

  ASSERT_EQ(::chmod(dir_.file("ca.key").c_str(), 0644), 0);
  intercept.intercept = InterceptCa{dir_.file("ca.crt"), dir_.file("ca.key")};
  key_pem_ = private_key_pem(ca_.key.get());
  EXPECT_EQ(refusal(intercept), "route gates: listen_tls.intercept.ca_key_file " +
                                    dir_.file("ca.key") +
                                    " is readable by group or others (mode 0644); chmod 600 it");
}

TEST_F(TlsContextTest, ClientContextChecksItsFilesAndWarnsWithoutVerification) {
  UpstreamTls upstream;
  upstream.ca_file = dir_.file("ca.crt");
  auto loaded = TlsClientContext::load("gates", upstream);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(SSL_CTX_get_verify_mode((*loaded)->ctx()), SSL_VERIFY_PEER);
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*loaded)->ctx()), TLS1_2_VERSION);
  EXPECT_EQ((*loaded)->description()["ca"], dir_.file("ca.crt"));
  EXPECT_TRUE((*loaded)->warnings().empty());

  UpstreamTls system;
  system.verify = false;
  auto unverified = TlsClientContext::load("gates", system);
  ASSERT_TRUE(unverified.ok()) << unverified.error().message;
  EXPECT_EQ((*unverified)->description()["ca"], "system");
  EXPECT_EQ(SSL_CTX_get_verify_mode((*unverified)->ctx()), SSL_VERIFY_NONE);
  ASSERT_EQ((*unverified)->warnings().size(), 1u);
  EXPECT_NE((*unverified)->warnings()[0].find("upstream_tls.verify is false"), std::string::npos);

  UpstreamTls client_certificate = upstream;
  client_certificate.client_cert_file = dir_.file("leaf.crt");
  client_certificate.client_key_file = dir_.file("leaf.key");
  ASSERT_TRUE(TlsClientContext::load("gates", client_certificate).ok());
  ASSERT_EQ(::chmod(dir_.file("leaf.key").c_str(), 0660), 0);
  auto refused = TlsClientContext::load("gates", client_certificate);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "route gates: upstream_tls.client_key_file " + dir_.file("leaf.key") +
                " is readable by group or others (mode 0660); chmod 600 it");
  expect_no_key_bytes(refused.error().message);

  UpstreamTls absent_ca;
  absent_ca.ca_file = dir_.file("nope.crt");
  auto no_ca = TlsClientContext::load("gates", absent_ca);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_EQ(no_ca.error().message, "route gates: upstream_tls.ca_file " + absent_ca.ca_file +
                                       ": cannot open (No such file or directory)");
}

// A resumable session with a given id, as a handshake would leave one.
UniqueSslSession session_with_id(unsigned char id) {
  UniqueSslSession session(SSL_SESSION_new());
  unsigned char bytes[32] = {id};
  SSL_SESSION_set1_id(session.get(), bytes, sizeof bytes);
  SSL_SESSION_set_protocol_version(session.get(), TLS1_2_VERSION);
  return session;
}

TEST_F(TlsContextTest, ClientSessionCacheKeepsTheLatest64TargetsAndHandsEachOutOnce) {
  auto context = *TlsClientContext::load("gates", UpstreamTls{});
  for (int target = 0; target < 65; ++target) {
    context->keep_session("target" + std::to_string(target), session_with_id(target));
  }
  EXPECT_EQ(context->take_session("target0"), nullptr);  // the oldest went
  UniqueSslSession latest = context->take_session("target64");
  ASSERT_NE(latest, nullptr);
  unsigned length = 0;
  EXPECT_EQ(SSL_SESSION_get_id(latest.get(), &length)[0], 64);
  EXPECT_EQ(context->take_session("target64"), nullptr);  // taken out
  EXPECT_NE(context->take_session("target1"), nullptr);
}

// Several tickets per target, newest first, so a burst of connections each resumes; the
// oldest beyond 32 go.
TEST_F(TlsContextTest, ClientSessionCacheKeepsThirtyTwoSessionsPerTargetNewestFirst) {
  auto context = *TlsClientContext::load("gates", UpstreamTls{});
  for (int id = 1; id <= 40; ++id) context->keep_session("a", session_with_id(id));
  unsigned length = 0;
  for (int id = 40; id > 8; --id) {
    UniqueSslSession session = context->take_session("a");
    ASSERT_NE(session, nullptr) << id;
    EXPECT_EQ(SSL_SESSION_get_id(session.get(), &length)[0], id);
  }
  EXPECT_EQ(context->take_session("a"), nullptr);
}

TEST_F(TlsContextTest, RouteTlsIsNullWithoutTlsAndHasEachSideConfigured) {
  RouteConfig route;
  route.name = "gates";
  auto none = load_route_tls(route);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);

  route.listen_tls = listen_;
  auto listen_only = load_route_tls(route);
  ASSERT_TRUE(listen_only.ok()) << listen_only.error().message;
  EXPECT_NE((*listen_only)->listen, nullptr);
  EXPECT_EQ((*listen_only)->upstream, nullptr);

  route.upstream_tls = UpstreamTls{};
  route.upstream_tls->ca_file = dir_.file("ca.crt");
  auto both = load_route_tls(route);
  ASSERT_TRUE(both.ok()) << both.error().message;
  EXPECT_NE((*both)->listen, nullptr);
  EXPECT_NE((*both)->upstream, nullptr);

  // Interception always originates TLS, with the system store when nothing is configured.
  route.listen_tls = ListenTls{};
  route.listen_tls->intercept = InterceptCa{dir_.file("ca.crt"), dir_.file("ca.key")};
  route.upstream_tls.reset();
  auto intercept = load_route_tls(route);
  ASSERT_TRUE(intercept.ok()) << intercept.error().message;
  ASSERT_NE((*intercept)->upstream, nullptr);
  EXPECT_EQ((*intercept)->upstream->description()["ca"], "system");

  route.listen_tls = listen_;
  route.listen_tls->key_file = dir_.file("absent.key");
  auto refused = load_route_tls(route);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("route gates: listen_tls.key_file"), std::string::npos);
}

}  // namespace
}  // namespace mcptap::proxy

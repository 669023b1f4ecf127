// TlsAdapter against real OpenSSL peers through memory: handshakes with every flight split at
// every byte, application data both ways, KeyUpdate, close_notify, resumption, ALPN,
// interception, each failure's reason, and what an idle connection keeps in memory.
#include "proxy/tls_adapter.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <openssl/err.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "tests/proxy/tls_test_certificates.h"
#include "tests/support/temp_dir.h"

namespace mcptap::proxy {
namespace {

using State = TlsAdapter::State;
using test_support::make_test_ca;
using test_support::make_test_leaf;
using test_support::TestCertificate;
using test_support::write_test_certificate;

// One side's socket, as the adapter sees it: what it decrypted and what it wants sent.
class Endpoint : public TlsAdapter::Sink {
 public:
  explicit Endpoint(BufferPool& pool) : pool_(pool) {}
  bool on_plaintext(PooledBuffer* buffer, size_t length) override {
    EXPECT_EQ(buffer->length, length);
    plaintext.append(buffer->data(), length);
    pool_.release(buffer);
    ++plaintext_buffers;
    return !stop_after_plaintext;
  }
  bool on_ciphertext(PooledBuffer* buffer, size_t length) override {
    ciphertext.append(buffer->data(), length);
    pool_.release(buffer);
    return true;
  }
  std::string take_ciphertext() { return std::exchange(ciphertext, {}); }
  void clear() {
    tls.reset();
    plaintext.clear();
    ciphertext.clear();
    plaintext_buffers = 0;
    stop_after_plaintext = false;
  }

  std::unique_ptr<TlsAdapter> tls;
  std::string plaintext;
  std::string ciphertext;
  int plaintext_buffers = 0;
  bool stop_after_plaintext = false;

 private:
  BufferPool& pool_;
};

// Which flight (0: the ClientHello) is cut, and where.
struct Split {
  int flight = -1;
  size_t at = 0;
};

// Carries records both ways until neither side has anything to send; returns the sizes of
// the flights carried.
std::vector<size_t> pump(Endpoint& client, Endpoint& server, Split split = {}) {
  std::vector<size_t> flights;
  for (bool moved = true; moved;) {
    moved = false;
    for (auto [from, to] : {std::pair{&client, &server}, std::pair{&server, &client}}) {
      std::string bytes = from->take_ciphertext();
      if (bytes.empty()) continue;
      moved = true;
      if (static_cast<int>(flights.size()) == split.flight && split.at < bytes.size()) {
        to->tls->receive(std::string_view(bytes).substr(0, split.at));
        to->tls->receive(std::string_view(bytes).substr(split.at));
      } else {
        to->tls->receive(bytes);
      }
      flights.push_back(bytes.size());
    }
  }
  return flights;
}

class TlsAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = make_test_ca("mcptap test CA");
    write_test_certificate(dir_.file("ca"), ca_);
    write_test_certificate(dir_.file("leaf"),
                           make_test_leaf(ca_, "localhost", "DNS:localhost,IP:127.0.0.1"));
    listen_.cert_file = dir_.file("leaf.crt");
    listen_.key_file = dir_.file("leaf.key");
    upstream_.ca_file = dir_.file("ca.crt");
    target_ = {"localhost", "localhost", false, "", {"http/1.1"}};
  }
  void TearDown() override { EXPECT_EQ(pool_.buffers_in_use(), 0u); }

  std::shared_ptr<TlsServerContext> server_context(const ListenTls& config) {
    auto loaded = TlsServerContext::load("gates", config);
    EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error().message);
    return loaded.ok() ? *loaded : nullptr;
  }
  std::shared_ptr<TlsClientContext> client_context(const UpstreamTls& config) {
    auto loaded = TlsClientContext::load("gates", config);
    EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error().message);
    return loaded.ok() ? *loaded : nullptr;
  }

  // A client and a server adapter, the ClientHello written.
  void start(std::shared_ptr<TlsServerContext> server_ctx,
             std::shared_ptr<TlsClientContext> client_ctx, const TlsTarget& target,
             std::string fallback_name = "127.0.0.1") {
    server_.tls =
        TlsAdapter::accept(std::move(server_ctx), std::move(fallback_name), pool_, server_);
    client_.tls = TlsAdapter::connect(std::move(client_ctx), target, pool_, client_);
    ASSERT_TRUE(server_.tls && client_.tls);
    EXPECT_EQ(server_.tls->start(), State::Handshaking);
    EXPECT_EQ(client_.tls->start(), State::Handshaking);
  }
  void reset_endpoints() {
    client_.clear();
    server_.clear();
  }
  // Application bytes both ways after the handshake.
  void expect_talks() {
    ASSERT_EQ(client_.tls->send("ping"), State::Open);
    pump(client_, server_);
    EXPECT_EQ(server_.plaintext, "ping");
    ASSERT_EQ(server_.tls->send("pong"), State::Open);
    pump(client_, server_);
    EXPECT_EQ(client_.plaintext, "pong");
  }

  test_support::TempDir dir_{"mcptap-tls"};
  BufferPool pool_{65536};
  TestCertificate ca_;
  ListenTls listen_;
  UpstreamTls upstream_;
  TlsTarget target_;
  Endpoint client_{pool_};
  Endpoint server_{pool_};
};

TEST_F(TlsAdapterTest, HandshakesAndSummarisesBothSides) {
  start(server_context(listen_), client_context(upstream_), target_);
  pump(client_, server_);
  ASSERT_EQ(client_.tls->state(), State::Open) << client_.tls->failure_detail();
  ASSERT_EQ(server_.tls->state(), State::Open) << server_.tls->failure_detail();
  expect_talks();
  capture::TlsEndpoint server = server_.tls->summary();
  EXPECT_EQ(server.version, "TLSv1.3");
  EXPECT_FALSE(server.cipher.empty());
  EXPECT_EQ(server.sni, "localhost");
  EXPECT_EQ(server_.tls->requested_server_name(), "localhost");
  EXPECT_EQ(server.alpn, "http/1.1");
  EXPECT_FALSE(server.resumed);
  capture::TlsEndpoint client = client_.tls->summary();
  EXPECT_EQ(client.version, "TLSv1.3");
  EXPECT_EQ(client.cipher, server.cipher);
  EXPECT_EQ(client.sni, "localhost");
  EXPECT_EQ(client.alpn, "http/1.1");
  EXPECT_EQ(client.peer_subject, "CN=localhost");
  EXPECT_EQ(client.peer_issuer, "CN=mcptap test CA");
  EXPECT_TRUE(client.verified);
  EXPECT_FALSE(server_.tls->minted_leaf());
}

// Every flight of the handshake cut in two at every byte, under TLS 1.3 and 1.2: the
// handshake completes and the connection carries data each time.
TEST_F(TlsAdapterTest, HandshakeSurvivesEveryFlightSplitAtEveryByte) {
  for (int max_version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    auto server_ctx = server_context(listen_);
    auto client_ctx = client_context(upstream_);
    SSL_CTX_set_max_proto_version(client_ctx->ctx(), max_version);
    start(server_ctx, client_ctx, target_);
    std::vector<size_t> flights = pump(client_, server_);
    ASSERT_EQ(client_.tls->state(), State::Open);
    ASSERT_GE(flights.size(), 3u);
    int handshakes = 0;
    for (size_t flight = 0; flight < flights.size(); ++flight) {
      for (size_t at = 1; at < flights[flight]; ++at) {
        reset_endpoints();
        start(server_ctx, client_ctx, target_);
        pump(client_, server_, Split{static_cast<int>(flight), at});
        ASSERT_EQ(client_.tls->state(), State::Open) << "flight " << flight << " cut at " << at;
        ASSERT_EQ(server_.tls->state(), State::Open) << "flight " << flight << " cut at " << at;
        expect_talks();
        ++handshakes;
      }
    }
    std::printf("version %#x: %d handshakes, flights of", max_version, handshakes);
    for (size_t size : flights) std::printf(" %zu", size);
    std::printf(" bytes\n");
    EXPECT_GT(handshakes, 500) << max_version;
    reset_endpoints();
  }
}

TEST_F(TlsAdapterTest, ApplicationRecordSplitAtEveryByte) {
  start(server_context(listen_), client_context(upstream_), target_);
  pump(client_, server_);
  const std::string message = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}\n";
  ASSERT_EQ(client_.tls->send(message), State::Open);
  std::string record = client_.take_ciphertext();
  ASSERT_GT(record.size(), message.size());
  for (size_t at = 1; at < record.size(); ++at) {
    // The same record again, as if sent anew: a fresh pair per cut keeps the sequence right.
    reset_endpoints();
    start(server_context(listen_), client_context(upstream_), target_);
    pump(client_, server_);
    client_.tls->send(message);
    std::string bytes = client_.take_ciphertext();
    ASSERT_EQ(server_.tls->receive(std::string_view(bytes).substr(0, at)), State::Open);
    EXPECT_TRUE(server_.plaintext.empty()) << at;
    ASSERT_EQ(server_.tls->receive(std::string_view(bytes).substr(at)), State::Open);
    EXPECT_EQ(server_.plaintext, message) << at;
  }
}

TEST_F(TlsAdapterTest, CarriesLargeTransfersBothWaysInFullBuffers) {
  start(server_context(listen_), client_context(upstream_), target_);
  pump(client_, server_);
  std::string upload(300000, '\0');
  std::mt19937 random(7);
  for (char& c : upload) c = static_cast<char>(random());
  std::string download = upload.substr(1000) + "end";
  ASSERT_EQ(client_.tls->send(upload), State::Open);
  ASSERT_EQ(server_.tls->send(download), State::Open);
  pump(client_, server_);
  EXPECT_EQ(server_.plaintext, upload);
  EXPECT_EQ(client_.plaintext, download);
  // 300000 bytes arrive in one receive: 64 KB buffers filled across 16 KB records.
  EXPECT_EQ(server_.plaintext_buffers, 5);
}

TEST_F(TlsAdapterTest, StopsDeliveringWhenTheSinkSaysSo) {
  start(server_context(listen_), client_context(upstream_), target_);
  pump(client_, server_);
  server_.stop_after_plaintext = true;
  ASSERT_EQ(client_.tls->send(std::string(200000, 'x')), State::Open);
  server_.tls->receive(client_.take_ciphertext());
  EXPECT_EQ(server_.plaintext_buffers, 1);
  EXPECT_EQ(server_.plaintext.size(), pool_.buffer_bytes());
  // Nothing more is delivered, and nothing is left pinned in the pool.
  server_.tls->receive("more");
  EXPECT_EQ(server_.plaintext_buffers, 1);
}

// A plain OpenSSL client over memory BIOs, for what the adapter cannot be asked to do.
class RawClient {
 public:
  RawClient(const std::string& ca_file, int max_version = 0) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_load_verify_locations(ctx_.get(), ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    if (max_version != 0) {
      SSL_CTX_set_security_level(ctx_.get(), 0);
      SSL_CTX_set_cipher_list(ctx_.get(), "DEFAULT:@SECLEVEL=0");
      SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_VERSION);
      SSL_CTX_set_max_proto_version(ctx_.get(), max_version);
    }
    ssl_.reset(SSL_new(ctx_.get()));
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_.get(), in_, out_);
    SSL_set_tlsext_host_name(ssl_.get(), "localhost");
    SSL_set_connect_state(ssl_.get());
  }
  SSL* ssl() { return ssl_.get(); }
  void give(const std::string& bytes) {
    BIO_write(in_, bytes.data(), static_cast<int>(bytes.size()));
  }
  std::string take() {
    std::string bytes;
    char chunk[4096];
    int n;
    while ((n = BIO_read(out_, chunk, sizeof chunk)) > 0)
      bytes.append(chunk, static_cast<size_t>(n));
    return bytes;
  }
  std::string read() {
    std::string text;
    char chunk[4096];
    size_t n = 0;
    while (SSL_read_ex(ssl_.get(), chunk, sizeof chunk, &n) == 1) text.append(chunk, n);
    ERR_clear_error();
    return text;
  }
  // Drives the handshake against `server` until it is done or stuck.
  bool handshake_with(Endpoint& server) {
    for (int round = 0; round < 10; ++round) {
      int result = SSL_do_handshake(ssl_.get());
      // Before the adapter runs: it clears the thread's error queue, which SSL_get_error reads.
      int error = result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), result);
      server.tls->receive(take());
      give(server.take_ciphertext());
      if (result == 1) return true;
      if (error != SSL_ERROR_WANT_READ) return false;
    }
    return false;
  }

 private:
  UniqueSslCtx ctx_;
  UniqueSsl ssl_;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
};

// The peer's KeyUpdate (update requested): the adapter takes the new receiving keys at
// once, and answers with its own KeyUpdate ahead of its next record, as RFC 8446 4.6.3 asks
// (OpenSSL 3.0 sends the answer with the next write, not from inside the read).
TEST_F(TlsAdapterTest, KeyUpdateReachesThePeerAndIsAnswered) {
  server_.tls = TlsAdapter::accept(server_context(listen_), "", pool_, server_);
  RawClient raw(dir_.file("ca.crt"));
  ASSERT_TRUE(raw.handshake_with(server_));
  ASSERT_EQ(server_.tls->state(), State::Open);
  raw.read();  // the ticket
  ASSERT_EQ(server_.tls->send("plain"), State::Open);
  std::string first = server_.take_ciphertext();
  size_t plain_record = first.size();
  raw.give(first);
  ASSERT_EQ(SSL_key_update(raw.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  ASSERT_EQ(SSL_write(raw.ssl(), "after", 5), 5);
  ASSERT_EQ(server_.tls->receive(raw.take()), State::Open);
  EXPECT_EQ(server_.plaintext, "after");
  raw.give(server_.take_ciphertext());
  ASSERT_EQ(server_.tls->send("reply"), State::Open);
  std::string answer = server_.take_ciphertext();
  EXPECT_GT(answer.size(), plain_record) << "a KeyUpdate record goes ahead of the data";
  raw.give(answer);
  EXPECT_EQ(raw.read(), "plainreply");  // readable only if the client took the new keys
  ASSERT_EQ(server_.tls->send("later"), State::Open);
  std::string later = server_.take_ciphertext();
  EXPECT_EQ(later.size(), plain_record);
  raw.give(later);
  EXPECT_EQ(raw.read(), "later");
  // The client updates its own keys again, unprompted: still readable.
  ASSERT_EQ(SSL_key_update(raw.ssl(), SSL_KEY_UPDATE_NOT_REQUESTED), 1);
  ASSERT_EQ(SSL_write(raw.ssl(), "again", 5), 5);
  ASSERT_EQ(server_.tls->receive(raw.take()), State::Open);
  EXPECT_EQ(server_.plaintext, "afteragain");
}

TEST_F(TlsAdapterTest, CloseNotifyEndsOneDirectionCleanly) {
  start(server_context(listen_), client_context(upstream_), target_);
  pump(client_, server_);
  EXPECT_FALSE(server_.tls->peer_sent_close_notify());
  client_.tls->send("last words");
  client_.tls->send_close_notify();
  client_.tls->send_close_notify();  // idempotent
  server_.tls->receive(client_.take_ciphertext());
  EXPECT_EQ(server_.plaintext, "last words");
  EXPECT_EQ(server_.tls->state(), State::PeerClosed);
  EXPECT_TRUE(server_.tls->peer_sent_close_notify());
  // The other direction stays open until the server ends it too.
  EXPECT_EQ(server_.tls->send("answer"), State::PeerClosed);
  server_.tls->send_close_notify();
  client_.tls->receive(server_.take_ciphertext());
  EXPECT_EQ(client_.plaintext, "answer");
  EXPECT_EQ(client_.tls->state(), State::PeerClosed);
  EXPECT_TRUE(client_.tls->peer_sent_close_notify());
}

TEST_F(TlsAdapterTest, ResumesTheNextConnectionToTheSameTarget) {
  for (int max_version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    auto server_ctx = server_context(listen_);
    auto client_ctx = client_context(upstream_);
    SSL_CTX_set_max_proto_version(client_ctx->ctx(), max_version);
    TlsTarget target = target_;
    target.cache_key = "localhost:8443|localhost";
    for (int connection = 0; connection < 3; ++connection) {
      reset_endpoints();
      start(server_ctx, client_ctx, target);
      pump(client_, server_);
      ASSERT_EQ(client_.tls->state(), State::Open);
      expect_talks();
      bool expect_resumed = connection > 0;
      EXPECT_EQ(client_.tls->summary().resumed, expect_resumed) << max_version << " " << connection;
      EXPECT_EQ(server_.tls->summary().resumed, expect_resumed) << max_version << " " << connection;
      EXPECT_TRUE(client_.tls->summary().verified);
    }
    // Another target never gets this one's session.
    reset_endpoints();
    TlsTarget other = target;
    other.cache_key = "127.0.0.1:8443|";
    start(server_ctx, client_ctx, other);
    pump(client_, server_);
    EXPECT_FALSE(client_.tls->summary().resumed);
    reset_endpoints();
  }
}

TEST_F(TlsAdapterTest, AnH2OnlyOfferGetsNoAlpn) {
  TlsTarget target = target_;
  target.alpn = {"h2"};
  start(server_context(listen_), client_context(upstream_), target);
  pump(client_, server_);
  ASSERT_EQ(server_.tls->state(), State::Open);
  EXPECT_EQ(server_.tls->summary().alpn, "");
  EXPECT_EQ(client_.tls->summary().alpn, "");
  reset_endpoints();
  target.alpn = {"h2", "http/1.1"};
  start(server_context(listen_), client_context(upstream_), target);
  pump(client_, server_);
  EXPECT_EQ(server_.tls->summary().alpn, "http/1.1");
}

TEST_F(TlsAdapterTest, VerifiesAnIpAddress) {
  TlsTarget target{"", "127.0.0.1", true, "", {}};
  start(server_context(listen_), client_context(upstream_), target);
  pump(client_, server_);
  ASSERT_EQ(client_.tls->state(), State::Open) << client_.tls->failure_detail();
  EXPECT_EQ(server_.tls->requested_server_name(), "");  // no SNI for an IP
  EXPECT_TRUE(client_.tls->summary().verified);
  reset_endpoints();
  target.verify_name = "127.0.0.2";
  start(server_context(listen_), client_context(upstream_), target);
  pump(client_, server_);
  EXPECT_EQ(client_.tls->state(), State::Failed);
  EXPECT_EQ(client_.tls->failure(), TlsFailure::NameMismatch);
}

// The client's handshake ends Failed with `client_reason`, the server's with `server_reason`.
void expect_failures(Endpoint& client, Endpoint& server, TlsFailure client_reason,
                     TlsFailure server_reason) {
  pump(client, server);
  EXPECT_EQ(client.tls->state(), State::Failed);
  EXPECT_EQ(to_string(client.tls->failure()), to_string(client_reason))
      << client.tls->failure_detail();
  EXPECT_EQ(server.tls->state(), State::Failed);
  EXPECT_EQ(to_string(server.tls->failure()), to_string(server_reason))
      << server.tls->failure_detail();
  EXPECT_FALSE(client.tls->failure_detail().empty());
}

TEST_F(TlsAdapterTest, AnUnknownCaIsRefusedAndThePeerSaysWhy) {
  TestCertificate other_ca = make_test_ca("other CA");
  write_test_certificate(dir_.file("other-ca"), other_ca);
  UpstreamTls upstream = upstream_;
  upstream.ca_file = dir_.file("other-ca.crt");
  start(server_context(listen_), client_context(upstream), target_);
  expect_failures(client_, server_, TlsFailure::UnknownCa, TlsFailure::PeerRejectedCertificate);
}

TEST_F(TlsAdapterTest, ANameMismatchIsRefused) {
  TlsTarget target = target_;
  target.sni = target.verify_name = "wrong.example";
  start(server_context(listen_), client_context(upstream_), target);
  expect_failures(client_, server_, TlsFailure::NameMismatch, TlsFailure::PeerRejectedCertificate);
}

// The server context refuses an expired certificate at load, so the test swaps one in
// afterwards, as a certificate that expired while mcptap ran would be.
TEST_F(TlsAdapterTest, ExpiredAndNotYetValidCertificatesAreRefused) {
  for (auto [from, to, reason] : {std::tuple{-2 * 86400L, -86400L, TlsFailure::Expired},
                                  std::tuple{86400L, 2 * 86400L, TlsFailure::NotYetValid}}) {
    TestCertificate leaf = make_test_leaf(ca_, "localhost", "DNS:localhost", from, to);
    auto server_ctx = server_context(listen_);
    ASSERT_EQ(SSL_CTX_use_cert_and_key(server_ctx->ctx(), leaf.certificate.get(), leaf.key.get(),
                                       nullptr, 1),
              1);
    reset_endpoints();
    start(server_ctx, client_context(upstream_), target_);
    expect_failures(client_, server_, reason, TlsFailure::PeerRejectedCertificate);
  }
  reset_endpoints();
}

TEST_F(TlsAdapterTest, MutualTlsWithoutAClientCertificate) {
  ListenTls listen = listen_;
  listen.client_ca_file = dir_.file("ca.crt");
  start(server_context(listen), client_context(upstream_), target_);
  pump(client_, server_);
  EXPECT_EQ(server_.tls->state(), State::Failed);
  EXPECT_EQ(server_.tls->failure(), TlsFailure::NoClientCert) << server_.tls->failure_detail();
  // TLS 1.3: the client finished its handshake; the server's alert fails its first read.
  EXPECT_EQ(client_.tls->state(), State::Failed);
  EXPECT_EQ(client_.tls->failure(), TlsFailure::NoClientCert) << client_.tls->failure_detail();

  // With a certificate the CA signed, it passes.
  write_test_certificate(dir_.file("client"), make_test_leaf(ca_, "client one", ""));
  UpstreamTls upstream = upstream_;
  upstream.client_cert_file = dir_.file("client.crt");
  upstream.client_key_file = dir_.file("client.key");
  reset_endpoints();
  start(server_context(listen), client_context(upstream), target_);
  pump(client_, server_);
  ASSERT_EQ(server_.tls->state(), State::Open) << server_.tls->failure_detail();
  expect_talks();
}

TEST_F(TlsAdapterTest, GarbageIsAProtocolFailure) {
  std::string garbage(4096, '\0');
  std::mt19937 random(18);
  for (char& c : garbage) c = static_cast<char>(random());
  for (const std::string& bytes :
       {garbage, std::string("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), std::string(64, '\x16')}) {
    server_.tls = TlsAdapter::accept(server_context(listen_), "", pool_, server_);
    EXPECT_EQ(server_.tls->receive(bytes), State::Failed);
    EXPECT_EQ(server_.tls->failure(), TlsFailure::Protocol) << server_.tls->failure_detail();
    EXPECT_EQ(server_.tls->receive("more"), State::Failed);
    server_.take_ciphertext();
  }
}

TEST_F(TlsAdapterTest, ATls11OnlyClientIsAVersionFailure) {
  server_.tls = TlsAdapter::accept(server_context(listen_), "", pool_, server_);
  RawClient raw(dir_.file("ca.crt"), TLS1_1_VERSION);
  EXPECT_FALSE(raw.handshake_with(server_));
  EXPECT_EQ(server_.tls->state(), State::Failed);
  EXPECT_EQ(server_.tls->failure(), TlsFailure::Version) << server_.tls->failure_detail();
  ERR_clear_error();
}

TEST_F(TlsAdapterTest, InterceptionMintsALeafForTheSni) {
  ListenTls intercept;
  intercept.intercept = InterceptCa{dir_.file("ca.crt"), dir_.file("ca.key")};
  auto server_ctx = server_context(intercept);
  ASSERT_NE(server_ctx->minter(), nullptr);
  TlsTarget target{"backend.test", "backend.test", false, "", {"http/1.1"}};
  start(server_ctx, client_context(upstream_), target, "10.0.0.7");
  pump(client_, server_);
  ASSERT_EQ(client_.tls->state(), State::Open) << client_.tls->failure_detail();
  EXPECT_EQ(server_.tls->requested_server_name(), "backend.test");
  EXPECT_TRUE(server_.tls->minted_leaf());
  EXPECT_EQ(client_.tls->summary().peer_subject, "CN=backend.test");
  expect_talks();

  // The same name again: the cached leaf.
  reset_endpoints();
  start(server_ctx, client_context(upstream_), target, "10.0.0.7");
  pump(client_, server_);
  ASSERT_EQ(client_.tls->state(), State::Open);
  EXPECT_FALSE(server_.tls->minted_leaf());

  // No SNI (the client dialled an IP): the leaf is for the original destination.
  reset_endpoints();
  start(server_ctx, client_context(upstream_), TlsTarget{"", "10.0.0.7", true, "", {}}, "10.0.0.7");
  pump(client_, server_);
  ASSERT_EQ(client_.tls->state(), State::Open) << client_.tls->failure_detail();
  EXPECT_EQ(server_.tls->requested_server_name(), "");

  // A name no leaf may carry falls back too, and a client asking for it does not verify.
  reset_endpoints();
  start(server_ctx, client_context(upstream_),
        TlsTarget{"bad_name.test", "bad_name.test", false, "", {}}, "10.0.0.7");
  pump(client_, server_);
  EXPECT_EQ(server_.tls->requested_server_name(), "");
  EXPECT_EQ(client_.tls->failure(), TlsFailure::NameMismatch);
}

TEST_F(TlsAdapterTest, FailureNamesAreTheMetricLabels) {
  const char* expected[] = {"timeout",         "truncated",        "protocol",
                            "version",         "no_shared_cipher", "unknown_ca",
                            "expired",         "not_yet_valid",    "name_mismatch",
                            "bad_certificate", "no_client_cert",   "peer_rejected_certificate",
                            "peer_alert",      "internal"};
  for (size_t i = 0; i < static_cast<size_t>(TlsFailure::kCount); ++i) {
    EXPECT_EQ(to_string(static_cast<TlsFailure>(i)), expected[i]);
  }
}

// Heap bytes one idle, open adapter of each role holds: what destroying `connections` of
// them, after a handshake and one exchange each, gives back.
struct IdleBytes {
  long server = 0;
  long client = 0;
};
IdleBytes measure_idle(BufferPool& pool, std::shared_ptr<TlsServerContext> server_ctx,
                       std::shared_ptr<TlsClientContext> client_ctx, const TlsTarget& target) {
  constexpr int kConnections = 200;
  std::vector<std::unique_ptr<Endpoint>> clients, servers;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<Endpoint>(pool));
    servers.push_back(std::make_unique<Endpoint>(pool));
    servers.back()->tls = TlsAdapter::accept(server_ctx, "", pool, *servers.back());
    clients.back()->tls = TlsAdapter::connect(client_ctx, target, pool, *clients.back());
    clients.back()->tls->start();
    pump(*clients.back(), *servers.back());
    clients.back()->tls->send("request");
    servers.back()->tls->send("response");
    pump(*clients.back(), *servers.back());
    EXPECT_EQ(servers.back()->tls->state(), State::Open);
  }
  auto heap = [] { return static_cast<long>(mallinfo2().uordblks); };
  long before = heap();
  for (auto& server : servers) server->tls.reset();
  long after_servers = heap();
  for (auto& client : clients) client->tls.reset();
  long after_clients = heap();
  return {(before - after_servers) / kConnections, (after_servers - after_clients) / kConnections};
}

// SSL_MODE_RELEASE_BUFFERS keeps an idle connection far below the 64 KB target: without it
// each side would keep its 16 KB+ read and write record buffers.
TEST_F(TlsAdapterTest, AnIdleOpenAdapterStaysSmall) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "mallinfo2 does not see AddressSanitizer's heap";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "mallinfo2 does not see AddressSanitizer's heap";
#endif
#endif
  IdleBytes released =
      measure_idle(pool_, server_context(listen_), client_context(upstream_), target_);
  auto server_ctx = server_context(listen_);
  auto client_ctx = client_context(upstream_);
  SSL_CTX_clear_mode(server_ctx->ctx(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_clear_mode(client_ctx->ctx(), SSL_MODE_RELEASE_BUFFERS);
  IdleBytes kept = measure_idle(pool_, server_ctx, client_ctx, target_);
  std::printf(
      "idle open adapter: server role %ld bytes, client role %ld bytes "
      "(without SSL_MODE_RELEASE_BUFFERS: %ld and %ld)\n",
      released.server, released.client, kept.server, kept.client);
  EXPECT_LT(released.server, 32 * 1024);
  EXPECT_LT(released.client, 32 * 1024);
  EXPECT_GT(kept.server - released.server, 16 * 1024);
  EXPECT_GT(kept.client - released.client, 16 * 1024);
}

// TLS 1.3: the client's Finished and its first request often share one segment; the
// request is decrypted in the same receive() that completes the handshake.
TEST_F(TlsAdapterTest, FinishedAndTheFirstRequestInOneSegment) {
  start(server_context(listen_), client_context(upstream_), target_);
  server_.tls->receive(client_.take_ciphertext());
  client_.tls->receive(server_.take_ciphertext());
  ASSERT_EQ(client_.tls->state(), State::Open);
  ASSERT_EQ(client_.tls->send("first request"), State::Open);
  EXPECT_EQ(server_.tls->state(), State::Handshaking);
  EXPECT_EQ(server_.tls->receive(client_.take_ciphertext()), State::Open);
  EXPECT_EQ(server_.plaintext, "first request");
}

}  // namespace
}  // namespace mcptap::proxy

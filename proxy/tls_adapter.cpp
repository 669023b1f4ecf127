// TlsAdapter: one SSL over the memory BIO. Every public call sets the input, drives OpenSSL
// as far as the bytes allow, and hands the records it produced to the sink before returning.
#include "proxy/tls_adapter.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "proxy/tls_bio.h"
#include "proxy/tls_files.h"

namespace mcptap::proxy {
namespace {

constexpr std::string_view kFailureNames[] = {
    "timeout",          "truncated",       "protocol",       "version",
    "no_shared_cipher", "unknown_ca",      "expired",        "not_yet_valid",
    "name_mismatch",    "bad_certificate", "no_client_cert", "peer_rejected_certificate",
    "peer_alert",       "internal"};
static_assert(std::size(kFailureNames) == static_cast<size_t>(TlsFailure::kCount));

// What a failed certificate check of the peer means.
TlsFailure verify_failure(long result) {
  switch (result) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return TlsFailure::Expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return TlsFailure::NotYetValid;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return TlsFailure::NameMismatch;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return TlsFailure::UnknownCa;
    default:
      return TlsFailure::BadCertificate;
  }
}

// What the first queued error means. An alert the peer sent has reason
// SSL_AD_REASON_OFFSET + its code.
TlsFailure error_failure(unsigned long error) {
  if (error == 0 || ERR_GET_LIB(error) != ERR_LIB_SSL) return TlsFailure::Internal;
  int reason = ERR_GET_REASON(error);
  switch (reason) {
    case SSL_R_CALLBACK_FAILED:  // interception could not mint or install a leaf
    case ERR_R_INTERNAL_ERROR:
    case ERR_R_MALLOC_FAILURE:
      return TlsFailure::Internal;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:  // we were the client without one
      return TlsFailure::NoClientCert;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
      return TlsFailure::PeerRejectedCertificate;
    case SSL_R_NO_SHARED_CIPHER:
      return TlsFailure::NoSharedCipher;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return TlsFailure::Version;
    default:
      break;
  }
  if (reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
    return TlsFailure::PeerAlert;
  }
  // HTTP_REQUEST, WRONG_VERSION_NUMBER (bytes that are not TLS records at all),
  // PACKET_LENGTH_TOO_LONG, bad MACs, malformed messages.
  return TlsFailure::Protocol;
}

std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& protocol : protocols) {
    if (protocol.empty() || protocol.size() > 255) continue;
    wire.push_back(static_cast<char>(protocol.size()));
    wire += protocol;
  }
  return wire;
}

}  // namespace

std::string_view to_string(TlsFailure failure) {
  size_t index = static_cast<size_t>(failure);
  return index < std::size(kFailureNames) ? kFailureNames[index] : "internal";
}

struct TlsAdapter::Impl final : TlsBioEnds {
  Impl(BufferPool& buffer_pool, Sink& output) : pool(buffer_pool), sink(output) {}
  ~Impl() override {
    // SSL_free treats a session that ended without our close_notify as suspect and makes it
    // unresumable. Most connections end with a bare TCP close; only a failed one is suspect.
    if (ssl && state != State::Failed && state != State::Handshaking) {
      SSL_set_shutdown(ssl.get(), SSL_get_shutdown(ssl.get()) | SSL_SENT_SHUTDOWN);
    }
    ssl.reset();  // before the buffers its BIO writes into
    if (out != nullptr) pool.release(out);
  }

  bool server_role = false;
  std::shared_ptr<TlsServerContext> server;
  std::shared_ptr<TlsClientContext> client;
  TlsTarget target;
  BufferPool& pool;
  Sink& sink;
  UniqueSsl ssl;
  TlsConnectionData data;

  std::string_view input;       // the ciphertext of the current receive()
  PooledBuffer* out = nullptr;  // records not yet handed to the sink
  bool stopped = false;         // the sink said the session is closing
  bool close_sent = false;
  State state = State::Handshaking;
  TlsFailure failure = TlsFailure::Internal;
  std::string failure_detail;

  // ---- TlsBioEnds ----
  size_t read_input(char* into, size_t capacity) override {
    size_t n = std::min(capacity, input.size());
    if (n == 0) return 0;  // an empty view's data() may be null, which memcpy must not see
    std::memcpy(into, input.data(), n);
    input.remove_prefix(n);
    return n;
  }

  bool write_output(const char* bytes, size_t length) override {
    while (length > 0) {
      if (out == nullptr) {
        out = pool.acquire();
        if (out == nullptr) return false;
        out->length = 0;
      }
      size_t n = std::min(length, pool.buffer_bytes() - out->length);
      std::memcpy(out->data() + out->length, bytes, n);
      out->length += n;
      bytes += n;
      length -= n;
      if (out->length == pool.buffer_bytes()) flush();
    }
    return true;
  }

  // Hands the pending records to the sink (or drops them once it has stopped listening).
  void flush() {
    PooledBuffer* buffer = out;
    out = nullptr;
    if (buffer == nullptr) return;
    if (stopped || buffer->length == 0) {
      pool.release(buffer);
      return;
    }
    if (!sink.on_ciphertext(buffer, buffer->length)) stopped = true;
  }

  void fail(TlsFailure reason, std::string detail) {
    state = State::Failed;
    failure = reason;
    failure_detail = std::move(detail);
  }

  // Classifies a failed SSL call, consuming the error queue.
  void fail_from_openssl(int ssl_error) {
    unsigned long first = ERR_peek_error();
    std::string detail = drain_openssl_errors();
    long verify = SSL_get_verify_result(ssl.get());
    if (ERR_GET_LIB(first) == ERR_LIB_SSL &&
        ERR_GET_REASON(first) == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK) {
      std::string reason = X509_verify_cert_error_string(verify);
      fail(verify_failure(verify), detail.empty() ? reason : reason + "; " + detail);
      return;
    }
    if (ssl_error == SSL_ERROR_SSL) {
      fail(error_failure(first), std::move(detail));
    } else {
      fail(TlsFailure::Internal,
           detail.empty() ? "SSL error " + std::to_string(ssl_error) : std::move(detail));
    }
  }

  void handshake() {
    ERR_clear_error();
    int result = SSL_do_handshake(ssl.get());
    if (result == 1) {
      state = State::Open;
      keep_reusable_session();
      return;
    }
    int error = SSL_get_error(ssl.get(), result);
    if (error == SSL_ERROR_WANT_READ) {
      assert(input.empty());
      return;
    }
    fail_from_openssl(error);
  }

  // A TLS 1.2 session may be resumed again and again, but OpenSSL announces it only when
  // it is new: put a resumed one back for the next connection. (TLS 1.3 tickets are
  // single-use; the server's new one arrives through the context's callback.)
  void keep_reusable_session() {
    if (server_role || target.cache_key.empty() || SSL_session_reused(ssl.get()) != 1 ||
        SSL_version(ssl.get()) >= TLS1_3_VERSION) {
      return;
    }
    client->keep_session(target.cache_key, UniqueSslSession(SSL_get1_session(ssl.get())));
  }

  // Decrypts everything the input holds, filling each pooled buffer across records so a
  // run of small records costs one buffer, not one each.
  void read_all() {
    bool more = true;
    while (more && state == State::Open && !stopped) {
      PooledBuffer* buffer = pool.acquire();
      if (buffer == nullptr) {
        fail(TlsFailure::Internal, "out of memory");
        return;
      }
      size_t filled = 0;
      while (filled < pool.buffer_bytes()) {
        ERR_clear_error();
        size_t n = 0;
        int result =
            SSL_read_ex(ssl.get(), buffer->data() + filled, pool.buffer_bytes() - filled, &n);
        if (result == 1) {
          filled += n;
          continue;
        }
        more = false;
        int error = SSL_get_error(ssl.get(), result);
        if (error == SSL_ERROR_WANT_READ) {
          assert(input.empty());
        } else if (error == SSL_ERROR_ZERO_RETURN) {
          state = State::PeerClosed;
        } else {
          fail_from_openssl(error);
        }
        break;
      }
      if (filled == 0 || stopped) {
        pool.release(buffer);
        continue;
      }
      buffer->length = filled;
      if (!sink.on_plaintext(buffer, filled)) stopped = true;
    }
  }

  // Client role: SNI for names only, the name or IP the certificate must carry, ALPN, and a
  // session to resume.
  bool configure_client() {
    SSL* s = ssl.get();
    bool verifying = client->config().verify;
    ERR_clear_error();
    if (!target.sni.empty() && SSL_set_tlsext_host_name(s, target.sni.c_str()) != 1) {
      fail(TlsFailure::Internal, "cannot set the SNI: " + drain_openssl_errors());
      return false;
    }
    if (verifying && target.verify_ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), target.verify_name.c_str()) != 1) {
        fail(TlsFailure::Internal, "not an IP address to verify: " + drain_openssl_errors());
        return false;
      }
    } else if (verifying && !target.verify_name.empty()) {
      SSL_set_hostflags(s, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set1_host(s, target.verify_name.c_str()) != 1) {
        fail(TlsFailure::Internal, "cannot set the name to verify: " + drain_openssl_errors());
        return false;
      }
    }
    std::string wire = alpn_wire(target.alpn.empty() ? client->config().alpn : target.alpn);
    if (!wire.empty() && SSL_set_alpn_protos(s, reinterpret_cast<const unsigned char*>(wire.data()),
                                             static_cast<unsigned>(wire.size())) != 0) {
      fail(TlsFailure::Internal, "cannot set ALPN: " + drain_openssl_errors());
      return false;
    }
    data.cache_key = target.cache_key;
    if (!target.cache_key.empty()) {
      if (UniqueSslSession session = client->take_session(target.cache_key)) {
        SSL_set_session(s, session.get());  // takes its own reference
      }
    }
    ERR_clear_error();
    return true;
  }

  // The SSL and its BIO; false (and Failed) when the library refuses.
  bool create(SSL_CTX* ctx) {
    ERR_clear_error();
    ssl.reset(SSL_new(ctx));
    BIO* bio = ssl ? new_tls_bio(this) : nullptr;
    if (bio == nullptr) {
      fail(TlsFailure::Internal, "cannot create an SSL: " + drain_openssl_errors());
      return false;
    }
    SSL_set_bio(ssl.get(), bio, bio);  // one reference, used both ways
    SSL_set_app_data(ssl.get(), &data);
    return true;
  }
};

TlsAdapter::TlsAdapter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsAdapter::~TlsAdapter() = default;

std::unique_ptr<TlsAdapter> TlsAdapter::accept(std::shared_ptr<TlsServerContext> context,
                                               std::string fallback_name, BufferPool& pool,
                                               Sink& sink) {
  auto impl = std::make_unique<Impl>(pool, sink);
  impl->server_role = true;
  impl->server = std::move(context);
  impl->data.fallback_name = std::move(fallback_name);
  if (impl->create(impl->server->ctx())) SSL_set_accept_state(impl->ssl.get());
  return std::unique_ptr<TlsAdapter>(new TlsAdapter(std::move(impl)));
}

std::unique_ptr<TlsAdapter> TlsAdapter::connect(std::shared_ptr<TlsClientContext> context,
                                                TlsTarget target, BufferPool& pool, Sink& sink) {
  auto impl = std::make_unique<Impl>(pool, sink);
  impl->client = std::move(context);
  impl->target = std::move(target);
  if (impl->create(impl->client->ctx()) && impl->configure_client()) {
    SSL_set_connect_state(impl->ssl.get());
  }
  return std::unique_ptr<TlsAdapter>(new TlsAdapter(std::move(impl)));
}

TlsAdapter::State TlsAdapter::start() {
  Impl& s = *impl_;
  if (s.server_role || s.state != State::Handshaking || s.stopped) return s.state;
  s.input = {};
  s.handshake();  // writes the ClientHello, then wants the server's answer
  s.flush();
  return s.state;
}

TlsAdapter::State TlsAdapter::receive(std::string_view ciphertext) {
  Impl& s = *impl_;
  if (s.state == State::Failed || s.state == State::PeerClosed || s.stopped) return s.state;
  s.input = ciphertext;
  if (s.state == State::Handshaking) s.handshake();
  // Bytes after the handshake's last message may already be application data.
  if (s.state == State::Open) s.read_all();
  // Alerts, tickets and KeyUpdate answers go back to this side even when reading failed.
  s.flush();
  s.input = {};
  return s.state;
}

TlsAdapter::State TlsAdapter::send(std::string_view plaintext) {
  Impl& s = *impl_;
  // After the peer's close_notify we may still answer: a half-closed TLS stream is legal.
  if ((s.state != State::Open && s.state != State::PeerClosed) || s.stopped || s.close_sent) {
    return s.state;
  }
  while (!plaintext.empty()) {
    ERR_clear_error();
    size_t written = 0;
    int result = SSL_write_ex(s.ssl.get(), plaintext.data(), plaintext.size(), &written);
    if (result != 1) {
      // The BIO never blocks, so any WANT_* here is a fault of ours.
      int error = SSL_get_error(s.ssl.get(), result);
      s.fail_from_openssl(error);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        s.failure = TlsFailure::Internal;
      }
      break;
    }
    plaintext.remove_prefix(written);
  }
  s.flush();
  return s.state;
}

void TlsAdapter::send_close_notify() {
  Impl& s = *impl_;
  if ((s.state != State::Open && s.state != State::PeerClosed) || s.close_sent || s.stopped) {
    return;
  }
  s.close_sent = true;
  ERR_clear_error();
  SSL_shutdown(s.ssl.get());  // 0: sent, the peer's not seen yet; the Session closes anyway
  ERR_clear_error();
  s.flush();
}

TlsAdapter::State TlsAdapter::state() const {
  return impl_->state;
}
TlsFailure TlsAdapter::failure() const {
  return impl_->failure;
}
const std::string& TlsAdapter::failure_detail() const {
  return impl_->failure_detail;
}

bool TlsAdapter::peer_sent_close_notify() const {
  return impl_->ssl && (SSL_get_shutdown(impl_->ssl.get()) & SSL_RECEIVED_SHUTDOWN) != 0;
}

std::string_view TlsAdapter::requested_server_name() const {
  const Impl& s = *impl_;
  if (!s.server_role || !s.ssl) return {};
  if (s.server->minter() != nullptr) return s.data.server_name;
  const char* name = SSL_get_servername(s.ssl.get(), TLSEXT_NAMETYPE_host_name);
  return name == nullptr ? std::string_view() : std::string_view(name);
}

bool TlsAdapter::minted_leaf() const {
  return impl_->data.minted_leaf;
}

capture::TlsEndpoint TlsAdapter::summary() const {
  const Impl& s = *impl_;
  capture::TlsEndpoint endpoint;
  if (!s.ssl) return endpoint;
  SSL* ssl = s.ssl.get();
  endpoint.version = SSL_get_version(ssl);
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  if (cipher != nullptr) endpoint.cipher = SSL_CIPHER_get_name(cipher);
  endpoint.sni = s.server_role ? std::string(requested_server_name()) : s.target.sni;
  const unsigned char* alpn = nullptr;
  unsigned alpn_length = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
  if (alpn != nullptr) endpoint.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
  endpoint.resumed = SSL_session_reused(ssl) == 1;
  if (!s.server_role) {
    if (X509* peer = SSL_get0_peer_certificate(ssl)) {
      endpoint.peer_subject = name_text(X509_get_subject_name(peer));
      endpoint.peer_issuer = name_text(X509_get_issuer_name(peer));
    }
    endpoint.verified = (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0 &&
                        SSL_get_verify_result(ssl) == X509_V_OK;
  }
  return endpoint;
}

}  // namespace mcptap::proxy

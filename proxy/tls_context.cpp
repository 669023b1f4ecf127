// The SSL_CTX each side of a route starts its handshakes from, built from checked files:
// termination (our certificate), interception (leaves minted per SNI) and origination
// (trust, verification, client certificate, session cache).
#include "proxy/tls_context.h"

#include <openssl/err.h>
#include <openssl/tls1.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <deque>
#include <list>
#include <unordered_map>

#include "base/sha256.h"
#include "proxy/tls_bio.h"
#include "proxy/tls_files.h"

namespace mcptap::proxy {
namespace {

constexpr size_t kMaxCachedTargets = 64;
// Sessions kept per target: a TLS 1.3 ticket resumes one connection (RFC 8446 C.4: not
// reused), and servers hand out two per full handshake (OpenSSL's default) and one per
// resumed one, so a burst of up to this many new connections to one upstream finds a
// ticket each instead of all but one making a full handshake. A session holds the peer's
// certificate chain, a few KB.
constexpr size_t kMaxSessionsPerTarget = 32;
constexpr long kServerSessionCacheSize = 20480;

// Options both roles share: TLS 1.2 at least, no renegotiation, no compression, and record
// buffers released while idle so an idle connection stays small.
void apply_common(SSL_CTX* ctx) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

base::Error openssl_failure(const std::string& route, const std::string& what) {
  std::string detail = drain_openssl_errors();
  return base::fail("route " + route + ": " + what + (detail.empty() ? "" : " (" + detail + ")"));
}

// Offers http/1.1 when the client does; otherwise no ALPN at all. Never h2: mcptap reads
// HTTP/1.1, and an h2 session would pass uncaptured.
int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void* /*arg*/) {
  static const unsigned char kHttp11[] = "\x08http/1.1";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kHttp11, sizeof kHttp11 - 1, offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// The host_name in the ClientHello's server_name extension, lower-cased; empty when absent
// or malformed. Every length is the client's: each is checked against what is left.
std::string client_hello_server_name(SSL* ssl) {
  const unsigned char* p = nullptr;
  size_t left = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &left) != 1 || left < 2) {
    return {};
  }
  size_t list_length = (static_cast<size_t>(p[0]) << 8) | p[1];
  p += 2;
  left -= 2;
  if (list_length != left) return {};
  while (left >= 3) {
    unsigned type = p[0];
    size_t name_length = (static_cast<size_t>(p[1]) << 8) | p[2];
    p += 3;
    left -= 3;
    if (name_length > left) return {};
    if (type == TLSEXT_NAMETYPE_host_name) {
      std::string name(reinterpret_cast<const char*>(p), name_length);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return name;
    }
    p += name_length;
    left -= name_length;
  }
  return {};
}

// Interception: gives this connection a leaf for the name the client asked for, signed by
// the local CA. Runs before anything else looks at the ClientHello (and again after a
// HelloRetryRequest, when the leaf is already there).
int on_client_hello(SSL* ssl, int* alert, void* arg) {
  auto* minter = static_cast<CertMinter*>(arg);
  TlsConnectionData* data = connection_data(ssl);
  if (data == nullptr || minter == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  if (data->leaf_installed) return SSL_CLIENT_HELLO_SUCCESS;
  std::string name = client_hello_server_name(ssl);
  if (is_mintable_name(name)) {
    data->server_name = name;
  } else {
    name = data->fallback_name;
  }
  X509* leaf = is_mintable_name(name) ? minter->leaf_for(name, &data->minted_leaf) : nullptr;
  STACK_OF(X509)* chain = sk_X509_new_null();
  bool installed = leaf != nullptr && chain != nullptr &&
                   sk_X509_push(chain, minter->ca_certificate()) > 0 &&
                   SSL_use_cert_and_key(ssl, leaf, minter->leaf_key(), chain, 1) == 1;
  sk_X509_free(chain);  // SSL_use_cert_and_key took its own references
  if (!installed) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  data->leaf_installed = true;
  return SSL_CLIENT_HELLO_SUCCESS;
}

// Origination: a session the upstream gave us, kept for the next connection to the same
// target. Returning 1 keeps the reference OpenSSL handed over.
int on_new_client_session(SSL* ssl, SSL_SESSION* session) {
  auto* context = static_cast<TlsClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  TlsConnectionData* data = connection_data(ssl);
  if (context == nullptr || data == nullptr || data->cache_key.empty()) return 0;
  context->keep_session(data->cache_key, UniqueSslSession(session));
  return 1;
}

nlohmann::json certificate_description(const char* side, X509* certificate) {
  return {{"side", side},
          {"subject", name_text(X509_get_subject_name(certificate))},
          {"issuer", name_text(X509_get_issuer_name(certificate))},
          {"not_after", time_text(X509_get0_notAfter(certificate))}};
}

// Our certificate and key (termination, or the upstream's client certificate): the files'
// checks, then the pair installed with its chain.
base::Status use_certificate_and_key(SSL_CTX* ctx, const TlsFileRef& certificate_file,
                                     const TlsFileRef& key_file, std::vector<std::string>* warnings,
                                     nlohmann::json* description) {
  auto chain = load_certificate_chain(certificate_file, warnings);
  if (!chain) return chain.error();
  auto key = load_private_key(key_file);
  if (!key) return key.error();
  X509* leaf = chain->front().get();
  if (auto matched = check_key_matches(certificate_file, leaf, key_file, key->get()); !matched) {
    return matched;
  }
  STACK_OF(X509)* rest = sk_X509_new_null();
  bool pushed = rest != nullptr;
  for (size_t i = 1; pushed && i < chain->size(); ++i) {
    pushed = sk_X509_push(rest, (*chain)[i].get()) > 0;
  }
  ERR_clear_error();
  bool used = pushed && SSL_CTX_use_cert_and_key(ctx, leaf, key->get(), rest, 1) == 1;
  sk_X509_free(rest);  // the context holds its own references
  if (!used) {
    return openssl_failure(certificate_file.route,
                           "cannot use " + certificate_file.key + " " + certificate_file.path);
  }
  *description = certificate_description(description->value("side", "").c_str(), leaf);
  return {};
}

base::Status load_trust(SSL_CTX* ctx, const TlsFileRef& ca_file) {
  if (auto readable = check_readable(ca_file); !readable) return readable;
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx, ca_file.path.c_str(), nullptr) != 1) {
    drain_openssl_errors();
    return base::fail(ca_file.describe() + ": holds no PEM certificate");
  }
  return {};
}

int min_version(TlsVersion version) {
  return version == TlsVersion::V1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

}  // namespace

// ---- TlsServerContext ----

struct TlsServerContext::State {
  UniqueSslCtx ctx;
  std::unique_ptr<CertMinter> minter;
  nlohmann::json description;
  std::vector<std::string> warnings;
};

TlsServerContext::~TlsServerContext() = default;
SSL_CTX* TlsServerContext::ctx() const {
  return state_->ctx.get();
}
CertMinter* TlsServerContext::minter() const {
  return state_->minter.get();
}
const nlohmann::json& TlsServerContext::description() const {
  return state_->description;
}
const std::vector<std::string>& TlsServerContext::warnings() const {
  return state_->warnings;
}

namespace {

// Interception: the CA's files checked like any other, then the minter that signs leaves
// with them.
base::Result<std::unique_ptr<CertMinter>> load_minter(const std::string& route,
                                                      const InterceptCa& intercept,
                                                      std::vector<std::string>* warnings,
                                                      nlohmann::json* description) {
  TlsFileRef ca_file{route, "listen_tls.intercept.ca_cert_file", intercept.ca_cert_file};
  TlsFileRef key_file{route, "listen_tls.intercept.ca_key_file", intercept.ca_key_file};
  auto chain = load_certificate_chain(ca_file, warnings);
  if (!chain) return chain.error();
  auto key = load_private_key(key_file);
  if (!key) return key.error();
  X509* ca = chain->front().get();
  if (X509_check_ca(ca) < 1) {
    return base::fail(ca_file.describe() +
                      " is not a CA certificate (it needs basicConstraints CA:TRUE); "
                      "mcptap ca init makes one");
  }
  if (auto matched = check_key_matches(ca_file, ca, key_file, key->get()); !matched) {
    return matched.error();
  }
  *description = certificate_description("client", ca);
  (*description)["intercept"] = true;
  auto minter = CertMinter::create(std::move(chain->front()), std::move(*key));
  if (!minter)
    return base::fail("route " + route + ": listen_tls.intercept: " + minter.error().message);
  return std::move(*minter);
}

base::Status configure_server(SSL_CTX* ctx, const std::string& route, const ListenTls& config) {
  ERR_clear_error();
  auto digest = base::Sha256();
  digest.update(route);
  auto id = digest.finish();  // 32 bytes, SSL_MAX_SID_CTX_LENGTH
  if (SSL_CTX_set_min_proto_version(ctx, min_version(config.min_version)) != 1 ||
      SSL_CTX_set_session_id_context(ctx, id.data(), static_cast<unsigned>(id.size())) != 1 ||
      SSL_CTX_set_num_tickets(ctx, 1) != 1) {
    return openssl_failure(route, "cannot configure listen_tls");
  }
  apply_common(ctx);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, kServerSessionCacheSize);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  if (!config.client_ca_file.empty()) {
    TlsFileRef ca_file{route, "listen_tls.client_ca_file", config.client_ca_file};
    if (auto trusted = load_trust(ctx, ca_file); !trusted) return trusted;
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str());
    if (names == nullptr) return openssl_failure(route, "cannot read listen_tls.client_ca_file");
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return {};
}

}  // namespace

base::Result<std::shared_ptr<TlsServerContext>> TlsServerContext::load(const std::string& route,
                                                                       const ListenTls& config) {
  std::shared_ptr<TlsServerContext> context(new TlsServerContext());
  context->state_ = std::make_unique<State>();
  State& state = *context->state_;
  ERR_clear_error();
  state.ctx.reset(SSL_CTX_new(TLS_server_method()));
  if (!state.ctx) return openssl_failure(route, "cannot create a TLS context");
  if (auto configured = configure_server(state.ctx.get(), route, config); !configured) {
    return configured.error();
  }
  if (config.intercept) {
    auto minter = load_minter(route, *config.intercept, &state.warnings, &state.description);
    if (!minter) return minter.error();
    state.minter = std::move(*minter);
    SSL_CTX_set_client_hello_cb(state.ctx.get(), on_client_hello, state.minter.get());
    return context;
  }
  state.description = {{"side", "client"}};
  TlsFileRef certificate_file{route, "listen_tls.cert_file", config.cert_file};
  TlsFileRef key_file{route, "listen_tls.key_file", config.key_file};
  if (auto used = use_certificate_and_key(state.ctx.get(), certificate_file, key_file,
                                          &state.warnings, &state.description);
      !used) {
    return used.error();
  }
  if (!config.client_ca_file.empty()) state.description["client_ca"] = config.client_ca_file;
  return context;
}

// ---- TlsClientContext ----

struct TlsClientContext::State {
  UpstreamTls config;
  UniqueSslCtx ctx;
  nlohmann::json description;
  std::vector<std::string> warnings;
  // The session cache: targets most recently given a session first, each with its
  // sessions newest first.
  struct Target {
    std::string key;
    std::deque<UniqueSslSession> sessions;
  };
  std::list<Target> targets;
  std::unordered_map<std::string, std::list<Target>::iterator> by_key;
};

TlsClientContext::~TlsClientContext() {
  // Sessions hold a reference to nothing in the context, but free them before it anyway.
  state_->by_key.clear();
  state_->targets.clear();
}
SSL_CTX* TlsClientContext::ctx() const {
  return state_->ctx.get();
}
const UpstreamTls& TlsClientContext::config() const {
  return state_->config;
}
const nlohmann::json& TlsClientContext::description() const {
  return state_->description;
}
const std::vector<std::string>& TlsClientContext::warnings() const {
  return state_->warnings;
}

UniqueSslSession TlsClientContext::take_session(const std::string& cache_key) {
  auto found = state_->by_key.find(cache_key);
  if (found == state_->by_key.end()) return nullptr;
  std::deque<UniqueSslSession>& sessions = found->second->sessions;
  UniqueSslSession session;
  while (!session && !sessions.empty()) {
    session = std::move(sessions.front());
    sessions.pop_front();
    if (SSL_SESSION_is_resumable(session.get()) != 1) session.reset();
  }
  if (sessions.empty()) {
    state_->targets.erase(found->second);
    state_->by_key.erase(found);
  }
  return session;
}

void TlsClientContext::keep_session(const std::string& cache_key, UniqueSslSession session) {
  if (!session) return;
  auto found = state_->by_key.find(cache_key);
  if (found == state_->by_key.end()) {
    state_->targets.push_front(State::Target{cache_key, {}});
    found = state_->by_key.emplace(cache_key, state_->targets.begin()).first;
  } else {
    state_->targets.splice(state_->targets.begin(), state_->targets, found->second);
  }
  std::deque<UniqueSslSession>& sessions = found->second->sessions;
  sessions.push_front(std::move(session));
  if (sessions.size() > kMaxSessionsPerTarget) sessions.pop_back();
  while (state_->targets.size() > kMaxCachedTargets) {
    state_->by_key.erase(state_->targets.back().key);
    state_->targets.pop_back();
  }
}

base::Result<std::shared_ptr<TlsClientContext>> TlsClientContext::load(const std::string& route,
                                                                       const UpstreamTls& config) {
  std::shared_ptr<TlsClientContext> context(new TlsClientContext());
  context->state_ = std::make_unique<State>();
  State& state = *context->state_;
  state.config = config;
  ERR_clear_error();
  state.ctx.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = state.ctx.get();
  if (ctx == nullptr || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return openssl_failure(route, "cannot create a TLS context");
  }
  apply_common(ctx);
  state.description = {{"side", "upstream"}, {"verify", config.verify}};
  if (!config.ca_file.empty()) {
    TlsFileRef ca_file{route, "upstream_tls.ca_file", config.ca_file};
    if (auto trusted = load_trust(ctx, ca_file); !trusted) return trusted.error();
    state.description["ca"] = config.ca_file;
  } else {
    // /usr/lib/ssl/certs, or SSL_CERT_FILE / SSL_CERT_DIR when set.
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return openssl_failure(route, "cannot use the system's CA store");
    }
    state.description["ca"] = "system";
  }
  if (config.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    state.warnings.push_back("route " + route +
                             ": upstream_tls.verify is false: the upstream's certificate is "
                             "not checked, anyone on the path can read and change the traffic");
  }
  if (!config.client_cert_file.empty() || !config.client_key_file.empty()) {
    TlsFileRef certificate_file{route, "upstream_tls.client_cert_file", config.client_cert_file};
    TlsFileRef key_file{route, "upstream_tls.client_key_file", config.client_key_file};
    nlohmann::json client_certificate = {{"side", "upstream"}};
    if (auto used = use_certificate_and_key(ctx, certificate_file, key_file, &state.warnings,
                                            &client_certificate);
        !used) {
      return used.error();
    }
    state.description["client_subject"] = client_certificate["subject"];
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_client_session);
  SSL_CTX_set_app_data(ctx, context.get());
  return context;
}

// ---- RouteTls ----

base::Result<std::shared_ptr<RouteTls>> load_route_tls(const RouteConfig& route) {
  if (!route.listen_tls && !route.upstream_tls) return std::shared_ptr<RouteTls>();
  auto tls = std::make_shared<RouteTls>();
  if (route.listen_tls) {
    auto listen = TlsServerContext::load(route.name, *route.listen_tls);
    if (!listen) return listen.error();
    tls->listen = std::move(*listen);
  }
  // Interception always reaches the original destination over TLS: with no upstream_tls,
  // against the system store with full verification.
  if (route.upstream_tls || (route.listen_tls && route.listen_tls->intercept)) {
    auto upstream = TlsClientContext::load(route.name, route.upstream_tls.value_or(UpstreamTls{}));
    if (!upstream) return upstream.error();
    tls->upstream = std::move(*upstream);
  }
  return tls;
}

}  // namespace mcptap::proxy

// A route's TLS configuration, loaded and checked: the contexts every connection's
// handshakes start from.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "proxy/cert_minter.h"
#include "proxy/openssl_ptr.h"
#include "proxy/route_config.h"

namespace mcptap::proxy {

// Termination or interception: clients handshake with mcptap. Immutable once loaded (the
// intercept minter's cache aside, which only the loop thread touches).
class TlsServerContext {
 public:
  // Reads and checks the files: each exists and is readable; a key is not readable by
  // group or others, not encrypted, and matches its certificate; a certificate has not
  // expired; an intercept CA is a CA. The error is one line naming the route, the key
  // (listen_tls.key_file) and the path; key bytes never enter it.
  static base::Result<std::shared_ptr<TlsServerContext>> load(const std::string& route,
                                                              const ListenTls& config);
  ~TlsServerContext();

  SSL_CTX* ctx() const;
  CertMinter* minter() const;  // null unless intercepting
  // {"side":"client","subject":...,"issuer":...,"not_after":...} for the "tls ready" log line.
  const nlohmann::json& description() const;
  // Things worth a warning at load (a certificate expiring within 7 days).
  const std::vector<std::string>& warnings() const;

 private:
  TlsServerContext() = default;
  struct State;
  std::unique_ptr<State> state_;
};

// Origination: mcptap handshakes with the upstream. Holds the client session cache that
// lets the next connection resume (loop thread only).
class TlsClientContext {
 public:
  static base::Result<std::shared_ptr<TlsClientContext>> load(const std::string& route,
                                                              const UpstreamTls& config);
  ~TlsClientContext();

  SSL_CTX* ctx() const;
  const UpstreamTls& config() const;
  // A resumable session for this target (taken out: TLS 1.3 tickets are single-use), or null.
  UniqueSslSession take_session(const std::string& cache_key);
  // Keeps a new session for a later connection to the same target: up to 32 per target
  // (newest used first), for at most 64 targets.
  void keep_session(const std::string& cache_key, UniqueSslSession session);
  const nlohmann::json& description() const;         // {"side":"upstream","verify":...,"ca":...}
  const std::vector<std::string>& warnings() const;  // verify:false

 private:
  TlsClientContext() = default;
  struct State;
  std::unique_ptr<State> state_;
};

// What a route's connections handshake with; null members are plaintext sides. Shared:
// each connection keeps the one it started with, so a reload never touches it.
struct RouteTls {
  std::shared_ptr<TlsServerContext> listen;
  std::shared_ptr<TlsClientContext> upstream;
};

// The route's contexts; null when the route has no TLS at all.
base::Result<std::shared_ptr<RouteTls>> load_route_tls(const RouteConfig& route);

}  // namespace mcptap::proxy

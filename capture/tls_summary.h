// What a connection's TLS looked like, as capture records it in meta.tls. Plain strings:
// no TLS library type reaches capture.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace mcptap::capture {

// One side's session once its handshake is done.
struct TlsEndpoint {
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_256_GCM_SHA384"
  std::string sni;      // the name asked for (client side) or sent (upstream side); may be empty
  std::string alpn;     // the protocol agreed; empty when none was
  bool resumed = false;
  // Upstream side only: the peer certificate, RFC 2253 names, and whether it was verified.
  std::string peer_subject;
  std::string peer_issuer;
  bool verified = false;
};

// Each side that speaks TLS; a side in plaintext is absent.
struct TlsSummary {
  std::optional<TlsEndpoint> client;
  std::optional<TlsEndpoint> upstream;
};

// {"client":{...},"upstream":{...}}: the shape of meta.tls.
nlohmann::json to_meta(const TlsSummary& summary);

}  // namespace mcptap::capture

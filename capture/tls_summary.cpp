// meta.tls: only what identifies the session, never key material.
#include "capture/tls_summary.h"

namespace mcptap::capture {
namespace {

nlohmann::json endpoint_meta(const TlsEndpoint& endpoint, bool upstream) {
  nlohmann::json meta = {{"version", endpoint.version}, {"cipher", endpoint.cipher}};
  if (!endpoint.sni.empty()) meta["sni"] = endpoint.sni;
  if (!endpoint.alpn.empty()) meta["alpn"] = endpoint.alpn;
  meta["resumed"] = endpoint.resumed;
  if (upstream) {
    meta["peer_subject"] = endpoint.peer_subject;
    meta["peer_issuer"] = endpoint.peer_issuer;
    meta["verified"] = endpoint.verified;
  }
  return meta;
}

}  // namespace

nlohmann::json to_meta(const TlsSummary& summary) {
  nlohmann::json meta = nlohmann::json::object();
  if (summary.client) meta["client"] = endpoint_meta(*summary.client, false);
  if (summary.upstream) meta["upstream"] = endpoint_meta(*summary.upstream, true);
  return meta;
}

}  // namespace mcptap::capture

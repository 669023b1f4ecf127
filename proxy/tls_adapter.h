// One side's TLS session driven through memory: ciphertext in, plaintext out, and back.
// No sockets and no blocking: the Session reads and writes, the adapter only transforms.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "capture/tls_summary.h"
#include "proxy/buffer_pool.h"
#include "proxy/openssl_ptr.h"
#include "proxy/tls_context.h"

namespace mcptap::proxy {

// Why a handshake (or a session) failed: the `reason` label of
// mcptap_tls_handshake_failures_total. A closed set, never the peer's text.
enum class TlsFailure : uint8_t {
  Timeout,
  Truncated,  // the connection ended mid-handshake
  Protocol,   // not TLS, or malformed records
  Version,    // no protocol version in common (below TLS 1.2)
  NoSharedCipher,
  UnknownCa,  // the upstream's certificate chains to no trusted CA
  Expired,
  NotYetValid,
  NameMismatch,             // the upstream's certificate is not for the name dialled
  BadCertificate,           // any other verification failure
  NoClientCert,             // mTLS: the client presented none
  PeerRejectedCertificate,  // the peer refused ours (a client that does not trust the CA)
  PeerAlert,                // any other alert from the peer
  Internal,
  kCount
};
// "timeout", "truncated", "protocol", "version", "no_shared_cipher", "unknown_ca",
// "expired", "not_yet_valid", "name_mismatch", "bad_certificate", "no_client_cert",
// "peer_rejected_certificate", "peer_alert", "internal".
std::string_view to_string(TlsFailure failure);

// Where the upstream side's handshake goes: the SNI to send (empty for none, e.g. an IP),
// the name or IP its certificate must carry, and the session cache key.
struct TlsTarget {
  std::string sni;
  std::string verify_name;
  bool verify_ip = false;  // verify_name is an IP literal
  std::string cache_key;   // "host:port|sni"
  std::vector<std::string> alpn;
};

class TlsAdapter {
 public:
  // The adapter's output. Each call hands over a pooled buffer (the receiver releases or
  // forwards it). false: the session is closing, stop delivering.
  class Sink {
   public:
    virtual ~Sink() = default;
    // Application bytes decrypted from this side.
    virtual bool on_plaintext(PooledBuffer* buffer, size_t length) = 0;
    // TLS records for this side's own socket: handshake flights, tickets, alerts, and the
    // records send() made.
    virtual bool on_ciphertext(PooledBuffer* buffer, size_t length) = 0;
  };

  enum class State { Handshaking, Open, PeerClosed, Failed };

  // The server role (termination or interception). `fallback_name` is the leaf's name
  // when intercepting and the client's SNI is absent or unusable (the original IP).
  // Null only when memory is exhausted.
  static std::unique_ptr<TlsAdapter> accept(std::shared_ptr<TlsServerContext> context,
                                            std::string fallback_name, BufferPool& pool,
                                            Sink& sink);
  // The client role (origination).
  static std::unique_ptr<TlsAdapter> connect(std::shared_ptr<TlsClientContext> context,
                                             TlsTarget target, BufferPool& pool, Sink& sink);
  ~TlsAdapter();
  TlsAdapter(const TlsAdapter&) = delete;
  TlsAdapter& operator=(const TlsAdapter&) = delete;

  // Client role: writes the ClientHello. Server role: nothing to do yet (Handshaking).
  State start();
  // Ciphertext read from this side's socket, all of it consumed: it may complete the
  // handshake, decrypt application bytes (on_plaintext) and produce records to answer
  // (on_ciphertext).
  State receive(std::string_view ciphertext);
  // Application bytes to encrypt towards this side (Open only); the records go to
  // on_ciphertext.
  State send(std::string_view plaintext);
  // Our close_notify towards this side (idempotent; only once Open).
  void send_close_notify();

  State state() const;
  // Set once Failed.
  TlsFailure failure() const;
  // The library's reason, for logs only.
  const std::string& failure_detail() const;
  // The peer's close_notify arrived (a clean end, not a truncation).
  bool peer_sent_close_notify() const;
  // Server role: the SNI the client sent (empty if none), available once Open.
  std::string_view requested_server_name() const;
  // A leaf was minted for this handshake (interception).
  bool minted_leaf() const;
  // Once Open.
  capture::TlsEndpoint summary() const;

 private:
  struct Impl;
  explicit TlsAdapter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mcptap::proxy

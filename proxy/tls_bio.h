// What sits under each TlsAdapter's SSL: the memory BIO that moves its records, and the
// per-connection data the context callbacks (interception, client session cache) read.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <string>

namespace mcptap::proxy {

// The two ends of the BIO. OpenSSL reads records from the current input and writes records
// to the output; neither ever blocks.
class TlsBioEnds {
 public:
  virtual ~TlsBioEnds() = default;
  // Copies up to `capacity` bytes of pending input; 0 when there is none (a retry read).
  virtual size_t read_input(char* into, size_t capacity) = 0;
  // Takes all of `bytes`; false only when no buffer could be had.
  virtual bool write_output(const char* bytes, size_t length) = 0;
};

// A source/sink BIO over `ends` (borrowed: it must outlive the BIO). Null when memory is
// exhausted.
BIO* new_tls_bio(TlsBioEnds* ends);

// Set as the SSL's app data by the adapter, read by the callbacks the contexts install.
struct TlsConnectionData {
  std::string fallback_name;  // interception: the leaf's name when the SNI is unusable
  std::string server_name;    // interception: the client's SNI, validated (empty if none)
  bool leaf_installed = false;
  bool minted_leaf = false;
  std::string cache_key;  // client role: where a new session is kept
};

inline TlsConnectionData* connection_data(SSL* ssl) {
  return static_cast<TlsConnectionData*>(SSL_get_app_data(ssl));
}

}  // namespace mcptap::proxy

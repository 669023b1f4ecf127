// Reading the certificates and keys a route's TLS names, with the checks that stop start-up
// (or a reload) with one line naming the route, the key and the path.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "proxy/openssl_ptr.h"

namespace mcptap::proxy {

// Which configuration key a file came from, for the messages:
// {"gates", "listen_tls.key_file", "/etc/mcptap/tls.key"}.
struct TlsFileRef {
  std::string route;
  std::string key;
  std::string path;
  // "route gates: listen_tls.key_file /etc/mcptap/tls.key"
  std::string describe() const;
};

// A PEM certificate chain, leaf first. Refused: a missing or unreadable file, one with no
// certificate, and a leaf that has expired. A leaf expiring within 7 days adds a line to
// `warnings`.
base::Result<std::vector<UniqueX509>> load_certificate_chain(const TlsFileRef& file,
                                                             std::vector<std::string>* warnings);

// An unencrypted PEM private key. Refused: a missing or unreadable file, one readable by
// group or others (checked on the opened file), an encrypted key, a file with no key. The
// bytes read are wiped, and never appear in a message.
base::Result<UniqueEvpPkey> load_private_key(const TlsFileRef& file);

// The key belongs to the certificate.
base::Status check_key_matches(const TlsFileRef& certificate_file, X509* certificate,
                               const TlsFileRef& key_file, EVP_PKEY* key);

// A file of trusted CA certificates exists and can be read (OpenSSL parses it afterwards).
base::Status check_readable(const TlsFileRef& file);

// RFC 2253 text of a name, at most 512 characters.
std::string name_text(const X509_NAME* name);
// "2026-01-31T12:00:00Z".
std::string time_text(const ASN1_TIME* time);

}  // namespace mcptap::proxy

// Leaf certificates minted on the fly for interception, signed by a local CA.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/result.h"
#include "proxy/openssl_ptr.h"

namespace mcptap::proxy {

// A name a leaf may be minted for: a lower-case LDH host name of at most 253 characters
// (labels of 1..63), or an IP literal. The SNI is the client's text: anything else is
// answered with the fallback name instead.
bool is_mintable_name(std::string_view name);

// One ECDSA P-256 key for every leaf (made when the minter is created); each name gets its
// own certificate, valid from an hour ago for 7 days, cached (LRU, kMaxCachedLeaves) and
// minted again when less than a day is left. Loop thread only.
class CertMinter {
 public:
  static constexpr size_t kMaxCachedLeaves = 1024;

  // Checks the pair: the key matches the certificate, and the certificate is a CA.
  static base::Result<std::unique_ptr<CertMinter>> create(UniqueX509 ca_certificate,
                                                          UniqueEvpPkey ca_key);
  ~CertMinter();
  CertMinter(const CertMinter&) = delete;
  CertMinter& operator=(const CertMinter&) = delete;

  // The leaf for `name` (is_mintable_name must hold), borrowed until the next call; null
  // if it could not be minted. `minted` says whether it was made just now.
  X509* leaf_for(std::string_view name, bool* minted);
  EVP_PKEY* leaf_key() const;
  X509* ca_certificate() const;
  size_t cached_leaves() const;

 private:
  CertMinter(UniqueX509 ca_certificate, UniqueEvpPkey ca_key, UniqueEvpPkey leaf_key);
  struct CachedLeaf;
  UniqueX509 mint(const std::string& name) const;

  UniqueX509 ca_certificate_;
  UniqueEvpPkey ca_key_;
  UniqueEvpPkey leaf_key_;
  std::list<CachedLeaf> leaves_;  // most recently used first
  std::unordered_map<std::string, std::list<CachedLeaf>::iterator> by_name_;
};

// A new local CA for `mcptap ca init`: EC P-256, CA:TRUE with pathlen 0, keyCertSign and
// cRLSign, valid for `days`.
struct LocalCa {
  UniqueX509 certificate;
  UniqueEvpPkey key;
};
base::Result<LocalCa> create_local_ca(std::string_view common_name, int days);

// PEM text of a certificate, and of a private key (unencrypted PKCS#8).
std::string certificate_pem(X509* certificate);
std::string private_key_pem(EVP_PKEY* key);

}  // namespace mcptap::proxy

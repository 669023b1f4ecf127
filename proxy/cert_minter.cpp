// Leaf certificates for interception, minted per SNI name and signed by a local CA; and
// the local CA itself for `mcptap ca init`.
#include "proxy/cert_minter.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <utility>

#include "base/resolver.h"

namespace mcptap::proxy {
namespace {

constexpr long kSecondsPerDay = 24 * 60 * 60;
// A client whose clock is a little behind still accepts a leaf made just now.
constexpr long kLeafBackdateSeconds = 60 * 60;
constexpr long kLeafLifetimeSeconds = 7 * kSecondsPerDay;
// A cached leaf with less than this left is minted again, so no handshake gets a leaf
// that expires during a long-lived connection's first day.
constexpr long kLeafRenewBeforeSeconds = kSecondsPerDay;
// Above this, a subject CN is not allowed (RFC 5280 ub-common-name); the SAN carries it.
constexpr size_t kMaxCommonNameLength = 64;
constexpr size_t kMaxDnsNameLength = 253;
constexpr size_t kMaxDnsLabelLength = 63;

base::Error openssl_failure(const std::string& what) {
  std::string reason = drain_openssl_errors();
  return base::fail(what + ": " + (reason.empty() ? "unknown OpenSSL error" : reason));
}

bool is_ldh_label(std::string_view label) {
  if (label.empty() || label.size() > kMaxDnsLabelLength) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_ldh_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxDnsNameLength) return false;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view label =
        name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!is_ldh_label(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// A positive serial of 16 random bytes (RFC 5280: unique per CA, at most 20 octets); the
// top bit is cleared so it stays positive in 16 octets, and one bit set so it is non-zero.
bool set_random_serial(X509* certificate) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return false;
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
  BIGNUM* number = BN_bin2bn(bytes, sizeof(bytes), nullptr);
  if (number == nullptr) return false;
  ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(number, nullptr);
  BN_free(number);
  if (serial == nullptr) return false;
  bool ok = X509_set_serialNumber(certificate, serial) == 1;
  ASN1_INTEGER_free(serial);
  return ok;
}

// One extension written as OpenSSL's configuration text ("critical,CA:FALSE"). The
// values are constants, never client text.
bool add_extension(X509* certificate, X509V3_CTX* context, int nid, const char* value) {
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, context, nid, value);
  if (extension == nullptr) return false;
  bool ok = X509_add_ext(certificate, extension, -1) == 1;
  X509_EXTENSION_free(extension);
  return ok;
}

// subjectAltName with the one name, DNS or IP, built as a structure rather than as
// configuration text so the client's name is never parsed by OpenSSL's config syntax.
bool add_subject_alt_name(X509* certificate, const std::string& name, bool critical) {
  GENERAL_NAME* entry = GENERAL_NAME_new();
  if (entry == nullptr) return false;
  if (base::is_ip_literal(name)) {
    ASN1_OCTET_STRING* address = a2i_IPADDRESS(name.c_str());
    if (address == nullptr) {
      GENERAL_NAME_free(entry);
      return false;
    }
    GENERAL_NAME_set0_value(entry, GEN_IPADD, address);
  } else {
    ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
    if (dns == nullptr || ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size())) != 1) {
      ASN1_IA5STRING_free(dns);
      GENERAL_NAME_free(entry);
      return false;
    }
    GENERAL_NAME_set0_value(entry, GEN_DNS, dns);
  }
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  if (names == nullptr || sk_GENERAL_NAME_push(names, entry) == 0) {
    GENERAL_NAME_free(entry);
    sk_GENERAL_NAME_free(names);
    return false;
  }
  bool ok = X509_add1_ext_i2d(certificate, NID_subject_alt_name, names, critical ? 1 : 0,
                              X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free(names);
  return ok;
}

bool set_common_name(X509* certificate, std::string_view common_name) {
  X509_NAME* subject = X509_get_subject_name(certificate);
  return X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(common_name.data()),
                                    static_cast<int>(common_name.size()), -1, 0) == 1;
}

base::Result<UniqueEvpPkey> new_p256_key() {
  UniqueEvpPkey key(EVP_EC_gen("P-256"));
  if (!key) return openssl_failure("cannot make an EC P-256 key");
  return key;
}

// PEM text written by `write` into a memory BIO (whose buffer is cleansed when freed).
template <typename Write>
std::string pem_text(Write write) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  std::string text;
  if (write(bio) == 1) {
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    if (size > 0) text.assign(data, static_cast<size_t>(size));
  }
  BIO_free(bio);
  return text;
}

}  // namespace

bool is_mintable_name(std::string_view name) {
  return is_ldh_name(name) || base::is_ip_literal(name);
}

struct CertMinter::CachedLeaf {
  std::string name;
  UniqueX509 certificate;
};

CertMinter::CertMinter(UniqueX509 ca_certificate, UniqueEvpPkey ca_key, UniqueEvpPkey leaf_key)
    : ca_certificate_(std::move(ca_certificate)),
      ca_key_(std::move(ca_key)),
      leaf_key_(std::move(leaf_key)) {}

CertMinter::~CertMinter() = default;

base::Result<std::unique_ptr<CertMinter>> CertMinter::create(UniqueX509 ca_certificate,
                                                             UniqueEvpPkey ca_key) {
  if (!ca_certificate || !ca_key) return base::fail("the CA certificate and key are both needed");
  ERR_clear_error();
  if (X509_check_private_key(ca_certificate.get(), ca_key.get()) != 1) {
    ERR_clear_error();
    return base::fail("the CA key does not match the CA certificate");
  }
  if (X509_check_ca(ca_certificate.get()) < 1) {
    ERR_clear_error();
    return base::fail(
        "the CA certificate is not a CA (it needs basicConstraints CA:TRUE and keyCertSign); "
        "make one with `mcptap ca init`");
  }
  auto leaf_key = new_p256_key();
  if (!leaf_key.ok()) return leaf_key.error();
  return std::unique_ptr<CertMinter>(
      new CertMinter(std::move(ca_certificate), std::move(ca_key), std::move(*leaf_key)));
}

X509* CertMinter::leaf_for(std::string_view name, bool* minted) {
  if (minted != nullptr) *minted = false;
  std::string key(name);
  auto found = by_name_.find(key);
  if (found != by_name_.end()) {
    time_t renew_at = std::time(nullptr) + kLeafRenewBeforeSeconds;
    X509* cached = found->second->certificate.get();
    // X509_cmp_time: -1 when notAfter is earlier, 0 on error; both mean mint again.
    if (X509_cmp_time(X509_get0_notAfter(cached), &renew_at) > 0) {
      leaves_.splice(leaves_.begin(), leaves_, found->second);
      return cached;
    }
  }
  UniqueX509 leaf = mint(key);
  if (!leaf) return nullptr;
  if (minted != nullptr) *minted = true;
  if (found != by_name_.end()) {
    found->second->certificate = std::move(leaf);
    leaves_.splice(leaves_.begin(), leaves_, found->second);
    return leaves_.front().certificate.get();
  }
  leaves_.push_front(CachedLeaf{key, std::move(leaf)});
  by_name_.emplace(std::move(key), leaves_.begin());
  if (leaves_.size() > kMaxCachedLeaves) {
    by_name_.erase(leaves_.back().name);
    leaves_.pop_back();
  }
  return leaves_.front().certificate.get();
}

EVP_PKEY* CertMinter::leaf_key() const {
  return leaf_key_.get();
}
X509* CertMinter::ca_certificate() const {
  return ca_certificate_.get();
}
size_t CertMinter::cached_leaves() const {
  return leaves_.size();
}

UniqueX509 CertMinter::mint(const std::string& name) const {
  if (!is_mintable_name(name)) return nullptr;
  ERR_clear_error();
  UniqueX509 leaf(X509_new());
  X509* cert = leaf.get();
  bool ok = cert != nullptr && X509_set_version(cert, 2) == 1 && set_random_serial(cert) &&
            X509_set_issuer_name(cert, X509_get_subject_name(ca_certificate_.get())) == 1 &&
            X509_gmtime_adj(X509_getm_notBefore(cert), -kLeafBackdateSeconds) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert), kLeafLifetimeSeconds) != nullptr &&
            X509_set_pubkey(cert, leaf_key_.get()) == 1;
  // RFC 5280 4.2.1.6: with an empty subject the SAN must be critical.
  bool has_common_name = name.size() < kMaxCommonNameLength;
  if (ok && has_common_name) ok = set_common_name(cert, name);
  if (ok) ok = add_subject_alt_name(cert, name, !has_common_name);
  X509V3_CTX context;
  X509V3_set_ctx(&context, ca_certificate_.get(), cert, nullptr, nullptr, 0);
  // No subjectKeyIdentifier: every leaf shares one key, and some clients' chain builders
  // confuse certificates with equal SKIs.
  ok = ok && add_extension(cert, &context, NID_basic_constraints, "critical,CA:FALSE") &&
       add_extension(cert, &context, NID_key_usage, "critical,digitalSignature") &&
       add_extension(cert, &context, NID_ext_key_usage, "serverAuth") &&
       add_extension(cert, &context, NID_authority_key_identifier, "keyid,issuer") &&
       X509_sign(cert, ca_key_.get(), EVP_sha256()) > 0;
  ERR_clear_error();
  if (!ok) return nullptr;
  return leaf;
}

base::Result<LocalCa> create_local_ca(std::string_view common_name, int days) {
  if (days < 1) return base::fail("a CA must be valid for at least one day");
  if (common_name.empty() || common_name.size() >= kMaxCommonNameLength) {
    return base::fail("the CA name must be 1..63 characters");
  }
  ERR_clear_error();
  auto key = new_p256_key();
  if (!key.ok()) return key.error();
  UniqueX509 certificate(X509_new());
  X509* cert = certificate.get();
  bool ok = cert != nullptr && X509_set_version(cert, 2) == 1 && set_random_serial(cert) &&
            set_common_name(cert, common_name) &&
            X509_set_issuer_name(cert, X509_get_subject_name(cert)) == 1 &&
            X509_gmtime_adj(X509_getm_notBefore(cert), -kLeafBackdateSeconds) != nullptr &&
            X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, nullptr) != nullptr &&
            X509_set_pubkey(cert, key->get()) == 1;
  X509V3_CTX context;
  X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
  ok = ok && add_extension(cert, &context, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
       add_extension(cert, &context, NID_key_usage, "critical,keyCertSign,cRLSign") &&
       add_extension(cert, &context, NID_subject_key_identifier, "hash") &&
       X509_sign(cert, key->get(), EVP_sha256()) > 0;
  if (!ok) return openssl_failure("cannot make the CA certificate");
  return LocalCa{std::move(certificate), std::move(*key)};
}

std::string certificate_pem(X509* certificate) {
  if (certificate == nullptr) return {};
  return pem_text([certificate](BIO* bio) { return PEM_write_bio_X509(bio, certificate); });
}

std::string private_key_pem(EVP_PKEY* key) {
  if (key == nullptr) return {};
  return pem_text([key](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

}  // namespace mcptap::proxy

// Certificates for the TLS tests, made in-process: a CA (create_local_ca) and leaves it
// signs with any names and validity, written to PEM files with the mode asked for.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "proxy/cert_minter.h"
#include "proxy/openssl_ptr.h"

namespace mcptap::test_support {

struct TestCertificate {
  proxy::UniqueX509 certificate;
  proxy::UniqueEvpPkey key;
};

inline TestCertificate make_test_ca(const std::string& common_name) {
  auto ca = proxy::create_local_ca(common_name, 2);
  EXPECT_TRUE(ca.ok()) << (ca.ok() ? "" : ca.error().message);
  return {std::move(ca->certificate), std::move(ca->key)};
}

inline void add_extension(X509* certificate, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  ASSERT_NE(extension, nullptr) << value;
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
}

// A leaf signed by `issuer`, valid from now+not_before_seconds to now+not_after_seconds.
// `san` like "DNS:localhost,IP:127.0.0.1".
inline TestCertificate make_test_leaf(const TestCertificate& issuer, const std::string& common_name,
                                      const std::string& san, long not_before_seconds = -3600,
                                      long not_after_seconds = 86400) {
  static long serial = 1000;
  TestCertificate leaf;
  leaf.key.reset(EVP_EC_gen("P-256"));
  leaf.certificate.reset(X509_new());
  X509* x = leaf.certificate.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(x), not_before_seconds);
  X509_gmtime_adj(X509_getm_notAfter(x), not_after_seconds);
  X509_set_pubkey(x, leaf.key.get());
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(x, X509_get_subject_name(issuer.certificate.get()));
  add_extension(x, issuer.certificate.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(x, issuer.certificate.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(x, issuer.certificate.get(), NID_ext_key_usage, "serverAuth,clientAuth");
  if (!san.empty()) add_extension(x, issuer.certificate.get(), NID_subject_alt_name, san);
  EXPECT_GT(X509_sign(x, issuer.key.get(), EVP_sha256()), 0);
  return leaf;
}

inline void write_test_file(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

// certificate -> `stem`.crt (0644), key -> `stem`.key (`key_mode`).
inline void write_test_certificate(const std::string& stem, const TestCertificate& pair,
                                   mode_t key_mode = 0600) {
  write_test_file(stem + ".crt", proxy::certificate_pem(pair.certificate.get()), 0644);
  write_test_file(stem + ".key", proxy::private_key_pem(pair.key.get()), key_mode);
}

// The key encrypted with a passphrase (PKCS#8, AES-256-CBC).
inline std::string encrypted_key_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  static const char kPassphrase[] = "secret";
  PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), kPassphrase,
                                static_cast<int>(sizeof kPassphrase - 1), nullptr, nullptr);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<size_t>(length));
  BIO_free(bio);
  return text;
}

}  // namespace mcptap::test_support

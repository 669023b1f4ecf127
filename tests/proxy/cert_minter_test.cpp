// CertMinter: minted leaves verify against the local CA for their DNS or IP name, the cache
// is bounded and reused, names are validated, and a bad CA pair is refused.
#include "proxy/cert_minter.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/support/temp_dir.h"

namespace mcptap::proxy {
namespace {

LocalCa make_ca() {
  auto ca = create_local_ca("mcptap test CA", 30);
  EXPECT_TRUE(ca.ok()) << (ca.ok() ? "" : ca.error().message);
  return std::move(*ca);
}

std::unique_ptr<CertMinter> make_minter(const LocalCa& ca) {
  auto minter = CertMinter::create(UniqueX509(X509_dup(ca.certificate.get())),
                                   UniqueEvpPkey(EVP_PKEY_dup(ca.key.get())));
  EXPECT_TRUE(minter.ok()) << (minter.ok() ? "" : minter.error().message);
  return std::move(*minter);
}

// X509_verify_cert of `leaf` against a store holding only `ca`, as a TLS server
// certificate (strict RFC 5280 checks on); the error code, X509_V_OK when it verifies.
int verify_chain(X509* ca, X509* leaf) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* context = X509_STORE_CTX_new();
  X509_STORE_CTX_init(context, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER);
  X509_STORE_CTX_set_flags(context, X509_V_FLAG_X509_STRICT);
  int result = X509_verify_cert(context) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(context);
  X509_STORE_CTX_free(context);
  X509_STORE_free(store);
  return result;
}

std::string numbered_name(size_t i) {
  std::string name = "n";
  name.append(std::to_string(i)).append(".test");
  return name;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return static_cast<bool>(out);
}

TEST(CertMinterTest, DnsLeafVerifiesAgainstTheCaForItsName) {
  LocalCa ca = make_ca();
  auto minter = make_minter(ca);
  bool minted = false;
  X509* leaf = minter->leaf_for("backend.test", &minted);
  ASSERT_NE(leaf, nullptr);
  EXPECT_TRUE(minted);
  EXPECT_EQ(verify_chain(ca.certificate.get(), leaf), X509_V_OK);
  EXPECT_EQ(X509_check_host(leaf, "backend.test", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(leaf, "other.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_private_key(leaf, minter->leaf_key()), 1);
  EXPECT_EQ(X509_check_ca(leaf), 0);
  EXPECT_EQ(X509_get_version(leaf), 2);
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ca.certificate.get())),
            0);
  // 7 days from now, an hour back: valid now and in 6 days, not in 8.
  time_t in_six_days = std::time(nullptr) + 6 * 86400;
  time_t in_eight_days = std::time(nullptr) + 8 * 86400;
  EXPECT_EQ(X509_cmp_time(X509_get0_notAfter(leaf), &in_six_days), 1);
  EXPECT_EQ(X509_cmp_time(X509_get0_notAfter(leaf), &in_eight_days), -1);
  time_t now = std::time(nullptr);
  EXPECT_EQ(X509_cmp_time(X509_get0_notBefore(leaf), &now), -1);
  // A 128-bit serial: positive, 16 octets.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf);
  EXPECT_EQ(ASN1_STRING_length(serial), 16);
  EXPECT_EQ(ASN1_STRING_type(serial), V_ASN1_INTEGER);
  // The key usages a TLS server leaf needs, and no more.
  EXPECT_EQ(X509_get_key_usage(leaf), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(leaf), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_NE(X509_get0_authority_key_id(leaf), nullptr);
  EXPECT_EQ(X509_get0_subject_key_id(leaf), nullptr);
  int basic_constraints = X509_get_ext_by_NID(leaf, NID_basic_constraints, -1);
  ASSERT_GE(basic_constraints, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(leaf, basic_constraints)), 1);
  int key_usage = X509_get_ext_by_NID(leaf, NID_key_usage, -1);
  ASSERT_GE(key_usage, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(leaf, key_usage)), 1);
}

TEST(CertMinterTest, IpLeavesVerifyByAddress) {
  LocalCa ca = make_ca();
  auto minter = make_minter(ca);
  for (const char* address : {"127.0.0.1", "::1"}) {
    X509* leaf = minter->leaf_for(address, nullptr);
    ASSERT_NE(leaf, nullptr) << address;
    EXPECT_EQ(verify_chain(ca.certificate.get(), leaf), X509_V_OK) << address;
    EXPECT_EQ(X509_check_ip_asc(leaf, address, 0), 1) << address;
    EXPECT_NE(X509_check_ip_asc(leaf, "10.0.0.1", 0), 1) << address;
  }
}

TEST(CertMinterTest, LongNameGetsAnEmptySubjectAndACriticalSan) {
  LocalCa ca = make_ca();
  auto minter = make_minter(ca);
  std::string name(60, 'a');
  name.append(".backend.test");  // 73 characters
  X509* leaf = minter->leaf_for(name, nullptr);
  ASSERT_NE(leaf, nullptr);
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(leaf)), 0);
  int san = X509_get_ext_by_NID(leaf, NID_subject_alt_name, -1);
  ASSERT_GE(san, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(leaf, san)), 1);
  EXPECT_EQ(verify_chain(ca.certificate.get(), leaf), X509_V_OK);
  EXPECT_EQ(X509_check_host(leaf, name.c_str(), name.size(), 0, nullptr), 1);

  X509* short_leaf = minter->leaf_for("backend.test", nullptr);
  ASSERT_NE(short_leaf, nullptr);
  san = X509_get_ext_by_NID(short_leaf, NID_subject_alt_name, -1);
  ASSERT_GE(san, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(short_leaf, san)), 0);
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(short_leaf)), 1);
}

TEST(CertMinterTest, TheSameNameIsServedFromTheCache) {
  LocalCa ca = make_ca();
  auto minter = make_minter(ca);
  bool minted = false;
  X509* first = minter->leaf_for("backend.test", &minted);
  EXPECT_TRUE(minted);
  X509* second = minter->leaf_for("backend.test", &minted);
  EXPECT_FALSE(minted);
  EXPECT_EQ(first, second);
  X509* other = minter->leaf_for("other.test", &minted);
  EXPECT_TRUE(minted);
  EXPECT_NE(other, first);
  EXPECT_EQ(minter->cached_leaves(), 2u);
  // Distinct leaves have distinct serials.
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(first), X509_get0_serialNumber(other)), 0);
}

TEST(CertMinterTest, TheCacheStaysBoundedAndEvictsTheLeastRecentlyUsed) {
  LocalCa ca = make_ca();
  auto minter = make_minter(ca);
  ASSERT_NE(minter->leaf_for("keep.test", nullptr), nullptr);
  const size_t names = CertMinter::kMaxCachedLeaves + 10;
  for (size_t i = 0; i < names; ++i) {
    ASSERT_NE(minter->leaf_for(numbered_name(i), nullptr), nullptr);
    // keep.test is used often, so it is never the least recently used.
    if (i % 100 == 0) {
      ASSERT_NE(minter->leaf_for("keep.test", nullptr), nullptr);
    }
    ASSERT_LE(minter->cached_leaves(), CertMinter::kMaxCachedLeaves);
  }
  EXPECT_EQ(minter->cached_leaves(), CertMinter::kMaxCachedLeaves);
  bool minted = true;
  minter->leaf_for("keep.test", &minted);
  EXPECT_FALSE(minted);
  minter->leaf_for(numbered_name(names - 1), &minted);
  EXPECT_FALSE(minted);
  minter->leaf_for("n0.test", &minted);  // the oldest, evicted
  EXPECT_TRUE(minted);
  EXPECT_EQ(minter->cached_leaves(), CertMinter::kMaxCachedLeaves);
}

TEST(CertMinterTest, AnUnmintableNameGetsNoLeaf) {
  LocalCa ca = make_ca();
  auto minter = make_minter(ca);
  bool minted = true;
  EXPECT_EQ(minter->leaf_for("Bad_Name", &minted), nullptr);
  EXPECT_FALSE(minted);
  EXPECT_EQ(minter->cached_leaves(), 0u);
}

TEST(CertMinterTest, MintableNames) {
  for (const char* name : {"backend.test", "a", "a-b.c0", "xn--bcher-kva.example", "127.0.0.1",
                           "::1", "2001:db8::1"}) {
    EXPECT_TRUE(is_mintable_name(name)) << name;
  }
  std::string longest_label(63, 'a');
  EXPECT_TRUE(is_mintable_name(longest_label + ".test"));
  std::string name_253;
  while (name_253.size() < 253) {
    if (!name_253.empty()) name_253.push_back('.');
    name_253.append(9, 'b');
  }
  name_253.resize(253);
  ASSERT_NE(name_253.back(), '.');
  EXPECT_TRUE(is_mintable_name(name_253));

  EXPECT_FALSE(is_mintable_name(""));
  EXPECT_FALSE(is_mintable_name("Backend.test"));
  EXPECT_FALSE(is_mintable_name("BACKEND"));
  EXPECT_FALSE(is_mintable_name(name_253 + "b"));
  EXPECT_FALSE(is_mintable_name(std::string(64, 'a') + ".test"));
  EXPECT_FALSE(is_mintable_name(std::string("\x00", 1)));
  EXPECT_FALSE(is_mintable_name(std::string("a\x00.test", 7)));
  EXPECT_FALSE(is_mintable_name(std::string("127.0.0.1\x00", 10)));
  EXPECT_FALSE(is_mintable_name("a..b"));
  EXPECT_FALSE(is_mintable_name(".a"));
  EXPECT_FALSE(is_mintable_name("a."));
  EXPECT_FALSE(is_mintable_name("-a"));
  EXPECT_FALSE(is_mintable_name("a-"));
  EXPECT_FALSE(is_mintable_name("a_b.test"));
  EXPECT_FALSE(is_mintable_name("*.test"));
  EXPECT_FALSE(is_mintable_name("a b"));
  EXPECT_FALSE(is_mintable_name("a,DNS:evil.test"));
  EXPECT_FALSE(is_mintable_name("backend.test:443"));
  EXPECT_FALSE(is_mintable_name("[::1]"));
  EXPECT_FALSE(is_mintable_name("fe80::1%eth0"));
  EXPECT_FALSE(
      is_mintable_name("b\xc3\xbc"
                       "cher.test"));
}

TEST(CertMinterTest, CreateRefusesACertificateThatIsNotACa) {
  LocalCa ca = make_ca();
  auto minter = make_minter(ca);
  X509* leaf = minter->leaf_for("backend.test", nullptr);
  ASSERT_NE(leaf, nullptr);
  auto refused = CertMinter::create(UniqueX509(X509_dup(leaf)),
                                    UniqueEvpPkey(EVP_PKEY_dup(minter->leaf_key())));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("not a CA"), std::string::npos) << refused.error().message;
}

TEST(CertMinterTest, CreateRefusesAKeyThatDoesNotMatch) {
  LocalCa ca = make_ca();
  LocalCa other = make_ca();
  auto refused = CertMinter::create(std::move(ca.certificate), std::move(other.key));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("does not match"), std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(CertMinter::create(nullptr, nullptr).ok());
}

TEST(CertMinterTest, LocalCaIsAConstrainedCa) {
  LocalCa ca = make_ca();
  X509* cert = ca.certificate.get();
  EXPECT_GE(X509_check_ca(cert), 1);
  EXPECT_EQ(X509_check_private_key(cert, ca.key.get()), 1);
  EXPECT_EQ(X509_get_key_usage(cert), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(X509_get_pathlen(cert), 0);
  EXPECT_NE(X509_get0_subject_key_id(cert), nullptr);
  EXPECT_EQ(X509_verify(cert, ca.key.get()), 1);  // self-signed
  time_t in_29_days = std::time(nullptr) + 29 * 86400;
  time_t in_31_days = std::time(nullptr) + 31 * 86400;
  EXPECT_EQ(X509_cmp_time(X509_get0_notAfter(cert), &in_29_days), 1);
  EXPECT_EQ(X509_cmp_time(X509_get0_notAfter(cert), &in_31_days), -1);
  EXPECT_FALSE(create_local_ca("x", 0).ok());
}

TEST(CertMinterTest, PemTextRoundTrips) {
  LocalCa ca = make_ca();
  std::string cert_pem = certificate_pem(ca.certificate.get());
  std::string key_pem = private_key_pem(ca.key.get());
  EXPECT_EQ(cert_pem.rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  EXPECT_EQ(key_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);  // PKCS#8, unencrypted
  BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  UniqueX509 read_back(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  ASSERT_TRUE(read_back);
  EXPECT_EQ(X509_cmp(read_back.get(), ca.certificate.get()), 0);
  bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  UniqueEvpPkey key_back(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  ASSERT_TRUE(key_back);
  EXPECT_EQ(X509_check_private_key(ca.certificate.get(), key_back.get()), 1);
}

// The openssl command line, an independent verifier, accepts the leaves too.
TEST(CertMinterTest, OpensslVerifyAcceptsMintedLeaves) {
  if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl CLI";
  LocalCa ca = make_ca();
  auto minter = make_minter(ca);
  test_support::TempDir dir("cert-minter");
  ASSERT_TRUE(write_file(dir.file("ca.pem"), certificate_pem(ca.certificate.get())));
  struct Case {
    const char* name;
    const char* flag;
  };
  for (Case c : {Case{"backend.test", "-verify_hostname"}, Case{"127.0.0.1", "-verify_ip"}}) {
    ASSERT_TRUE(
        write_file(dir.file("leaf.pem"), certificate_pem(minter->leaf_for(c.name, nullptr))));
    std::string base =
        "openssl verify -x509_strict -purpose sslserver -CAfile " + dir.file("ca.pem");
    std::string good =
        base + " " + c.flag + " " + c.name + " " + dir.file("leaf.pem") + " >/dev/null 2>&1";
    EXPECT_EQ(std::system(good.c_str()), 0) << good;
    std::string wrong = base + " " + c.flag + " " +
                        (std::string(c.flag) == "-verify_ip" ? "10.9.9.9" : "other.test") + " " +
                        dir.file("leaf.pem") + " >/dev/null 2>&1";
    EXPECT_NE(std::system(wrong.c_str()), 0) << wrong;
  }
}

}  // namespace
}  // namespace mcptap::proxy

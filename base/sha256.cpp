// SHA-256 through libcrypto's EVP interface, with the digest algorithm fetched once.
#include "base/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "base/log.h"

namespace mcptap::base {
namespace {

[[noreturn]] void die(const char* what) {
  log_error("libcrypto SHA-256 failed", {{"call", what}});
  std::abort();
}

// Fetching resolves the provider's implementation; doing it per hasher would take a lock
// and a lookup each time. The fetched algorithm lives as long as the process.
const EVP_MD* sha256_algorithm() {
  static const EVP_MD* const algorithm = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) die("EVP_MD_fetch");
    return fetched;
  }();
  return algorithm;
}

}  // namespace

void Sha256::ContextFree::operator()(evp_md_ctx_st* context) const noexcept {
  EVP_MD_CTX_free(context);
}

Sha256::Sha256(const Sha256& other) {
  *this = other;
}

Sha256& Sha256::operator=(const Sha256& other) {
  if (this == &other) return *this;
  started_ = false;
  if (!other.started_) return *this;
  if (!context_) context_.reset(EVP_MD_CTX_new());
  if (!context_) die("EVP_MD_CTX_new");
  if (EVP_MD_CTX_copy_ex(context_.get(), other.context_.get()) != 1) die("EVP_MD_CTX_copy_ex");
  started_ = true;
  return *this;
}

void Sha256::start() {
  if (!context_) context_.reset(EVP_MD_CTX_new());
  if (!context_) die("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(context_.get(), sha256_algorithm(), nullptr) != 1) die("EVP_DigestInit_ex");
  started_ = true;
}

void Sha256::update(std::string_view bytes) {
  if (!started_) start();
  if (EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size()) != 1) die("EVP_DigestUpdate");
}

std::array<uint8_t, 32> Sha256::finish() {
  if (!started_) start();  // the digest of no bytes at all
  std::array<uint8_t, 32> digest;
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_.get(), digest.data(), &length) != 1 || length != digest.size())
    die("EVP_DigestFinal_ex");
  started_ = false;  // the next update starts a new message; the context is reused
  return digest;
}

std::string Sha256::finish_hex() {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  std::array<uint8_t, 32> digest = finish();
  std::string hex(64, '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = kHexDigits[digest[i] >> 4];
    hex[2 * i + 1] = kHexDigits[digest[i] & 0x0f];
  }
  return hex;
}

}  // namespace mcptap::base

// Streaming SHA-256, for fingerprinting messages too large to keep whole.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace mcptap::base {

// libcrypto's SHA-256 behind the hasher's interface. The digest context is allocated on
// the first update, so a hasher that is declared but never fed costs nothing. A failure
// inside libcrypto (out of memory) is logged and aborts: a wrong digest is never returned.
class Sha256 {
 public:
  Sha256() = default;
  Sha256(const Sha256& other);
  Sha256& operator=(const Sha256& other);
  // A moved-from hasher is empty, as if just constructed.
  Sha256(Sha256&& other) noexcept
      : context_(std::move(other.context_)), started_(std::exchange(other.started_, false)) {}
  Sha256& operator=(Sha256&& other) noexcept {
    context_ = std::move(other.context_);
    started_ = std::exchange(other.started_, false);
    return *this;
  }
  ~Sha256() = default;

  void update(std::string_view bytes);
  // Both finish the digest and reset the hasher, so it can hash the next input.
  std::array<uint8_t, 32> finish();
  std::string finish_hex();

 private:
  struct ContextFree {
    void operator()(evp_md_ctx_st* context) const noexcept;
  };
  void start();

  std::unique_ptr<evp_md_ctx_st, ContextFree> context_;
  bool started_ = false;  // DigestInit done since the last finish
};

}  // namespace mcptap::base

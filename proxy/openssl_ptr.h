// Owning pointers for OpenSSL objects, and the one way its error queue is read.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace mcptap::proxy {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* object) const { Free(object); }
};

using UniqueSslCtx = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX, SSL_CTX_free>>;
using UniqueSsl = std::unique_ptr<SSL, OpenSslDeleter<SSL, SSL_free>>;
using UniqueX509 = std::unique_ptr<X509, OpenSslDeleter<X509, X509_free>>;
using UniqueEvpPkey = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using UniqueSslSession =
    std::unique_ptr<SSL_SESSION, OpenSslDeleter<SSL_SESSION, SSL_SESSION_free>>;

// The thread's queued OpenSSL errors as one bounded line ("" when there are none), and the
// queue cleared. The one loop thread shares one queue across every connection: every call
// that can fail clears it before and drains it after, so no error is blamed on the wrong
// connection.
std::string drain_openssl_errors();

}  // namespace mcptap::proxy

// Fuzzes the TLS adapter's read path: arbitrary bytes, in chunks, into receive() of a server
// (termination), a client that has sent its ClientHello, or an intercepting server that mints
// a leaf for whatever SNI the bytes carry. Contexts are built once, from a CA made in-process.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "proxy/cert_minter.h"
#include "proxy/tls_adapter.h"
#include "proxy/tls_context.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using mcptap::proxy::BufferPool;
using mcptap::proxy::PooledBuffer;
using mcptap::proxy::TlsAdapter;

class DiscardingSink : public TlsAdapter::Sink {
 public:
  explicit DiscardingSink(BufferPool& pool) : pool_(pool) {}
  bool on_plaintext(PooledBuffer* buffer, size_t length) override {
    if (length == 0 || length != buffer->length) __builtin_trap();
    pool_.release(buffer);
    return true;
  }
  bool on_ciphertext(PooledBuffer* buffer, size_t length) override {
    if (length == 0 || length != buffer->length) __builtin_trap();
    pool_.release(buffer);
    return true;
  }

 private:
  BufferPool& pool_;
};

void write_file(const std::string& path, const std::string& text) {
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) __builtin_trap();
  std::fwrite(text.data(), 1, text.size(), file);
  std::fclose(file);
  ::chmod(path.c_str(), 0600);
}

struct Contexts {
  std::shared_ptr<mcptap::proxy::TlsServerContext> server;
  std::shared_ptr<mcptap::proxy::TlsServerContext> intercept;
  std::shared_ptr<mcptap::proxy::TlsClientContext> client;
};

// The contexts load from files, as in the proxy: written to a private directory once, and
// removed as soon as they are loaded.
Contexts make_contexts() {
  auto ca = mcptap::proxy::create_local_ca("mcptap fuzz CA", 30);
  if (!ca.ok()) __builtin_trap();
  auto minter =
      mcptap::proxy::CertMinter::create(mcptap::proxy::UniqueX509(X509_dup(ca->certificate.get())),
                                        mcptap::proxy::UniqueEvpPkey(EVP_PKEY_dup(ca->key.get())));
  if (!minter.ok()) __builtin_trap();
  bool minted = false;
  X509* leaf = (*minter)->leaf_for("localhost", &minted);
  if (leaf == nullptr) __builtin_trap();

  const char* tmp = getenv("TMPDIR");
  std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/mcptap-fuzz-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) __builtin_trap();
  const std::string files[] = {dir + "/ca.crt", dir + "/ca.key", dir + "/leaf.crt",
                               dir + "/leaf.key"};
  write_file(files[0], mcptap::proxy::certificate_pem(ca->certificate.get()));
  write_file(files[1], mcptap::proxy::private_key_pem(ca->key.get()));
  write_file(files[2], mcptap::proxy::certificate_pem(leaf));
  write_file(files[3], mcptap::proxy::private_key_pem((*minter)->leaf_key()));

  Contexts contexts;
  mcptap::proxy::ListenTls listen;
  listen.cert_file = files[2];
  listen.key_file = files[3];
  auto server = mcptap::proxy::TlsServerContext::load("fuzz", listen);
  mcptap::proxy::ListenTls intercept;
  intercept.intercept = mcptap::proxy::InterceptCa{files[0], files[1]};
  auto intercepting = mcptap::proxy::TlsServerContext::load("fuzz", intercept);
  mcptap::proxy::UpstreamTls upstream;
  upstream.ca_file = files[0];
  upstream.alpn = {"http/1.1"};
  auto client = mcptap::proxy::TlsClientContext::load("fuzz", upstream);
  for (const std::string& file : files) ::unlink(file.c_str());
  ::rmdir(dir.c_str());
  if (!server.ok() || !intercepting.ok() || !client.ok()) __builtin_trap();
  contexts.server = *server;
  contexts.intercept = *intercepting;
  contexts.client = *client;
  return contexts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Contexts contexts = make_contexts();
  static BufferPool pool(16384);
  mcptap::fuzz::FuzzInput input(data, size);
  uint8_t options = input.byte();
  DiscardingSink sink(pool);
  std::unique_ptr<TlsAdapter> adapter;
  switch (options % 3) {
    case 0:
      adapter = TlsAdapter::accept(contexts.server, "127.0.0.1", pool, sink);
      break;
    case 1: {
      mcptap::proxy::TlsTarget target{
          "localhost", "localhost", false, "fuzz:443|localhost", {"http/1.1"}};
      adapter = TlsAdapter::connect(contexts.client, target, pool, sink);
      break;
    }
    default:
      adapter = TlsAdapter::accept(contexts.intercept, "10.0.0.1", pool, sink);
      break;
  }
  if (!adapter) return 0;
  adapter->start();
  TlsAdapter::State state = adapter->state();
  while (!input.empty() && state != TlsAdapter::State::Failed &&
         state != TlsAdapter::State::PeerClosed) {
    state = adapter->receive(input.chunk());
    if (state == TlsAdapter::State::Open && (options & 4) != 0) state = adapter->send("pong");
  }
  if (state == TlsAdapter::State::Failed && mcptap::proxy::to_string(adapter->failure()).empty()) {
    __builtin_trap();
  }
  if (state == TlsAdapter::State::Open) adapter->summary();
  adapter->send_close_notify();
  adapter.reset();
  if (pool.buffers_in_use() != 0) __builtin_trap();
  return 0;
}

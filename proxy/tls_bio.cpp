// A source/sink BIO that reads from the adapter's current input span and writes into its
// pooled output buffers. Unlike BIO_s_mem, it keeps no buffer of its own, so an idle
// connection holds nothing here, and each byte is copied once each way.
#include "proxy/tls_bio.h"

#include <openssl/bio.h>

#include <climits>

namespace mcptap::proxy {
namespace {

TlsBioEnds* ends_of(BIO* bio) {
  return static_cast<TlsBioEnds*>(BIO_get_data(bio));
}

int bio_read(BIO* bio, char* out, size_t capacity, size_t* read) {
  BIO_clear_retry_flags(bio);
  TlsBioEnds* ends = ends_of(bio);
  size_t copied = ends == nullptr ? 0 : ends->read_input(out, capacity);
  if (copied == 0) {
    // Never EOF: the Session decides what the end of the TCP stream means.
    BIO_set_retry_read(bio);
    *read = 0;
    return 0;
  }
  *read = copied;
  return 1;
}

int bio_write(BIO* bio, const char* bytes, size_t length, size_t* written) {
  BIO_clear_retry_flags(bio);
  TlsBioEnds* ends = ends_of(bio);
  if (ends == nullptr || !ends->write_output(bytes, length)) {
    *written = 0;
    return 0;
  }
  *written = length;
  return 1;
}

long bio_ctrl(BIO* /*bio*/, int command, long /*number*/, void* /*pointer*/) {
  // SSL flushes after every flight; the adapter hands output over at the end of each call.
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int bio_destroy(BIO* bio) {
  BIO_set_data(bio, nullptr);
  return 1;
}

BIO_METHOD* method() {
  // Built once and kept for the life of the process; every adapter's BIO shares it.
  static BIO_METHOD* const shared = [] {
    BIO_METHOD* built = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mcptap");
    if (built == nullptr) return built;
    BIO_meth_set_read_ex(built, bio_read);
    BIO_meth_set_write_ex(built, bio_write);
    BIO_meth_set_ctrl(built, bio_ctrl);
    BIO_meth_set_create(built, bio_create);
    BIO_meth_set_destroy(built, bio_destroy);
    return built;
  }();
  return shared;
}

}  // namespace

BIO* new_tls_bio(TlsBioEnds* ends) {
  BIO_METHOD* shared = method();
  if (shared == nullptr) return nullptr;
  BIO* bio = BIO_new(shared);
  if (bio != nullptr) BIO_set_data(bio, ends);
  return bio;
}

}  // namespace mcptap::proxy

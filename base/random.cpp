// random_bytes over RAND_bytes.
#include "base/random.h"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <climits>
#include <cstdlib>

#include "base/log.h"

namespace mcptap::base {

void random_bytes(void* out, size_t length) {
  auto* bytes = static_cast<unsigned char*>(out);
  // RAND_bytes takes an int length, so very large requests go in pieces.
  while (length > 0) {
    int chunk = length > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(length);
    if (RAND_bytes(bytes, chunk) != 1) {
      char reason[256];
      ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
      log_error("no random bytes from libcrypto", {{"reason", reason}});
      std::abort();
    }
    bytes += chunk;
    length -= static_cast<size_t>(chunk);
  }
}

}  // namespace mcptap::base

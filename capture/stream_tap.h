// What the proxy tells capture about one proxied connection: a tee of each direction's bytes.
#pragma once

#include <string_view>

#include "capture/record.h"
#include "capture/tls_summary.h"

namespace mcptap::capture {

// Called on the loop thread, synchronously, before the bytes are written to the other
// side, so a message is recorded before its last byte is forwarded. Implementations must
// never block and must stay O(bytes); they cannot alter or hold up the forwarded bytes.
class StreamTap {
 public:
  virtual ~StreamTap() = default;
  virtual void on_bytes(Direction direction, std::string_view bytes) = 0;
  // The side that sends in `direction` half-closed (EOF); no more bytes that way.
  virtual void on_end(Direction direction) = 0;
  // Every TLS handshake of the connection is done, before its first plaintext byte: the
  // records that follow carry it in meta.tls. Never called for a connection without TLS.
  virtual void on_tls(const TlsSummary& /*summary*/) {}
  // The connection is gone; pending state can be released.
  virtual void on_close() = 0;
};

}  // namespace mcptap::capture

// RFC 6455 frame decoder for one direction of a WebSocket connection: bytes in, messages out.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "capture/permessage_deflate.h"

namespace mcptap::capture {

// One complete data message (text or binary), reassembled from its frames and inflated.
struct WebSocketMessage {
  uint8_t opcode = 1;       // 1 = text, 2 = binary (the opcode of the first frame)
  std::string payload;      // at most max_payload_bytes of the (inflated) message
  uint64_t size = 0;        // full (inflated) size, even when payload was cut
  uint64_t wire_bytes = 0;  // bytes of all its frames on the wire, headers included
  uint32_t frames = 0;      // data frames it was made of
  bool compressed = false;  // RSV1 was set (permessage-deflate)
  bool truncated = false;   // payload holds only the first max_payload_bytes
  std::string sha256_hex;   // SHA-256 of the full (inflated) message; set when truncated
};

class WebSocketDecoder {
 public:
  struct Options {
    bool from_client = true;                 // client frames must be masked, server's must not
    std::optional<DeflateParams> deflate;    // negotiated permessage-deflate, if any
    uint64_t max_payload_bytes = 16u << 20;  // capture cap per message; the rest is hashed only
  };
  enum class Status { Ok, Closed, Failed };
  using MessageCallback = std::function<void(WebSocketMessage&&)>;

  explicit WebSocketDecoder(Options options);
  ~WebSocketDecoder();

  // Consumes any number of bytes (a frame may be split anywhere). Calls on_message for each
  // data message completed by these bytes. Memory stays bounded by max_payload_bytes plus
  // the inflate window, whatever the message size. After Closed (a close frame was seen) or
  // Failed (a protocol violation; see failure) further bytes are ignored.
  //
  // With capture_new_messages false, a data message starting in these bytes is only
  // followed: its frames are checked and counted (and inflated when the compression
  // context needs it) but not unmasked, kept, hashed or delivered. Capture that is
  // switched off costs next to nothing this way, and a message started while it was off
  // is never delivered half.
  Status feed(std::string_view bytes, const MessageCallback& on_message,
              bool capture_new_messages = true);
  // Why feed returned Failed ("unmasked client frame", "inflate: invalid distance too far
  // back"); empty before that.
  const base::Error& failure() const;
  // Bytes reserved for the message in progress (its captured payload): at most
  // max_payload_bytes (or std::string's small minimum, for tinier caps). The fixed buffers
  // and the inflate window come on top.
  uint64_t buffered_bytes() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mcptap::capture

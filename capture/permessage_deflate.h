// permessage-deflate (RFC 7692): the negotiated parameters and a bounded streaming inflater.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace mcptap::capture {

struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;
  int client_max_window_bits = 15;
};

// Reads the Sec-WebSocket-Extensions value of a server's 101 response (what was agreed).
// Holds nullopt when permessage-deflate was not accepted; fails when the header names it
// with parameters that make no sense (capture then cannot follow the stream).
base::Result<std::optional<DeflateParams>> parse_permessage_deflate(
    std::string_view extensions_header);

// Inflates the messages of one direction, keeping the LZ77 window between messages unless
// no_context_takeover was agreed. After an error ("inflate: ..." with zlib's reason) feed
// and finish_message return that same error and do nothing more.
class MessageInflater {
 public:
  MessageInflater(int max_window_bits, bool no_context_takeover);
  ~MessageInflater();

  using OutputCallback = std::function<void(std::string_view chunk)>;
  // Feeds compressed bytes of the current message; output goes to on_output in chunks.
  base::Status feed(std::string_view compressed, const OutputCallback& on_output);
  // Ends the message (appends the 00 00 ff ff tail of RFC 7692 section 7.2.2).
  base::Status finish_message(const OutputCallback& on_output);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mcptap::capture

// The fast path of read_jsonrpc_envelope(): one hand-written pass over the text that
// validates it as nlohmann's parser does, without building a string per token.
#pragma once

#include <optional>
#include <string_view>

#include "capture/jsonrpc_envelope.h"
#include "capture/redactor.h"

namespace mcptap::capture {

// The envelope of text, or nullopt when this pass cannot say: the text is not JSON (or
// nests deeper than max_depth), or holds something it leaves to the general path (a key
// with an escape, a byte order mark). The general path then decides, and explains why.
std::optional<JsonRpcEnvelope> scan_jsonrpc_envelope(std::string_view text, int max_depth,
                                                     const Redactor& redactor);

}  // namespace mcptap::capture

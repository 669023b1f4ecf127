// The envelope of a JSON-RPC message: the members classification and correlation read,
// without the bulk (tool arguments, results) that a full document would hold.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "capture/redactor.h"

namespace mcptap::capture {

struct JsonRpcEnvelope {
  // The message with only what classify_jsonrpc() and the request's params._meta need:
  // per message object its id and method, params reduced to _meta, progressToken and
  // requestId, and result/error present as null. classify_jsonrpc(document) gives what it
  // gives on the whole message.
  nlohmann::json document;
  // Something in the message is a secret to the redactor (a secret key, a string it would
  // change). The envelope then stops early and is incomplete: redact the whole document.
  bool needs_redaction = false;
};

// One pass over text, validating it as the depth-bounded parser does. Returns nullopt for
// text that is not JSON or nests deeper than max_depth, with the same *error as
// parse_json_bounded(); an envelope with needs_redaction may come from text that would
// fail further on.
//
// Tries the hand-written scan (envelope_scanner.h) first, and parse_jsonrpc_envelope()
// for anything it leaves: the two give the same envelope wherever both answer.
std::optional<JsonRpcEnvelope> read_jsonrpc_envelope(std::string_view text, int max_depth,
                                                     const Redactor& redactor, std::string* error);

// The general path: nlohmann's parser driving an envelope builder; its errors are the
// parser's own.
std::optional<JsonRpcEnvelope> parse_jsonrpc_envelope(std::string_view text, int max_depth,
                                                      const Redactor& redactor,
                                                      std::string* error);

}  // namespace mcptap::capture

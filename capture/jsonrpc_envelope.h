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
  // per message object its id and method; params reduced to _meta, progressToken,
  // requestId and what extract_operation_facts() reads (name, uri, taskId, status,
  // protocolVersion, clientInfo, task as {}, the keys of inputResponses and of
  // inputRequests with each one's method), every string bounded as it bounds it; error as
  // {"code": n} (null when not an object); result as null when not an object, else with
  // only "isError": true (a tool failure) and the members operation facts read.
  // classify_jsonrpc(document) gives what it gives on the whole message, its facts
  // included, except request_state_sha256 (below).
  nlohmann::json document;
  // Something in the message is a secret to the redactor (a secret key, a string it would
  // change). The envelope then stops early and is incomplete: redact the whole document.
  bool needs_redaction = false;
  // Hex SHA-256 of the (decoded) string params.requestState or result.requestState of a
  // single message, hashed in place: the document leaves the state out.
  std::optional<std::string> request_state_sha256;
};

// One hand-written pass over text that accepts exactly what nlohmann's parser accepts
// (RFC 8259, UTF-8 per RFC 3629, numbers a double can hold, max_depth) and looks at each
// string in place. Returns nullopt when it cannot say: text that is not JSON or nests too
// deep, or that holds what it leaves to the whole document (a key with an escape, a byte
// order mark). The caller then parses the whole document, which also says why a text is
// refused. An envelope with needs_redaction may come from text that fails further on.
std::optional<JsonRpcEnvelope> read_jsonrpc_envelope(std::string_view text, int max_depth,
                                                     const Redactor& redactor);

}  // namespace mcptap::capture

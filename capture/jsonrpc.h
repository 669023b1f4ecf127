// JSON-RPC 2.0 classification of one parsed message: what it is and what it refers to.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "capture/operation_facts.h"
#include "capture/record.h"

namespace mcptap::capture {

struct ClassifiedMessage {
  Kind kind = Kind::Invalid;
  std::optional<std::string> id_text;  // the id as JSON text (1 and "1" differ); null id = "null"
  std::optional<std::string> method;   // requests and notifications
  // JSON text of the progress token a request announces in params._meta.progressToken,
  // or that a notifications/progress carries in params.progressToken.
  std::optional<std::string> progress_token;
  // JSON text of params.requestId of a notifications/cancelled.
  std::optional<std::string> cancelled_request_id;
  // A response whose result has "isError": true at its top level: MCP's way of saying a
  // tool call failed while the JSON-RPC exchange succeeded. Only the boolean true counts.
  bool tool_error = false;
  std::string invalid_reason;  // set when kind == Invalid
  // What links the message to the other exchanges of its operation (single messages and
  // batch items alike).
  OperationFacts facts;
  // Set when kind == Batch, one per element in array order; an element that is not a
  // single message (a scalar, a nested array) is an Invalid item.
  std::vector<ClassifiedMessage> batch_items;
};

ClassifiedMessage classify_jsonrpc(const nlohmann::json& message);

}  // namespace mcptap::capture

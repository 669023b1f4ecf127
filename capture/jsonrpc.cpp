// JSON-RPC 2.0 classification: request, notification, response, error, batch or invalid.
#include "capture/jsonrpc.h"

#include <string_view>

#include "base/json_text.h"
#include "capture/json_members.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

constexpr std::string_view kProgressMethod = "notifications/progress";
constexpr std::string_view kCancelledMethod = "notifications/cancelled";

ClassifiedMessage invalid(std::string reason) {
  ClassifiedMessage message;
  message.kind = Kind::Invalid;
  message.invalid_reason = std::move(reason);
  return message;
}

bool is_valid_id(const json& id) {
  return id.is_string() || id.is_number() || id.is_null();
}

// What a request or notification refers to: the progress token a request announces, the
// token a progress notification reports on, the request a cancellation withdraws.
void read_references(const json& object, ClassifiedMessage& message) {
  const json* params = member(&object, "params");
  if (message.kind == Kind::Request) {
    if (const json* token = member(member(params, "_meta"), "progressToken")) {
      message.progress_token = base::json_text(*token);
    }
    return;
  }
  if (*message.method == kProgressMethod) {
    if (const json* token = member(params, "progressToken")) {
      message.progress_token = base::json_text(*token);
    }
  } else if (*message.method == kCancelledMethod) {
    if (const json* request_id = member(params, "requestId")) {
      message.cancelled_request_id = base::json_text(*request_id);
    }
  }
}

ClassifiedMessage classify_call(const json& object, const json& method, const json* id) {
  if (!method.is_string()) return invalid("method is not a string");
  if (member(&object, "result") || member(&object, "error")) {
    return invalid("method together with result or error");
  }
  ClassifiedMessage message;
  message.kind = id ? Kind::Request : Kind::Notification;
  message.method = method.get_ref<const json::string_t&>();
  if (id) message.id_text = base::json_text(*id);
  read_references(object, message);
  return message;
}

// A reply's shape (error.code, error.message) is not checked: recording it with its
// request is worth more than rejecting a peer's slightly odd error object.
ClassifiedMessage classify_reply(const json* result, const json* error, const json* id) {
  if (result && error) return invalid("both result and error");
  if (!id) return invalid(result ? "result without an id" : "error without an id");
  ClassifiedMessage message;
  message.kind = result ? Kind::Response : Kind::Error;
  message.id_text = base::json_text(*id);
  const json* is_error = member(result, "isError");
  message.tool_error = is_error && is_error->is_boolean() && is_error->get<bool>();
  return message;
}

// One message that is not a batch. The "jsonrpc": "2.0" member is not checked: a peer
// that gets it wrong is still worth recording and correlating.
ClassifiedMessage classify_single(const json& message) {
  if (!message.is_object()) return invalid("not an object");
  const json* id = member(&message, "id");
  if (id && !is_valid_id(*id)) return invalid("id must be a string, number or null");
  if (const json* method = member(&message, "method")) return classify_call(message, *method, id);
  const json* result = member(&message, "result");
  const json* error = member(&message, "error");
  if (result || error) return classify_reply(result, error, id);
  return invalid("neither method nor result/error");
}

// Classification and, for a message that is one, what links it to its operation.
ClassifiedMessage classify_with_facts(const json& message) {
  ClassifiedMessage classified = classify_single(message);
  if (classified.kind != Kind::Invalid) classified.facts = extract_operation_facts(message);
  return classified;
}

ClassifiedMessage classify_batch(const json& batch) {
  if (batch.empty()) return invalid("empty batch");
  ClassifiedMessage message;
  message.kind = Kind::Batch;
  message.batch_items.reserve(batch.size());
  for (const json& item : batch) {
    // JSON-RPC has no batches inside batches; an array element is one invalid item.
    message.batch_items.push_back(item.is_array() ? invalid("batch inside a batch")
                                                  : classify_with_facts(item));
  }
  return message;
}

}  // namespace

ClassifiedMessage classify_jsonrpc(const nlohmann::json& message) {
  if (message.is_array()) return classify_batch(message);
  return classify_with_facts(message);
}

}  // namespace mcptap::capture

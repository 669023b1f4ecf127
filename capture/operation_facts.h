// What operation linking reads from one JSON-RPC message: the names, task ids, request
// states, input requests and client identity that tie several exchanges into one operation
// (MCP multi round-trip requests, tasks, subscriptions). Every string is bounded: the
// values come from the wire.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcptap::capture {

// Longest name (params.name / params.uri) and task id kept as they are; longer ones are
// kept as "sha256:" + the hex SHA-256 of the value, which still compares equal.
constexpr size_t kMaxOperationNameBytes = 1024;
constexpr size_t kMaxTaskIdBytes = 256;
// At most this many input requests (and input response keys) are kept per message.
constexpr size_t kMaxInputsPerMessage = 32;
constexpr size_t kMaxInputKeyBytes = 128;
constexpr size_t kMaxIdentityFieldBytes = 128;
// result_type, task_status and an input's method are cut to this many bytes.
constexpr size_t kMaxWordBytes = 128;

// One input a server asked for in an InputRequiredResult (or a task's input_required state).
struct InputAsked {
  std::string key;     // the key in inputRequests
  std::string method;  // elicitation/create, sampling/createMessage, roots/list, ...
  bool operator==(const InputAsked&) const = default;
};

// Which revision and which client produced a message. Fields are empty when unknown.
struct ClientIdentity {
  std::string protocol_version;
  std::string client_name;
  std::string client_version;
  bool empty() const {
    return protocol_version.empty() && client_name.empty() && client_version.empty();
  }
  bool operator==(const ClientIdentity&) const = default;
};

struct OperationFacts {
  // params.name (tools/call, prompts/get) or params.uri (resources/read, ...).
  std::optional<std::string> name;
  // params.taskId, result.taskId (2026 flat task), result.task.taskId (2025 CreateTaskResult),
  // or params._meta / result._meta "io.modelcontextprotocol/related-task".taskId.
  std::optional<std::string> task_id;
  // A request asks for a task (2025-11-25 task augmentation: params.task is an object).
  bool task_requested = false;
  // Hex SHA-256 of params.requestState (a retry) or result.requestState (an interim answer).
  // Opaque states can be megabytes: only their digest is kept.
  std::optional<std::string> request_state_sha256;
  // Keys of params.inputResponses (a retry), at most kMaxInputsPerMessage.
  std::vector<std::string> input_response_keys;
  bool has_input_responses = false;
  // result.resultType as sent ("complete", "input_required", "task", ...).
  std::optional<std::string> result_type;
  // result.status, result.task.status or params.status (task states).
  std::optional<std::string> task_status;
  // result.inputRequests (or a task's inputRequests): key and method of each.
  std::vector<InputAsked> inputs;
  bool inputs_truncated = false;
  // JSON text of params._meta["io.modelcontextprotocol/subscriptionId"] of a notification.
  std::optional<std::string> subscription_id;
  // error.code when it is an integer.
  std::optional<int64_t> error_code;
  // params._meta io.modelcontextprotocol/{protocolVersion,clientInfo} (2026-07-28), the
  // params of an initialize request, or result.protocolVersion of an initialize answer.
  ClientIdentity identity;
};

// Reads the facts of one message object (not a batch). Works on a whole document and on
// the envelope read_jsonrpc_envelope() builds, with the same result, except
// request_state_sha256, which the envelope reports on its own (it never copies the state).
OperationFacts extract_operation_facts(const nlohmann::json& message);

// The name of a JSON-RPC or MCP error code ("HeaderMismatch", "MethodNotFound", ...), or
// empty when the code has no defined meaning. `tasks_extension` names -32003, the draft
// tasks extension's MissingRequiredClientCapability.
std::string_view error_code_name(int64_t code, bool tasks_extension = false);

// The bounded forms extract_operation_facts() gives to strings from the wire, shared with
// the envelope so that what it keeps in place reads back the same. A name or task id over
// its limit becomes "sha256:" + the hex digest of the whole value; other strings are cut.
std::string bounded_operation_name(std::string_view name);
std::string bounded_task_id(std::string_view task_id);
// The rule under both: `text` itself, or "sha256:" + its hex digest when over max_bytes
// (still equal for equal values, and bounded).
std::string digest_if_longer(std::string_view text, size_t max_bytes);
// The longest prefix of `text` of at most max_bytes that ends on a UTF-8 character boundary.
std::string_view utf8_prefix(std::string_view text, size_t max_bytes);

}  // namespace mcptap::capture

// The operation facts of one message object, read member by member: every member of the
// wrong JSON type is simply absent, and every string kept is bounded.
#include "capture/operation_facts.h"

#include <limits>
#include <map>

#include "base/json_text.h"
#include "base/sha256.h"
#include "capture/json_members.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

constexpr std::string_view kRelatedTask = "io.modelcontextprotocol/related-task";
constexpr std::string_view kSubscriptionId = "io.modelcontextprotocol/subscriptionId";
constexpr std::string_view kMetaProtocolVersion = "io.modelcontextprotocol/protocolVersion";
constexpr std::string_view kMetaClientInfo = "io.modelcontextprotocol/clientInfo";

std::string sha256_hex(std::string_view text) {
  base::Sha256 hasher;
  hasher.update(text);
  return hasher.finish_hex();
}

std::string cut(std::string_view text, size_t max_bytes) {
  return std::string(utf8_prefix(text, max_bytes));
}

bool method_is(const json* method, std::string_view name) {
  return method != nullptr && method->is_string() &&
         method->get_ref<const json::string_t&>() == name;
}

// A task's own status notification carries the task as its params.
bool carries_task_in_params(const json* method) {
  return method_is(method, "notifications/tasks/status") ||
         method_is(method, "notifications/tasks");
}

// The keys of an inputRequests or inputResponses object cut to kMaxInputKeyBytes, at most
// `limit` of them: the smallest cut keys, as a map orders them. Keys that are the same once
// cut are one entry, whose method is then unknown (empty): which key it stood for is lost.
// The envelope keeps its entries by the same rule, so both read back alike.
std::map<std::string, std::string, std::less<>> cut_keys(const json& object, size_t limit) {
  std::map<std::string, std::string, std::less<>> keys;
  for (const auto& [key, value] : object.get_ref<const json::object_t&>()) {
    std::string_view cut_key = utf8_prefix(key, kMaxInputKeyBytes);
    if (auto found = keys.find(cut_key); found != keys.end()) {
      found->second.clear();
      continue;
    }
    if (keys.size() == limit) {
      auto largest = std::prev(keys.end());
      if (cut_key >= largest->first) continue;
      keys.erase(largest);
    }
    const std::string* method = string_member(&value, "method");
    keys.emplace(std::string(cut_key), method ? cut(*method, kMaxWordBytes) : std::string());
  }
  return keys;
}

void read_inputs(const json& requests, OperationFacts& facts) {
  // One more than kept, to tell that some were left out.
  auto keys = cut_keys(requests, kMaxInputsPerMessage + 1);
  facts.inputs_truncated = keys.size() > kMaxInputsPerMessage;
  for (auto& [key, method] : keys) {
    if (facts.inputs.size() == kMaxInputsPerMessage) break;
    facts.inputs.push_back({key, method});
  }
}

void read_input_responses(const json& responses, OperationFacts& facts) {
  facts.has_input_responses = true;
  for (auto& entry : cut_keys(responses, kMaxInputsPerMessage)) {
    facts.input_response_keys.push_back(entry.first);
  }
}

const std::string* related_task_id(const json* owner) {
  return string_member(object_member(object_member(owner, "_meta"), kRelatedTask), "taskId");
}

void read_task(const json* params, const json* result, const json* method, OperationFacts& facts) {
  const json* task = object_member(result, "task");
  for (const std::string* task_id :
       {string_member(params, "taskId"), string_member(result, "taskId"),
        string_member(task, "taskId"), related_task_id(params), related_task_id(result)}) {
    if (task_id == nullptr) continue;
    facts.task_id = bounded_task_id(*task_id);
    break;
  }
  facts.task_requested = object_member(params, "task") != nullptr;
  const std::string* status = string_member(result, "status");
  if (status == nullptr) status = string_member(task, "status");
  if (status == nullptr && carries_task_in_params(method)) status = string_member(params, "status");
  if (status != nullptr) facts.task_status = cut(*status, kMaxWordBytes);
}

void read_identity(const json* params, const json* result, const json* method,
                   OperationFacts& facts) {
  const bool initialize = method_is(method, "initialize");
  const json* meta = object_member(params, "_meta");
  const std::string* version = string_member(meta, kMetaProtocolVersion);
  if (version == nullptr && initialize) version = string_member(params, "protocolVersion");
  // An initialize answer: the negotiated revision, beside the server's info or capabilities.
  if (version == nullptr && method == nullptr && result != nullptr &&
      (object_member(result, "serverInfo") || object_member(result, "capabilities"))) {
    version = string_member(result, "protocolVersion");
  }
  if (version != nullptr) facts.identity.protocol_version = cut(*version, kMaxIdentityFieldBytes);
  const json* client = object_member(meta, kMetaClientInfo);
  if (client == nullptr && initialize) client = object_member(params, "clientInfo");
  if (const std::string* name = string_member(client, "name")) {
    facts.identity.client_name = cut(*name, kMaxIdentityFieldBytes);
  }
  if (const std::string* client_version = string_member(client, "version")) {
    facts.identity.client_version = cut(*client_version, kMaxIdentityFieldBytes);
  }
}

std::optional<int64_t> error_code_of(const json& message) {
  const json* code = member(object_member(&message, "error"), "code");
  if (code == nullptr || !code->is_number_integer()) return std::nullopt;
  if (code->is_number_unsigned()) {
    uint64_t value = code->get<uint64_t>();
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(value);
  }
  return code->get<int64_t>();
}

}  // namespace

std::string_view utf8_prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  // Back off over continuation bytes (10xxxxxx) to the start of the character cut in two.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

std::string digest_if_longer(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return "sha256:" + sha256_hex(text);
}

std::string bounded_operation_name(std::string_view name) {
  return digest_if_longer(name, kMaxOperationNameBytes);
}

std::string bounded_task_id(std::string_view task_id) {
  return digest_if_longer(task_id, kMaxTaskIdBytes);
}

OperationFacts extract_operation_facts(const nlohmann::json& message) {
  OperationFacts facts;
  if (!message.is_object()) return facts;
  const json* method = member(&message, "method");
  const json* params = object_member(&message, "params");
  const json* result = object_member(&message, "result");

  const std::string* name = string_member(params, "name");
  if (name == nullptr) name = string_member(params, "uri");
  if (name != nullptr) facts.name = bounded_operation_name(*name);

  read_task(params, result, method, facts);

  const std::string* state = string_member(params, "requestState");
  if (state == nullptr) state = string_member(result, "requestState");
  if (state != nullptr) facts.request_state_sha256 = sha256_hex(*state);

  if (const json* responses = object_member(params, "inputResponses")) {
    read_input_responses(*responses, facts);
  }
  if (const std::string* result_type = string_member(result, "resultType")) {
    facts.result_type = cut(*result_type, kMaxWordBytes);
  }
  // An interim answer or a task's input_required state; a task notification inlines them
  // in its params.
  const json* requests = object_member(result, "inputRequests");
  if (requests == nullptr && carries_task_in_params(method)) {
    requests = object_member(params, "inputRequests");
  }
  if (requests != nullptr) read_inputs(*requests, facts);

  const json* subscription = member(object_member(params, "_meta"), kSubscriptionId);
  if (subscription != nullptr && (subscription->is_string() || subscription->is_number_integer())) {
    facts.subscription_id = base::json_text(*subscription);
  }
  facts.error_code = error_code_of(message);
  read_identity(params, result, method, facts);
  return facts;
}

std::string_view error_code_name(int64_t code, bool tasks_extension) {
  switch (code) {
    case -32020:
      return "HeaderMismatch";
    case -32021:
      return "MissingRequiredClientCapability";
    case -32022:
      return "UnsupportedProtocolVersion";
    case -32700:
      return "ParseError";
    case -32600:
      return "InvalidRequest";
    case -32601:
      return "MethodNotFound";
    case -32602:
      return "InvalidParams";
    case -32603:
      return "InternalError";
    case -32002:
      return "ResourceNotFound";
    case -32042:
      return "URLElicitationRequired";
    case -32003:
      // The draft tasks extension's code for a missing capability, from before the core
      // renumbered it; elsewhere -32000..-32019 mean nothing defined.
      return tasks_extension ? "MissingRequiredClientCapability" : "";
    default:
      return "";
  }
}

}  // namespace mcptap::capture

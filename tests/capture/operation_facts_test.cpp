// Tests for the operation facts of a message (capture/operation_facts.cpp): every field
// from the shapes MCP 2025-11-25 and 2026-07-28 give it, the bounds on what comes from the
// wire, members of the wrong type, and the names of error codes.
#include "capture/operation_facts.h"

#include <gtest/gtest.h>

#include <string>

#include "base/sha256.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

OperationFacts facts_of(std::string_view text) {
  return extract_operation_facts(json::parse(text));
}

std::string sha256_hex(std::string_view text) {
  base::Sha256 hasher;
  hasher.update(text);
  return hasher.finish_hex();
}

TEST(OperationFacts, NameIsParamsNameOrUri) {
  EXPECT_EQ(facts_of(R"({"id":1,"method":"tools/call","params":{"name":"search"}})").name,
            "search");
  EXPECT_EQ(facts_of(R"({"id":1,"method":"resources/read","params":{"uri":"file:///a.txt"}})").name,
            "file:///a.txt");
  EXPECT_EQ(facts_of(R"({"id":1,"method":"x","params":{"uri":"u","name":"n"}})").name, "n");
  EXPECT_EQ(facts_of(R"({"id":1,"method":"x","params":{"uri":"u","name":7}})").name, "u");
  EXPECT_FALSE(facts_of(R"({"id":1,"method":"x","params":{"name":["n"]}})").name);
  EXPECT_FALSE(facts_of(R"({"id":1,"method":"x","params":{"arguments":{"name":"n"}}})").name);
}

TEST(OperationFacts, ALongNameIsItsDigest) {
  const std::string at_limit(kMaxOperationNameBytes, 'n');
  json message = {{"id", 1}, {"method", "tools/call"}, {"params", {{"name", at_limit}}}};
  EXPECT_EQ(extract_operation_facts(message).name, at_limit);
  const std::string longer = at_limit + "x";
  message["params"]["name"] = longer;
  EXPECT_EQ(extract_operation_facts(message).name, "sha256:" + sha256_hex(longer));
  // Still equal for equal names, and a digest is kept as it is when read again.
  EXPECT_EQ(bounded_operation_name(longer), "sha256:" + sha256_hex(longer));
  EXPECT_EQ(bounded_operation_name(bounded_operation_name(longer)), bounded_operation_name(longer));
}

TEST(OperationFacts, TaskIdFromEveryPlaceItTravels) {
  // 2025-11-25 CreateTaskResult: the task nested in the result.
  OperationFacts created = facts_of(
      R"({"jsonrpc":"2.0","id":1,"result":{"task":{"taskId":"786512e2","status":"working","statusMessage":"s","createdAt":"2025-11-25T10:30:00Z","lastUpdatedAt":"2025-11-25T10:30:00Z","ttl":60000,"pollInterval":5000}}})");
  EXPECT_EQ(created.task_id, "786512e2");
  EXPECT_EQ(created.task_status, "working");
  EXPECT_FALSE(created.result_type);
  // 2026 tasks extension: a flat task.
  OperationFacts flat = facts_of(
      R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"task","taskId":"t1","status":"working","ttlMs":60000,"pollIntervalMs":5000}})");
  EXPECT_EQ(flat.task_id, "t1");
  EXPECT_EQ(flat.task_status, "working");
  EXPECT_EQ(flat.result_type, "task");
  // tasks/get, tasks/result, tasks/update, tasks/cancel name it in params.
  EXPECT_EQ(facts_of(R"({"id":2,"method":"tasks/get","params":{"taskId":"t1"}})").task_id, "t1");
  // tasks/result's answer and the requests queued on its stream carry the related task.
  EXPECT_EQ(
      facts_of(
          R"({"id":3,"result":{"content":[],"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"t2"}}}})")
          .task_id,
      "t2");
  EXPECT_EQ(
      facts_of(
          R"({"id":4,"method":"elicitation/create","params":{"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"t3"}}}})")
          .task_id,
      "t3");
  // Only strings are task ids.
  EXPECT_FALSE(facts_of(R"({"id":2,"method":"tasks/get","params":{"taskId":12}})").task_id);
  EXPECT_FALSE(facts_of(R"({"id":1,"result":{"task":{"taskId":null}}})").task_id);
  EXPECT_FALSE(
      facts_of(R"({"id":1,"result":{"_meta":{"io.modelcontextprotocol/related-task":"t"}}})")
          .task_id);
}

TEST(OperationFacts, ALongTaskIdIsItsDigest) {
  const std::string at_limit(kMaxTaskIdBytes, 't');
  json message = {{"id", 1}, {"method", "tasks/get"}, {"params", {{"taskId", at_limit}}}};
  EXPECT_EQ(extract_operation_facts(message).task_id, at_limit);
  message["params"]["taskId"] = at_limit + "t";
  EXPECT_EQ(extract_operation_facts(message).task_id, "sha256:" + sha256_hex(at_limit + "t"));
}

TEST(OperationFacts, TaskRequestedWhenParamsTaskIsAnObject) {
  EXPECT_TRUE(
      facts_of(R"({"id":1,"method":"tools/call","params":{"name":"delay","task":{"ttl":60000}}})")
          .task_requested);
  EXPECT_TRUE(facts_of(R"({"id":1,"method":"tools/call","params":{"task":{}}})").task_requested);
  EXPECT_FALSE(facts_of(R"({"id":1,"method":"tools/call","params":{"task":true}})").task_requested);
  EXPECT_FALSE(facts_of(R"({"id":1,"method":"tools/call","params":{"name":"x"}})").task_requested);
}

TEST(OperationFacts, TaskStatusOfNotificationsAndAnswers) {
  EXPECT_EQ(
      facts_of(
          R"({"method":"notifications/tasks/status","params":{"taskId":"t1","status":"completed"}})")
          .task_status,
      "completed");
  OperationFacts detailed = facts_of(
      R"({"method":"notifications/tasks","params":{"taskId":"t1","status":"input_required","inputRequests":{"login":{"method":"elicitation/create","params":{}}}}})");
  EXPECT_EQ(detailed.task_id, "t1");
  EXPECT_EQ(detailed.task_status, "input_required");
  EXPECT_EQ(detailed.inputs, (std::vector<InputAsked>{{"login", "elicitation/create"}}));
  // Another method's params.status is not a task's.
  OperationFacts other = facts_of(
      R"({"method":"notifications/message","params":{"status":"x","inputRequests":{"a":{"method":"m"}}}})");
  EXPECT_FALSE(other.task_status);
  EXPECT_TRUE(other.inputs.empty());
  // tasks/get of the 2026 extension: a DetailedTask in input_required inlines its requests.
  OperationFacts polled = facts_of(
      R"({"id":5,"result":{"resultType":"complete","taskId":"t1","status":"input_required","inputRequests":{"confirm":{"method":"elicitation/create","params":{}}}}})");
  EXPECT_EQ(polled.task_status, "input_required");
  EXPECT_EQ(polled.inputs, (std::vector<InputAsked>{{"confirm", "elicitation/create"}}));
  EXPECT_FALSE(facts_of(R"({"id":5,"result":{"status":1}})").task_status);
}

TEST(OperationFacts, InterimAnswerOfAMultiRoundTripRequest) {
  OperationFacts interim = facts_of(
      R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{"github_login":{"method":"elicitation/create","params":{"message":"login?","requestedSchema":{}}},"capital_of_france":{"method":"sampling/createMessage","params":{}}},"requestState":"AEAD-protected blob"}})");
  EXPECT_EQ(interim.result_type, "input_required");
  EXPECT_EQ(interim.inputs,
            (std::vector<InputAsked>{{"capital_of_france", "sampling/createMessage"},
                                     {"github_login", "elicitation/create"}}));
  EXPECT_FALSE(interim.inputs_truncated);
  EXPECT_EQ(interim.request_state_sha256, sha256_hex("AEAD-protected blob"));
  EXPECT_FALSE(interim.has_input_responses);
}

TEST(OperationFacts, RetryWithInputResponsesAndRequestState) {
  OperationFacts retry = facts_of(
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"deploy","arguments":{},"inputResponses":{"github_login":{"action":"accept","content":{}},"capital_of_france":{"role":"assistant"}},"requestState":"AEAD-protected blob"}})");
  EXPECT_EQ(retry.name, "deploy");
  EXPECT_TRUE(retry.has_input_responses);
  EXPECT_EQ(retry.input_response_keys,
            (std::vector<std::string>{"capital_of_france", "github_login"}));
  EXPECT_EQ(retry.request_state_sha256, sha256_hex("AEAD-protected blob"));
  // The retry's own state is the one that counts when both are present.
  EXPECT_EQ(
      facts_of(
          R"({"id":2,"method":"m","params":{"requestState":"p"},"result":{"requestState":"r"}})")
          .request_state_sha256,
      sha256_hex("p"));
  EXPECT_EQ(
      facts_of(R"({"id":2,"method":"m","params":{"requestState":1},"result":{"requestState":"r"}})")
          .request_state_sha256,
      sha256_hex("r"));
  EXPECT_TRUE(
      facts_of(R"({"id":2,"method":"m","params":{"inputResponses":{}}})").has_input_responses);
  EXPECT_FALSE(
      facts_of(R"({"id":2,"method":"m","params":{"inputResponses":[]}})").has_input_responses);
  EXPECT_FALSE(
      facts_of(R"({"id":2,"method":"m","params":{"requestState":{"s":1}}})").request_state_sha256);
  // The decoded string is hashed: escapes make no difference.
  EXPECT_EQ(facts_of(R"({"id":2,"method":"m","params":{"requestState":"a\/b\u00e9"}})")
                .request_state_sha256,
            sha256_hex("a/b\xc3\xa9"));
}

// "k100", "k101", ...: keys that sort as they are numbered.
std::string numbered(char prefix, size_t number) {
  std::string key(1, prefix);
  key += std::to_string(number);
  return key;
}

TEST(OperationFacts, InputsAreBounded) {
  json requests = json::object();
  for (size_t i = 0; i < 40; ++i) {
    requests[numbered('k', 100 + i)] = {{"method", "elicitation/create"}};
  }
  OperationFacts many =
      extract_operation_facts({{"id", 1}, {"result", {{"inputRequests", requests}}}});
  ASSERT_EQ(many.inputs.size(), kMaxInputsPerMessage);
  EXPECT_TRUE(many.inputs_truncated);
  EXPECT_EQ(many.inputs.front().key, "k100");
  EXPECT_EQ(many.inputs.back().key, "k131");

  json responses = json::object();
  for (size_t i = 0; i < 40; ++i) responses[numbered('r', 100 + i)] = true;
  OperationFacts retry = extract_operation_facts(
      {{"id", 1}, {"method", "tools/call"}, {"params", {{"inputResponses", responses}}}});
  EXPECT_EQ(retry.input_response_keys.size(), kMaxInputsPerMessage);

  // Exactly as many as kept: nothing left out.
  json exact = json::object();
  for (size_t i = 0; i < kMaxInputsPerMessage; ++i) exact[numbered('e', 10 + i)] = {};
  OperationFacts full =
      extract_operation_facts({{"id", 1}, {"result", {{"inputRequests", exact}}}});
  EXPECT_EQ(full.inputs.size(), kMaxInputsPerMessage);
  EXPECT_FALSE(full.inputs_truncated);
}

TEST(OperationFacts, LongInputKeysAreCutAndKeysThatMeetLoseTheirMethod) {
  const std::string prefix(kMaxInputKeyBytes, 'k');
  json requests = {{prefix + "-one", {{"method", "elicitation/create"}}},
                   {prefix + "-two", {{"method", "sampling/createMessage"}}},
                   {"short", {{"method", std::string(300, 'm')}}},
                   {"odd", 5},
                   {"no_method", {{"params", {}}}}};
  OperationFacts facts =
      extract_operation_facts({{"id", 1}, {"result", {{"inputRequests", requests}}}});
  EXPECT_EQ(facts.inputs, (std::vector<InputAsked>{{prefix, ""},
                                                   {"no_method", ""},
                                                   {"odd", ""},
                                                   {"short", std::string(kMaxWordBytes, 'm')}}));
  // One long key alone keeps its method.
  json one = {{prefix + "-one", {{"method", "elicitation/create"}}}};
  EXPECT_EQ(extract_operation_facts({{"id", 1}, {"result", {{"inputRequests", one}}}}).inputs,
            (std::vector<InputAsked>{{prefix, "elicitation/create"}}));
}

TEST(OperationFacts, SubscriptionIdIsTheListenRequestsIdAsJsonText) {
  EXPECT_EQ(
      facts_of(
          R"({"method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":7}}})")
          .subscription_id,
      "7");
  EXPECT_EQ(
      facts_of(
          R"({"method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"7"}}})")
          .subscription_id,
      "\"7\"");
  EXPECT_FALSE(
      facts_of(
          R"({"method":"n","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":7.5}}})")
          .subscription_id);
  EXPECT_FALSE(
      facts_of(
          R"({"method":"n","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":{"id":7}}}})")
          .subscription_id);
}

TEST(OperationFacts, ErrorCodeWhenAnInteger) {
  EXPECT_EQ(facts_of(R"({"id":1,"error":{"code":-32020,"message":"Header mismatch"}})").error_code,
            -32020);
  EXPECT_EQ(facts_of(R"({"id":1,"error":{"code":42}})").error_code, 42);
  EXPECT_FALSE(facts_of(R"({"id":1,"error":{"code":-32020.5}})").error_code);
  EXPECT_FALSE(facts_of(R"({"id":1,"error":{"code":"-32020"}})").error_code);
  EXPECT_FALSE(facts_of(R"({"id":1,"error":{"code":18446744073709551615}})").error_code);
  EXPECT_FALSE(facts_of(R"({"id":1,"error":"broken"})").error_code);
}

TEST(OperationFacts, IdentityFromPerRequestMeta) {
  OperationFacts facts = facts_of(
      R"({"id":1,"method":"tools/call","params":{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"cli","version":"1.2"},"io.modelcontextprotocol/clientCapabilities":{}}}})");
  EXPECT_EQ(facts.identity, (ClientIdentity{"2026-07-28", "cli", "1.2"}));
  // Any method: every 2026 request carries it.
  EXPECT_EQ(
      facts_of(
          R"({"id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})")
          .identity,
      (ClientIdentity{"2026-07-28", "", ""}));
}

TEST(OperationFacts, IdentityFromTheInitializeExchange) {
  EXPECT_EQ(
      facts_of(
          R"({"id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude","version":"0.9"}}})")
          .identity,
      (ClientIdentity{"2025-06-18", "claude", "0.9"}));
  EXPECT_EQ(
      facts_of(
          R"({"id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"srv","version":"1"}}})")
          .identity,
      (ClientIdentity{"2025-06-18", "", ""}));
  EXPECT_EQ(facts_of(R"({"id":0,"result":{"protocolVersion":"2025-03-26","serverInfo":{}}})")
                .identity.protocol_version,
            "2025-03-26");
  // Not an initialize: another method's params, an answer without server info or
  // capabilities, a request that has a result.
  EXPECT_TRUE(
      facts_of(
          R"({"id":1,"method":"tools/call","params":{"protocolVersion":"x","clientInfo":{"name":"n"}}})")
          .identity.empty());
  EXPECT_TRUE(facts_of(R"({"id":1,"result":{"protocolVersion":"x"}})").identity.empty());
  EXPECT_TRUE(
      facts_of(R"({"id":1,"result":{"protocolVersion":"x","serverInfo":"s"}})").identity.empty());
  EXPECT_TRUE(
      facts_of(R"({"id":1,"method":"m","result":{"protocolVersion":"x","capabilities":{}}})")
          .identity.empty());
  // _meta first, the initialize params for what it does not say.
  EXPECT_EQ(
      facts_of(
          R"({"id":0,"method":"initialize","params":{"protocolVersion":"old","clientInfo":{"name":"n","version":"v"},"_meta":{"io.modelcontextprotocol/protocolVersion":"new"}}})")
          .identity,
      (ClientIdentity{"new", "n", "v"}));
}

TEST(OperationFacts, IdentityFieldsAreCutOnACharacterBoundary) {
  // 127 bytes, then a two-byte character that would straddle the limit.
  const std::string name = std::string(kMaxIdentityFieldBytes - 1, 'a') + "\xc3\xa9" + "tail";
  json message = {{"id", 0},
                  {"method", "initialize"},
                  {"params", {{"clientInfo", {{"name", name}, {"version", 3}}}}}};
  ClientIdentity identity = extract_operation_facts(message).identity;
  EXPECT_EQ(identity.client_name, std::string(kMaxIdentityFieldBytes - 1, 'a'));
  EXPECT_EQ(identity.client_version, "");
  EXPECT_EQ(utf8_prefix("ab\xc3\xa9", 3), "ab");
  EXPECT_EQ(utf8_prefix("ab\xc3\xa9", 4), "ab\xc3\xa9");
  EXPECT_EQ(utf8_prefix("\xf0\x9f\x98\x80z", 3), "");
}

TEST(OperationFacts, WrongTypesAreAbsentAndNothingThrows) {
  for (
      const char* text : {
          R"(null)",
          R"([{"id":1,"method":"tools/call","params":{"name":"x"}}])",
          R"({"id":1,"method":"tools/call","params":["name","x"]})",
          R"({"id":1,"method":"tools/call","params":"name"})",
          R"({"id":1,"result":"taskId"})",
          R"({"id":1,"result":[{"taskId":"t"}]})",
          R"({"id":1,"result":{"task":"t","inputRequests":[1],"_meta":5,"resultType":1}})",
          R"({"id":1,"method":5,"params":{"inputResponses":"x","task":[],"_meta":[]}})",
          R"({"id":1,"error":[],"result":{"task":{"taskId":{},"status":[]}}})",
          R"({"method":"initialize","params":{"protocolVersion":1,"clientInfo":[]}})",
          R"({"method":"n","params":{"_meta":{"io.modelcontextprotocol/clientInfo":"c","io.modelcontextprotocol/protocolVersion":{}}}})",
      }) {
    OperationFacts facts = facts_of(text);
    EXPECT_FALSE(facts.name) << text;
    EXPECT_FALSE(facts.task_id) << text;
    EXPECT_FALSE(facts.task_requested) << text;
    EXPECT_FALSE(facts.request_state_sha256) << text;
    EXPECT_FALSE(facts.has_input_responses) << text;
    EXPECT_FALSE(facts.result_type) << text;
    EXPECT_FALSE(facts.task_status) << text;
    EXPECT_TRUE(facts.inputs.empty()) << text;
    EXPECT_FALSE(facts.subscription_id) << text;
    EXPECT_FALSE(facts.error_code) << text;
    EXPECT_TRUE(facts.identity.empty()) << text;
  }
}

TEST(OperationFacts, ErrorCodeNames) {
  EXPECT_EQ(error_code_name(-32020), "HeaderMismatch");
  EXPECT_EQ(error_code_name(-32021), "MissingRequiredClientCapability");
  EXPECT_EQ(error_code_name(-32022), "UnsupportedProtocolVersion");
  EXPECT_EQ(error_code_name(-32700), "ParseError");
  EXPECT_EQ(error_code_name(-32600), "InvalidRequest");
  EXPECT_EQ(error_code_name(-32601), "MethodNotFound");
  EXPECT_EQ(error_code_name(-32602), "InvalidParams");
  EXPECT_EQ(error_code_name(-32603), "InternalError");
  EXPECT_EQ(error_code_name(-32002), "ResourceNotFound");
  EXPECT_EQ(error_code_name(-32042), "URLElicitationRequired");
  // -32003 only in answers to a request that declared the tasks extension.
  EXPECT_EQ(error_code_name(-32003), "");
  EXPECT_EQ(error_code_name(-32003, true), "MissingRequiredClientCapability");
  // Implementation-defined and unknown codes have no name.
  EXPECT_EQ(error_code_name(-32000), "");
  EXPECT_EQ(error_code_name(-32019), "");
  EXPECT_EQ(error_code_name(0), "");
  EXPECT_EQ(error_code_name(1, true), "");
}

}  // namespace
}  // namespace mcptap::capture

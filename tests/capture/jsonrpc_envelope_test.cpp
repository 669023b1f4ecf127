// Tests for the JSON-RPC envelope (capture/jsonrpc_envelope.cpp): it classifies exactly as
// the whole document does, keeps none of the bulk, hands anything secret to redaction, and
// refuses every text the parser refuses.
#include "capture/jsonrpc_envelope.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/json_text.h"
#include "base/sha256.h"
#include "capture/json_bounded.h"
#include "capture/jsonrpc.h"
#include "capture/operation_facts.h"
#include "tests/support/default_redactor.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

using test_support::default_redactor;

std::optional<JsonRpcEnvelope> read(std::string_view text,
                                    const Redactor& redactor = default_redactor()) {
  return read_jsonrpc_envelope(text, kDefaultMaxJsonDepth, redactor);
}

JsonRpcEnvelope envelope_of(std::string_view text, const Redactor& redactor = default_redactor()) {
  auto envelope = read(text, redactor);
  EXPECT_TRUE(envelope) << text;
  return envelope.value_or(JsonRpcEnvelope{});
}

// Every fact but request_state_sha256, which the envelope reports on its own.
void expect_same_facts(const OperationFacts& got, const OperationFacts& want,
                       std::string_view text) {
  EXPECT_EQ(got.name, want.name) << text;
  EXPECT_EQ(got.task_id, want.task_id) << text;
  EXPECT_EQ(got.task_requested, want.task_requested) << text;
  EXPECT_EQ(got.input_response_keys, want.input_response_keys) << text;
  EXPECT_EQ(got.has_input_responses, want.has_input_responses) << text;
  EXPECT_EQ(got.result_type, want.result_type) << text;
  EXPECT_EQ(got.task_status, want.task_status) << text;
  EXPECT_EQ(got.inputs, want.inputs) << text;
  EXPECT_EQ(got.inputs_truncated, want.inputs_truncated) << text;
  EXPECT_EQ(got.subscription_id, want.subscription_id) << text;
  EXPECT_EQ(got.error_code, want.error_code) << text;
  EXPECT_EQ(got.identity, want.identity) << text;
}

std::string sha256_hex(std::string_view text) {
  base::Sha256 hasher;
  hasher.update(text);
  return hasher.finish_hex();
}

// The envelope reads the operation facts the whole document has: the same facts from its
// document, and the request state's digest beside it.
void expect_same_operation_facts(std::string_view text) {
  SCOPED_TRACE(text.substr(0, 300));
  JsonRpcEnvelope envelope = envelope_of(text);
  ASSERT_FALSE(envelope.needs_redaction);
  const json document = json::parse(text);
  const OperationFacts want = extract_operation_facts(document);
  const OperationFacts got = extract_operation_facts(envelope.document);
  expect_same_facts(got, want, text.substr(0, 300));
  EXPECT_FALSE(got.request_state_sha256);  // the state is not in the envelope's document
  EXPECT_EQ(envelope.request_state_sha256, want.request_state_sha256);
}

void expect_same_classification(const ClassifiedMessage& got, const ClassifiedMessage& want,
                                std::string_view text) {
  expect_same_facts(got.facts, want.facts, text);
  EXPECT_EQ(got.kind, want.kind) << text;
  EXPECT_EQ(got.id_text, want.id_text) << text;
  EXPECT_EQ(got.method, want.method) << text;
  EXPECT_EQ(got.progress_token, want.progress_token) << text;
  EXPECT_EQ(got.cancelled_request_id, want.cancelled_request_id) << text;
  EXPECT_EQ(got.tool_error, want.tool_error) << text;
  EXPECT_EQ(got.invalid_reason, want.invalid_reason) << text;
  ASSERT_EQ(got.batch_items.size(), want.batch_items.size()) << text;
  for (size_t i = 0; i < got.batch_items.size(); ++i) {
    expect_same_classification(got.batch_items[i], want.batch_items[i], text);
  }
}

class EnvelopeClassifiesLikeTheDocument : public testing::TestWithParam<const char*> {};

TEST_P(EnvelopeClassifiesLikeTheDocument, SameKindIdsReferencesAndRequestMeta) {
  const std::string_view text = GetParam();
  JsonRpcEnvelope envelope = envelope_of(text);
  ASSERT_FALSE(envelope.needs_redaction) << text;
  const json document = json::parse(text);
  expect_same_classification(classify_jsonrpc(envelope.document), classify_jsonrpc(document), text);
  // params._meta is copied into the row's meta: it must be there whole.
  if (document.is_object() && document.contains("params") && document["params"].is_object() &&
      document["params"].contains("_meta")) {
    EXPECT_EQ(envelope.document["params"]["_meta"], document["params"]["_meta"]) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Messages, EnvelopeClassifiesLikeTheDocument,
    testing::Values(
        R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","arguments":{"q":[1,2,{"r":null}],"b":true,"f":false}}})",
        R"({"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"_meta":{"progressToken":7,"traceparent":"00-ab-cd-01","nested":{"a":[1,{"b":2}]}},"arguments":{}}})",
        R"( { "jsonrpc" : "2.0" , "id" : "a-1" , "method" : "tools/call" , "params" : { "_meta" : { "progressToken" : 7 , "traceparent" : "00-ab" } } } )",
        R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p-9","progress":0.5}})",
        R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":{"odd":[1,{}]},"reason":"x"}})",
        R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}})",
        R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
        R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"done"}]}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"line\n\"quoted\" \u00e9 \ud83d\ude00 \/"}]}})",
        R"({"jsonrpc":"2.0","id":3,"result":null})",
        R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})",
        R"({"jsonrpc":"2.0","id":3,"result":1,"error":{"code":1}})",
        R"({"jsonrpc":"2.0","id":3,"method":"x","result":[]})",
        R"({"jsonrpc":"2.0","id":{"no":1},"method":"x"})",
        R"({"jsonrpc":"2.0","id":[1],"result":1})", R"({"jsonrpc":"2.0","id":1,"method":7})",
        R"({"jsonrpc":"2.0","id":1,"method":"x","params":[1,2,3]})",
        R"({"jsonrpc":"2.0","id":1,"method":"x","params":"odd"})",
        R"({"jsonrpc":"2.0","id":1,"id":2,"method":"a","method":"b"})",
        R"({"id":1,"id":2,"method":"a","method":"b","result":1,"params":"s"})",
        R"({"id":-0,"method":"m","params":{"progressToken":1.5e-3,"n":[18446744073709551615,123456789012345678901234567890,1E+2,-1e-400]}})",
        R"({"id":"\u00e9\u4e2d","method":"caf\u00e9","params":[1]})",
        "{\"id\":1,\"method\":\"x\",\"params\":{\"_meta\":{\"k\":"
        "\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"}}}",
        R"({"jsonrpc":"2.0","result":1})", R"({"jsonrpc":"2.0"})",
        R"([{"jsonrpc":"2.0","id":1,"method":"a","params":{"_meta":{"progressToken":1}}},{"jsonrpc":"2.0","method":"n"},[1],7,{"id":2,"result":{}}])",
        R"([{"id":1,"method":"a"},{"method":"n"},[1,[2]],7,"s",{"id":2,"result":{}}])", R"([])",
        R"([[]])", R"("text")", R"(42)", R"(null)", R"(true)", R"({})", "\n\t 1 \r\n"));

// Tool failures: result.isError at the result's top level, and only the boolean true.
INSTANTIATE_TEST_SUITE_P(
    ToolErrors, EnvelopeClassifiesLikeTheDocument,
    testing::Values(
        R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"no such file"}],"isError":true}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"isError" : true ,"content":[]}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"ok"}],"isError":false}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"ok"}]}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"x","isError":true}],"structuredContent":{"isError":true}}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"_meta":{"isError":true}}})",
        R"({"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"m","isError":true,"data":{"isError":true}}})",
        R"({"jsonrpc":"2.0","id":3,"error":{"code":1},"result":{"isError":true}})",
        R"({"jsonrpc":"2.0","id":3,"method":"x","result":{"isError":true}})",
        R"({"jsonrpc":"2.0","id":3,"method":"x","params":{"isError":true}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"isError":"true"}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"isError":1}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"isError":null}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"isError":{"isError":true}}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"isError":[true]}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"isError":true,"isError":false}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"isError":false,"isError":true}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"isError":true},"result":{}})",
        R"({"jsonrpc":"2.0","id":3,"result":{},"result":{"isError":true}})",
        R"({"jsonrpc":"2.0","id":3,"result":[{"isError":true}]})",
        R"({"jsonrpc":"2.0","id":3,"result":true})",
        R"({"jsonrpc":"2.0","isError":true,"id":3,"result":{}})",
        R"({"jsonrpc":"2.0","result":{"isError":true}})",
        R"([{"id":1,"result":{"isError":true}},{"id":2,"result":{"isError":false}},{"id":3,"error":{"isError":true}}])"));

class EnvelopeReadsTheOperationFactsOfTheDocument : public testing::TestWithParam<const char*> {};

TEST_P(EnvelopeReadsTheOperationFactsOfTheDocument, SameFactsAndRequestStateDigest) {
  const std::string_view text = GetParam();
  expect_same_operation_facts(text);
  JsonRpcEnvelope envelope = envelope_of(text);
  expect_same_classification(classify_jsonrpc(envelope.document),
                             classify_jsonrpc(json::parse(text)), text);
}

INSTANTIATE_TEST_SUITE_P(
    Operations, EnvelopeReadsTheOperationFactsOfTheDocument,
    testing::Values(
        // 2025-11-25 tasks: task-augmented call, nested CreateTaskResult, polling, result.
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delay","arguments":{"ms":10},"task":{"ttl":60000}}})",
        R"({"jsonrpc":"2.0","id":1,"result":{"task":{"taskId":"786512e2","status":"working","statusMessage":"s","createdAt":"2025-11-25T10:30:00Z","lastUpdatedAt":"2025-11-25T10:30:00Z","ttl":60000,"pollInterval":5000}}})",
        R"({"jsonrpc":"2.0","id":2,"method":"tasks/get","params":{"taskId":"786512e2"}})",
        R"({"jsonrpc":"2.0","id":2,"result":{"taskId":"786512e2","status":"completed","ttl":60000}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"done"}],"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"786512e2"},"other":[1,2]}}})",
        R"({"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"786512e2","status":"failed","statusMessage":"x"}})",
        R"({"jsonrpc":"2.0","id":9,"method":"elicitation/create","params":{"message":"m","_meta":{"io.modelcontextprotocol/related-task":{"taskId":"786512e2"}}}})",
        // 2026 tasks extension: a flat task, a DetailedTask inlining its input requests.
        R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"task","taskId":"t1","status":"working","createdAt":"c","ttlMs":60000,"pollIntervalMs":5000}})",
        R"({"jsonrpc":"2.0","id":4,"result":{"resultType":"complete","taskId":"t1","status":"input_required","inputRequests":{"confirm":{"method":"elicitation/create","params":{"message":"sure?"}}}}})",
        R"({"jsonrpc":"2.0","method":"notifications/tasks","params":{"taskId":"t1","status":"input_required","inputRequests":{"b":{"method":"roots/list"},"a":{"method":"sampling/createMessage","params":{"method":"no"}}}}})",
        R"({"jsonrpc":"2.0","id":5,"method":"tasks/update","params":{"taskId":"t1","inputResponses":{"confirm":{"action":"accept"}}}})",
        // MRTR: the interim answer and the retry.
        R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{"github_login":{"method":"elicitation/create","params":{}},"capital_of_france":{"method":"sampling/createMessage","params":{"messages":[]}}},"requestState":"AEAD-protected blob"}})",
        R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"deploy","arguments":{"name":"inner","taskId":"inner","requestState":"inner"},"inputResponses":{"github_login":{"action":"accept","content":{"login":"me"}}},"requestState":"AEAD-protected blob"}})",
        R"({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a b.txt","requestState":"a\/b\u00e9"}})",
        // Subscriptions, per-request identity, the initialize exchange, errors.
        R"({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///x","_meta":{"io.modelcontextprotocol/subscriptionId":7}}})",
        R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"listen-1"}}})",
        R"({"jsonrpc":"2.0","id":"l","method":"subscriptions/listen","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"cli","version":"2"}},"notifications":{"toolsListChanged":true}}})",
        R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"claude","version":"0.9","title":"t"}}})",
        R"({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"s","version":"1"},"instructions":"i"}})",
        R"({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","serverInfo":[]}})",
        R"({"jsonrpc":"2.0","id":1,"error":{"code":-32020,"message":"Header mismatch","data":{"code":1}}})",
        R"({"jsonrpc":"2.0","id":1,"error":{"code":-32003,"message":"m","data":{"requiredCapabilities":{}}}})",
        R"({"jsonrpc":"2.0","id":1,"error":{"code":1.5}})", R"({"id":1,"error":{"code":"1"}})",
        R"({"id":1,"error":{"code":18446744073709551615}})",
        R"({"id":1,"error":{"code":-9223372036854775808}})",
        R"({"id":1,"error":{"code":123456789012345678901234567890}})", R"({"id":1,"error":[1]})",
        // Escapes in what is kept.
        R"({"id":1,"method":"tools/call","params":{"name":"caf\u00e9 \"q\" \ud83d\ude00","taskId":"t\/1"}})",
        R"({"id":1,"result":{"resultType":"input_\u0072equired","status":"w\u00f6rking","inputRequests":{"k":{"method":"elicitation\/create"}}}})",
        // A name repeated: the last one counts, whatever it is.
        R"({"id":1,"result":{"requestState":"a","requestState":5}})",
        R"({"id":1,"result":{"requestState":5,"requestState":"b"}})",
        R"({"id":1,"method":"m","params":{"requestState":"a"},"params":{}})",
        R"({"id":1,"method":"m","params":{"requestState":"a"},"params":[1]})",
        R"({"id":1,"method":"m","params":{"requestState":"p"},"result":{"requestState":"r"}})",
        R"({"id":1,"method":"m","params":{"requestState":1},"result":{"requestState":"r"}})",
        R"({"id":1,"result":{"requestState":"r"},"result":{"isError":true}})",
        R"({"id":1,"result":{"task":{"taskId":"a","status":"working"},"task":5}})",
        R"({"id":1,"result":{"task":{"taskId":"a","taskId":{"x":1},"status":"working","status":"completed"}}})",
        R"({"id":1,"result":{"inputRequests":{"a":{"method":"x"},"a":{"method":"y"}}}})",
        R"({"id":1,"result":{"inputRequests":{"a":{"method":"x"},"a":3,"b":{"method":"m","method":[]}}}})",
        R"({"id":1,"result":{"inputRequests":{"a":{"method":"x"}},"inputRequests":"none"}})",
        R"({"id":1,"error":{"code":1,"code":"x"}})", R"({"id":1,"error":{"code":1},"error":2})",
        R"({"id":1,"error":"e","error":{"code":-32601}})",
        R"({"id":1,"result":{"serverInfo":{},"serverInfo":1,"protocolVersion":"v"}})",
        R"({"id":1,"result":{"capabilities":1,"capabilities":{},"protocolVersion":"v","protocolVersion":"w"}})",
        R"({"id":1,"method":"x","params":{"name":"a","name":null,"uri":"u"}})",
        R"({"id":1,"method":"x","params":{"task":{"ttl":1},"task":null}})",
        R"({"id":1,"method":"x","params":{"inputResponses":{"a":1},"inputResponses":{"b":{"c":2}}}})",
        R"({"id":1,"method":"initialize","params":{"clientInfo":{"name":"a"},"clientInfo":{"version":"v"}}})",
        R"({"id":1,"result":{"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"a"},"io.modelcontextprotocol/related-task":[]}}})",
        // Wrong types: nothing read, nothing thrown.
        R"({"id":1,"method":"tools/call","params":["name","x"]})",
        R"({"id":1,"result":[{"taskId":"t"}]})",
        R"({"id":1,"result":{"task":"t","inputRequests":[1],"_meta":5,"resultType":1}})",
        R"({"id":1,"method":5,"params":{"inputResponses":"x","task":[],"_meta":[]}})",
        R"({"id":1,"error":[],"result":{"task":{"taskId":{},"status":[]}}})",
        R"({"method":"initialize","params":{"protocolVersion":1,"clientInfo":[]}})",
        // Batches: each item's facts (a batch has no request state digest of its own).
        R"([{"id":1,"method":"tools/call","params":{"name":"a","requestState":"s"}},{"id":2,"result":{"resultType":"input_required","inputRequests":{"x":{"method":"roots/list"}},"requestState":"t"}},{"id":3,"error":{"code":-32602}},{"method":"notifications/tasks/status","params":{"taskId":"t","status":"working"}},5])",
        R"({})", R"([])", R"(null)", R"("requestState")"));

// "r1000", "r999", ...: keys numbered downwards.
std::string numbered(char prefix, size_t number) {
  std::string key(1, prefix);
  key += std::to_string(number);
  return key;
}

TEST(JsonRpcEnvelope, KeepsWhatOperationFactsReadBoundedAsTheyBoundIt) {
  const std::string long_key_start(kMaxInputKeyBytes, 'k');
  const std::string at_a_character(kMaxInputKeyBytes - 1, 'c');
  json requests = json::object();
  for (size_t i = 0; i < 40; ++i)
    requests[numbered('r', 1000 - i)] = {{"method", "elicitation/create"}};
  std::string status(kMaxWordBytes - 1, 's');
  status += "\xc3\xa9";
  std::string client_name(kMaxIdentityFieldBytes - 1, 'n');
  client_name += "\xe4\xb8\xad";
  std::vector<json> messages = {
      {{"id", 1}, {"method", "tools/call"}, {"params", {{"name", std::string(5000, 'n')}}}},
      {{"id", 1}, {"method", "resources/read"}, {"params", {{"uri", std::string(1025, 'u')}}}},
      {{"id", 1}, {"method", "tasks/get"}, {"params", {{"taskId", std::string(300, 't')}}}},
      {{"id", 1}, {"result", {{"task", {{"taskId", std::string(257, 't')}}}}}},
      {{"id", 1}, {"result", {{"inputRequests", requests}}}},
      {{"id", 1}, {"method", "tools/call"}, {"params", {{"inputResponses", requests}}}},
      {{"id", 1}, {"result", {{"resultType", std::string(500, 'x')}, {"status", status}}}},
      {{"id", 0},
       {"method", "initialize"},
       {"params",
        {{"protocolVersion", std::string(200, 'v')},
         {"clientInfo", {{"name", client_name}, {"version", "\xf0\x9f\x98\x80"}}}}}},
      {{"id", 0},
       {"result", {{"protocolVersion", std::string(200, 'v')}, {"capabilities", json::object()}}}},
      {{"id", 1},
       {"result",
        {{"inputRequests",
          {{long_key_start + "-one", {{"method", "elicitation/create"}}},
           {long_key_start + "-two", {{"method", "sampling/createMessage"}}},
           {long_key_start, {{"method", "roots/list"}}},
           {"short", {{"method", std::string(300, 'm')}}}}}}}},
      // Keys cut back to a character boundary meet the key that is that prefix, with a
      // key sorting between them.
      {{"id", 1},
       {"result",
        {{"inputRequests",
          {{at_a_character, {{"method", "a"}}},
           {at_a_character + "a", {{"method", "b"}}},
           {at_a_character + "\xc3\xa9", {{"method", "c"}}}}}}}},
  };
  for (const json& message : messages) {
    const std::string text = base::json_text(message);
    expect_same_operation_facts(text);
    // Nothing kept is longer than its bound allows (the long values above are all cut).
    EXPECT_LT(base::json_text(envelope_of(text).document).size(), 4096u) << text.substr(0, 200);
  }
}

TEST(JsonRpcEnvelope, RepeatedAndMeetingInputKeysInAnyOrder) {
  const std::string start(kMaxInputKeyBytes, 'k');
  const auto entry = [](const std::string& key, std::string_view value) {
    std::string text = "\"";
    text += key;
    text += "\":";
    text += value;
    return text;
  };
  // Written by hand: a document cannot hold a repeated key, and the order matters.
  for (const std::string& entries : {
           entry(start + "1", R"({"method":"a"})") + "," + entry(start + "1", R"({"method":"b"})"),
           entry(start + "1", R"({"method":"a"})") + "," + entry(start + "2", R"({"method":"b"})") +
               "," + entry(start + "1", R"({"method":"c"})"),
           entry(start, R"({"method":"a"})") + "," + entry(start + "1", R"({"method":"a"})"),
           entry(start + "1", R"({"method":"a"})") + "," + entry(start + "1", "7"),
       }) {
    expect_same_operation_facts(R"({"id":1,"result":{"inputRequests":{)" + entries + "}}}");
  }
  // More keys than kept, in descending order, one of them repeated after it was left out.
  std::string many = R"({"id":1,"result":{"inputRequests":{)";
  for (size_t i = 60; i > 0; --i) many += entry(numbered('k', 100 + i), R"({"method":"m"},)");
  many += R"("k160":{"method":"again"},"k101":{"method":"last"}}}})";
  expect_same_operation_facts(many);
}

TEST(JsonRpcEnvelope, RequestStateIsTheDigestOfItsDecodedString) {
  const std::string want = sha256_hex("a/b\xc3\xa9\"c");
  for (
      const char* text : {
          R"({"id":2,"method":"tools/call","params":{"name":"x","requestState":"a\/b\u00e9\"c"}})",
          "{\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"x\",\"requestState\":"
          "\"a/b\xc3\xa9\\\"c\"}}",
          R"({"id":1,"result":{"resultType":"input_required","requestState":"a/\u0062\u00E9\"c"}})",
      }) {
    JsonRpcEnvelope envelope = envelope_of(text);
    EXPECT_EQ(envelope.request_state_sha256, want) << text;
    EXPECT_EQ(extract_operation_facts(json::parse(text)).request_state_sha256, want) << text;
    EXPECT_EQ(base::json_text(envelope.document).find("requestState"), std::string::npos);
  }
  // Only the message's own params or result: not a batch item, not an argument.
  EXPECT_FALSE(
      envelope_of(R"([{"id":1,"method":"m","params":{"requestState":"s"}}])").request_state_sha256);
  EXPECT_FALSE(envelope_of(R"({"id":1,"method":"m","params":{"arguments":{"requestState":"s"}}})")
                   .request_state_sha256);
  EXPECT_FALSE(
      envelope_of(R"({"id":1,"method":"m","params":{"requestState":null}})").request_state_sha256);
}

TEST(JsonRpcEnvelope, ATenMegabyteRequestStateIsHashedNotKept) {
  const std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string state;
  state.reserve(10u << 20);
  while (state.size() < (10u << 20)) state += alphabet;
  std::string text =
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"deploy","arguments":{},"inputResponses":{"github_login":{"action":"accept"}},"requestState":")";
  text += state;
  text += R"("}})";
  JsonRpcEnvelope envelope = envelope_of(text);
  ASSERT_FALSE(envelope.needs_redaction);
  EXPECT_EQ(envelope.request_state_sha256, sha256_hex(state));
  EXPECT_LT(base::json_text(envelope.document).size(), 4096u);
  OperationFacts facts = classify_jsonrpc(envelope.document).facts;
  EXPECT_EQ(facts.name, "deploy");
  EXPECT_EQ(facts.input_response_keys, std::vector<std::string>{"github_login"});
}

TEST(JsonRpcEnvelope, ToolErrorIsTheResultsOwnIsErrorTrue) {
  const auto tool_error = [](std::string_view text) {
    return classify_jsonrpc(envelope_of(text).document).tool_error;
  };
  EXPECT_TRUE(tool_error(R"({"id":3,"result":{"content":[],"isError":true}})"));
  EXPECT_FALSE(tool_error(R"({"id":3,"result":{"content":[],"isError":false}})"));
  EXPECT_FALSE(tool_error(R"({"id":3,"result":{"content":[]}})"));
  EXPECT_FALSE(tool_error(R"({"id":3,"result":{"content":[{"isError":true}]}})"));
  EXPECT_FALSE(tool_error(R"({"id":3,"error":{"code":1,"message":"m","isError":true}})"));
  EXPECT_FALSE(tool_error(R"({"id":3,"result":{"isError":"true"}})"));
  ClassifiedMessage batch = classify_jsonrpc(
      envelope_of(R"([{"id":1,"result":{"isError":true}},{"id":2,"result":{}}])").document);
  ASSERT_EQ(batch.batch_items.size(), 2u);
  EXPECT_TRUE(batch.batch_items[0].tool_error);
  EXPECT_FALSE(batch.batch_items[1].tool_error);
  // Nothing else of the result is kept.
  EXPECT_EQ(
      envelope_of(R"({"id":3,"result":{"content":[{"type":"text","text":"t"}],"isError":true}})")
          .document,
      json::parse(R"({"id":3,"result":{"isError":true}})"));
}

TEST(JsonRpcEnvelope, KeepsNoneOfTheArgumentsOrResults) {
  JsonRpcEnvelope call = envelope_of(
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search","arguments":{"query":"big","pages":[1,2,3]},"_meta":{"progressToken":1}}})");
  EXPECT_EQ(
      call.document,
      json::parse(
          R"({"id":3,"method":"tools/call","params":{"name":"search","_meta":{"progressToken":1}}})"));

  JsonRpcEnvelope reply = envelope_of(
      R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"a long answer"}]}})");
  EXPECT_EQ(reply.document, json::parse(R"({"id":3,"result":{}})"));

  JsonRpcEnvelope batch = envelope_of(R"([{"id":1,"error":{"code":1,"message":"m"}},[1,2],5])");
  EXPECT_EQ(batch.document, json::parse(R"([{"id":1,"error":{"code":1}},[],5])"));
}

TEST(JsonRpcEnvelope, AnythingTheRedactorWouldChangeAsksForTheWholeDocument) {
  for (
      const char* text : {
          // a secret key deep in the arguments, by name and by suffix
          R"({"id":1,"method":"tools/call","params":{"arguments":{"db":{"password":"hunter2"}}}})",
          R"({"id":1,"method":"x","params":{"arguments":{"github_token":5}}})",
          R"({"id":1,"method":"x","params":{"arguments":{"client_secret":"s"}}})",
          // a secret shape in a result string, also behind an escape
          R"({"id":1,"result":{"content":[{"type":"text","text":"use Bearer abcdefghijklmnop"}]}})",
          R"({"id":1,"result":{"text":"use Bearer \u0061bcdefghijklmnop"}})",
          // JSON inside a string, holding a secret key
          R"({"id":1,"result":{"text":"{\"api_key\":\"k\"}"}})",
          // in the kept members too
          R"({"id":1,"method":"x","params":{"_meta":{"authorization":"x"}}})",
          R"({"id":1,"method":"x","params":{"_meta":{"note":"sk-abcdefghijklmnopqrstu"}}})",
          // and before text that is not JSON at all: the whole parse will say so
          R"({"id":1,"method":"x","params":{"token":"t"}} trailing)",
      }) {
    JsonRpcEnvelope envelope = envelope_of(text);
    EXPECT_TRUE(envelope.needs_redaction) << text;

    // The whole document agrees that there is something to redact, when it parses.
    auto document = parse_json_bounded(text, kDefaultMaxJsonDepth);
    if (document) {
      EXPECT_TRUE(default_redactor().redact_json(*document)) << text;
    }
  }
}

TEST(JsonRpcEnvelope, NothingSecretForARedactorWithEverythingOff) {
  RedactOptions off;
  off.json_keys.clear();
  off.json_key_suffixes.clear();
  off.value_patterns = false;
  off.nested_json = false;
  const Redactor redactor(off);
  JsonRpcEnvelope envelope = envelope_of(
      R"({"id":1,"method":"x","params":{"password":"Bearer abcdefghijklmnop","t":"{\"token\":1}"}})",
      redactor);
  EXPECT_FALSE(envelope.needs_redaction);
  EXPECT_EQ(envelope.document, json::parse(R"({"id":1,"method":"x","params":{}})"));
}

TEST(JsonRpcEnvelope, RefusesEverythingTheParserRefuses) {
  std::string deep_in_arguments = R"({"id":1,"method":"x","params":{"arguments":)";
  deep_in_arguments += std::string(200, '[') + std::string(200, ']') + "}}";
  for (const std::string& text : {
           std::string(""),
           std::string("   "),
           std::string("{"),
           std::string("not json"),
           std::string(R"({"id":1,"method":"x",)"),
           std::string("[1,]"),
           std::string(R"({"a":1,})"),
           std::string(R"({"a" 1})"),
           std::string("{1:2}"),
           std::string("tru"),
           std::string("nul"),
           std::string("01"),
           std::string("-"),
           std::string("1."),
           std::string("1e"),
           std::string("+1"),
           std::string(".5"),
           std::string("1e400"),
           std::string("-1e400"),
           std::string(400, '9'),
           std::string("\"\\x\""),
           std::string("\"\\u12\""),
           std::string("\"\\udc00\""),
           std::string("\"\\ud800\""),
           std::string("\"\\ud800\\u0041\""),
           std::string("\"tab\there\""),
           std::string("\"\xc0\x80\""),
           std::string("\"\xc3\""),
           std::string("\"\xed\xa0\x80\""),
           std::string("\"\xf4\x90\x80\x80\""),
           std::string("\"\xe0\x80\xaf\""),
           std::string("\"\xff\""),
           std::string("\"open"),
           std::string(R"({"id":1} {"id":2})"),
           std::string("[1] x"),
           deep_in_arguments,
       }) {
    EXPECT_FALSE(read(text)) << text;
    auto document = parse_json_bounded(text, kDefaultMaxJsonDepth);
    ASSERT_FALSE(document) << text;
    EXPECT_FALSE(document.error().message.empty()) << text;
  }
}

TEST(JsonRpcEnvelope, LeavesAnEscapedKeyToTheWholeDocument) {
  const std::string_view text = R"({"id":1,"method":"x","params":{"pass\u0077ord":"p"}})";
  EXPECT_FALSE(read(text));
  auto document = parse_json_bounded(text, kDefaultMaxJsonDepth);
  ASSERT_TRUE(document);
  EXPECT_TRUE(default_redactor().redact_json(*document));
}

TEST(JsonRpcEnvelope, LeavesAByteOrderMarkToTheWholeDocument) {
  const std::string text = "\xef\xbb\xbf{\"id\":1,\"result\":2}";
  EXPECT_FALSE(read(text));
  auto document = parse_json_bounded(text, kDefaultMaxJsonDepth);
  ASSERT_TRUE(document);
  EXPECT_EQ(classify_jsonrpc(*document).kind, Kind::Response);
}

}  // namespace
}  // namespace mcptap::capture

// Tests for the JSON-RPC envelope (capture/jsonrpc_envelope.cpp): it classifies exactly as
// the whole document does, keeps none of the bulk, and hands anything secret to redaction.
#include "capture/jsonrpc_envelope.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "capture/json_bounded.h"
#include "capture/jsonrpc.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

const Redactor& default_redactor() {
  static const Redactor redactor{RedactOptions{}};
  return redactor;
}

JsonRpcEnvelope envelope_of(std::string_view text, const Redactor& redactor = default_redactor()) {
  std::string error;
  auto envelope = read_jsonrpc_envelope(text, kDefaultMaxJsonDepth, redactor, &error);
  EXPECT_TRUE(envelope) << text << ": " << error;
  return envelope.value_or(JsonRpcEnvelope{});
}

void expect_same_classification(const ClassifiedMessage& got, const ClassifiedMessage& want,
                                std::string_view text) {
  EXPECT_EQ(got.kind, want.kind) << text;
  EXPECT_EQ(got.id_text, want.id_text) << text;
  EXPECT_EQ(got.method, want.method) << text;
  EXPECT_EQ(got.progress_token, want.progress_token) << text;
  EXPECT_EQ(got.cancelled_request_id, want.cancelled_request_id) << text;
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
  expect_same_classification(classify_jsonrpc(envelope.document), classify_jsonrpc(document),
                             text);
  // params._meta is copied into the row's meta: it must be there whole.
  if (document.is_object() && document.contains("params") && document["params"].is_object() &&
      document["params"].contains("_meta")) {
    EXPECT_EQ(envelope.document["params"]["_meta"], document["params"]["_meta"]) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Messages, EnvelopeClassifiesLikeTheDocument,
    testing::Values(
        R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","arguments":{"q":[1,2,{"r":null}]}}})",
        R"({"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"_meta":{"progressToken":7,"traceparent":"00-ab-cd-01","nested":{"a":[1,{"b":2}]}},"arguments":{}}})",
        R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p-9","progress":0.5}})",
        R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":{"odd":1},"reason":"x"}})",
        R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}})",
        R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
        R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"done"}]}})",
        R"({"jsonrpc":"2.0","id":3,"result":null})",
        R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})",
        R"({"jsonrpc":"2.0","id":3,"result":1,"error":{"code":1}})",
        R"({"jsonrpc":"2.0","id":3,"method":"x","result":[]})",
        R"({"jsonrpc":"2.0","id":{"no":1},"method":"x"})",
        R"({"jsonrpc":"2.0","id":[1],"result":1})",
        R"({"jsonrpc":"2.0","id":1,"method":7})",
        R"({"jsonrpc":"2.0","id":1,"method":"x","params":[1,2,3]})",
        R"({"jsonrpc":"2.0","id":1,"method":"x","params":"odd"})",
        R"({"jsonrpc":"2.0","id":1,"id":2,"method":"a","method":"b"})",
        R"({"jsonrpc":"2.0","result":1})",
        R"({"jsonrpc":"2.0"})",
        R"([{"jsonrpc":"2.0","id":1,"method":"a","params":{"_meta":{"progressToken":1}}},{"jsonrpc":"2.0","method":"n"},[1],7,{"id":2,"result":{}}])",
        R"([])", R"([[]])", R"("text")", R"(42)", R"(null)", R"({})"));

TEST(JsonRpcEnvelope, KeepsNoneOfTheArgumentsOrResults) {
  JsonRpcEnvelope call = envelope_of(
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search","arguments":{"query":"big","pages":[1,2,3]},"_meta":{"progressToken":1}}})");
  EXPECT_EQ(call.document,
            json::parse(R"({"id":3,"method":"tools/call","params":{"_meta":{"progressToken":1}}})"));

  JsonRpcEnvelope reply = envelope_of(
      R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"a long answer"}]}})");
  EXPECT_EQ(reply.document, json::parse(R"({"id":3,"result":null})"));

  JsonRpcEnvelope batch = envelope_of(R"([{"id":1,"error":{"code":1,"message":"m"}},[1,2],5])");
  EXPECT_EQ(batch.document, json::parse(R"([{"id":1,"error":null},[],5])"));
}

TEST(JsonRpcEnvelope, AnythingTheRedactorWouldChangeAsksForTheWholeDocument) {
  for (const char* text : {
           // a secret key deep in the arguments, and one by suffix
           R"({"id":1,"method":"tools/call","params":{"arguments":{"db":{"password":"hunter2"}}}})",
           R"({"id":1,"method":"x","params":{"arguments":{"github_token":5}}})",
           // a secret shape in a result string
           R"({"id":1,"result":{"content":[{"type":"text","text":"use Bearer abcdefghijklmnop"}]}})",
           // JSON inside a string, holding a secret key
           R"({"id":1,"result":{"text":"{\"api_key\":\"k\"}"}})",
           // in the kept members too
           R"({"id":1,"method":"x","params":{"_meta":{"authorization":"x"}}})",
           // and before text that is not JSON at all: the whole parse will say so
           R"({"id":1,"method":"x","params":{"token":"t"}} trailing)",
       }) {
    JsonRpcEnvelope envelope = envelope_of(text);
    EXPECT_TRUE(envelope.needs_redaction) << text;

    // The whole document agrees that there is something to redact, when it parses.
    std::string error;
    auto document = parse_json_bounded(text, kDefaultMaxJsonDepth, &error);
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

TEST(JsonRpcEnvelope, RefusesWhatTheBoundedParserRefusesWithTheSameReason) {
  std::string deep_in_arguments = R"({"id":1,"method":"x","params":{"arguments":)";
  deep_in_arguments += std::string(200, '[') + std::string(200, ']') + "}}";
  for (const std::string& text :
       {std::string(R"({"id":1,"method":"x",)"), std::string("not json"), std::string(),
        std::string(R"({"id":1} {"id":2})"), deep_in_arguments}) {
    std::string envelope_error, document_error;
    EXPECT_FALSE(read_jsonrpc_envelope(text, kDefaultMaxJsonDepth, default_redactor(),
                                       &envelope_error))
        << text;
    EXPECT_FALSE(parse_json_bounded(text, kDefaultMaxJsonDepth, &document_error)) << text;
    EXPECT_EQ(envelope_error, document_error) << text;
    EXPECT_FALSE(envelope_error.empty()) << text;
  }
}

}  // namespace
}  // namespace mcptap::capture

// Tests for the JSON-RPC envelope (capture/jsonrpc_envelope.cpp): it classifies exactly as
// the whole document does, keeps none of the bulk, hands anything secret to redaction, and
// refuses every text the parser refuses.
#include "capture/jsonrpc_envelope.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "capture/json_bounded.h"
#include "capture/jsonrpc.h"
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

void expect_same_classification(const ClassifiedMessage& got, const ClassifiedMessage& want,
                                std::string_view text) {
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

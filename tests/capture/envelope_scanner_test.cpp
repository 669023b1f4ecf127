// Tests for the envelope's hand-written scan (capture/envelope_scanner.cpp): where it
// answers, it answers as the parser-driven path does; what the parser refuses, it refuses.
#include "capture/envelope_scanner.h"

#include <gtest/gtest.h>

#include <string>

#include "capture/json_bounded.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

const Redactor& default_redactor() {
  static const Redactor redactor{RedactOptions{}};
  return redactor;
}

std::optional<JsonRpcEnvelope> scan(std::string_view text) {
  return scan_jsonrpc_envelope(text, kDefaultMaxJsonDepth, default_redactor());
}

std::optional<JsonRpcEnvelope> parse(std::string_view text) {
  std::string error;
  return parse_jsonrpc_envelope(text, kDefaultMaxJsonDepth, default_redactor(), &error);
}

class ScanAgreesWithTheParser : public testing::TestWithParam<const char*> {};

TEST_P(ScanAgreesWithTheParser, SameEnvelope) {
  const std::string_view text = GetParam();
  auto scanned = scan(text);
  auto parsed = parse(text);
  ASSERT_TRUE(scanned) << text;
  ASSERT_TRUE(parsed) << text;
  EXPECT_EQ(scanned->needs_redaction, parsed->needs_redaction) << text;
  EXPECT_EQ(scanned->document, parsed->document) << text;
}

INSTANTIATE_TEST_SUITE_P(
    Messages, ScanAgreesWithTheParser,
    testing::Values(
        R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","arguments":{"q":[1,2,{"r":null}],"b":true,"f":false}}})",
        R"( { "jsonrpc" : "2.0" , "id" : "a-1" , "method" : "tools/call" , "params" : { "_meta" : { "progressToken" : 7 , "traceparent" : "00-ab" } } } )",
        R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p-9","progress":0.5}})",
        R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":{"odd":[1,{}]}}})",
        R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"line\n\"quoted\" \u00e9 \ud83d\ude00 \/"}]}})",
        R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})",
        R"({"id":-0,"method":"m","params":{"progressToken":1.5e-3,"n":[18446744073709551615,123456789012345678901234567890,1E+2,-1e-400]}})",
        R"({"id":"\u00e9\u4e2d","method":"caf\u00e9","params":[1]})",
        "{\"id\":1,\"method\":\"x\",\"params\":{\"_meta\":{\"k\":\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"}}}",
        R"({"id":1,"id":2,"method":"a","method":"b","result":1,"params":"s"})",
        R"([{"id":1,"method":"a","params":{"_meta":{"progressToken":1}}},{"method":"n"},[1,[2]],7,"s",{"id":2,"result":{}}])",
        R"([])", R"([[]])", R"({})", R"("text")", R"(42)", R"(null)", R"(true)", "\n\t 1 \r\n"));

TEST(EnvelopeScanner, FindsSecretsBehindEscapesAndInsideEmbeddedJson) {
  for (const char* text : {
           R"({"id":1,"result":{"text":"use Bearer \u0061bcdefghijklmnop"}})",
           R"({"id":1,"result":{"text":"{\"api_key\":\"k\"}"}})",
           R"({"id":1,"method":"x","params":{"arguments":{"client_secret":"s"}}})",
           R"({"id":1,"method":"x","params":{"_meta":{"note":"sk-abcdefghijklmnopqrstu"}}})",
       }) {
    auto scanned = scan(text);
    ASSERT_TRUE(scanned) << text;
    EXPECT_TRUE(scanned->needs_redaction) << text;
  }
}

TEST(EnvelopeScanner, LeavesAnEscapedKeyToTheGeneralPath) {
  const std::string_view text = R"({"id":1,"method":"x","params":{"pass\u0077ord":"p"}})";
  EXPECT_FALSE(scan(text));
  std::string error;
  auto envelope = read_jsonrpc_envelope(text, kDefaultMaxJsonDepth, default_redactor(), &error);
  ASSERT_TRUE(envelope);
  EXPECT_TRUE(envelope->needs_redaction);
}

TEST(EnvelopeScanner, RefusesEverythingTheParserRefuses) {
  std::string too_deep = R"({"id":1,"method":"x","params":{"a":)";
  too_deep += std::string(200, '[') + std::string(200, ']') + "}}";
  for (const std::string& text : {
           std::string(""), std::string("   "), std::string("{"), std::string("[1,]"),
           std::string(R"({"a":1,})"), std::string(R"({"a" 1})"), std::string("{1:2}"),
           std::string("tru"), std::string("nul"), std::string("01"), std::string("-"),
           std::string("1."), std::string("1e"), std::string("+1"), std::string(".5"),
           std::string("1e400"), std::string("-1e400"), std::string(400, '9'),
           std::string("\"\\x\""), std::string("\"\\u12\""), std::string("\"\\udc00\""),
           std::string("\"\\ud800\""), std::string("\"\\ud800\\u0041\""),
           std::string("\"tab\there\""), std::string("\"\xc0\x80\""), std::string("\"\xc3\""),
           std::string("\"\xed\xa0\x80\""), std::string("\"\xf4\x90\x80\x80\""),
           std::string("\"\xe0\x80\xaf\""), std::string("\"\xff\""), std::string("\"open"),
           std::string(R"({"id":1} {"id":2})"), std::string("[1] x"), too_deep,
       }) {
    EXPECT_FALSE(scan(text)) << text;
    std::string error;
    EXPECT_FALSE(parse_json_bounded(text, kDefaultMaxJsonDepth, &error)) << text;
  }
}

TEST(EnvelopeScanner, LeavesAByteOrderMarkToTheParser) {
  const std::string text = "\xef\xbb\xbf{\"id\":1,\"result\":2}";
  EXPECT_FALSE(scan(text));
  auto parsed = parse(text);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->document, json::parse(R"({"id":1,"result":null})"));
}

}  // namespace
}  // namespace mcptap::capture

// Tests for secret redaction (capture/redactor.cpp).
#include "capture/redactor.h"

#include <gtest/gtest.h>

#include <string>

namespace mcptap::capture {
namespace {

using nlohmann::json;

const Redactor& default_redactor() {
  static const Redactor redactor{RedactOptions{}};
  return redactor;
}

TEST(Redactor, SecretKeysExactAndSuffixCaseInsensitive) {
  const Redactor& redactor = default_redactor();
  for (const char* key :
       {"password", "PASSWORD", "Token", "api_key", "API_KEY", "secret", "Authorization",
        "github_token", "GITHUB_TOKEN", "aws_key", "client_Secret", "_token"}) {
    EXPECT_TRUE(redactor.is_secret_key(key)) << key;
  }
  for (const char* key : {"progressToken", "tokens", "max_tokens", "passwords", "keyboard",
                          "secretary", "token_count", "name", "", "monkey", "tokenizer"}) {
    EXPECT_FALSE(redactor.is_secret_key(key)) << key;
  }
}

TEST(Redactor, ConfiguredNamesAreFoldedToo) {
  RedactOptions options;
  options.json_keys = {"X-Custom"};
  options.json_key_suffixes = {"_PIN"};
  Redactor redactor(options);
  EXPECT_TRUE(redactor.is_secret_key("x-custom"));
  EXPECT_TRUE(redactor.is_secret_key("card_pin"));
  EXPECT_FALSE(redactor.is_secret_key("password"));  // the defaults were replaced
}

TEST(Redactor, ReplacesValuesOfEveryTypeAtAnyDepth) {
  json document = json::parse(R"({
    "jsonrpc": "2.0", "id": 3, "method": "tools/call",
    "params": {
      "name": "login",
      "arguments": {
        "user": "ann",
        "Password": "hunter2",
        "token": 12345,
        "secret": {"nested": "value", "password": "inner"},
        "api_key": ["a", "b"],
        "github_token": null,
        "settings": {"deeper": {"AWS_KEY": true, "colour": "blue"}}
      }
    }
  })");
  EXPECT_TRUE(default_redactor().redact_json(document));
  const json& arguments = document["params"]["arguments"];
  EXPECT_EQ(arguments["user"], "ann");
  EXPECT_EQ(arguments["Password"], kRedactedValue);
  EXPECT_EQ(arguments["token"], kRedactedValue);
  EXPECT_EQ(arguments["secret"], kRedactedValue);
  EXPECT_EQ(arguments["api_key"], kRedactedValue);
  EXPECT_EQ(arguments["github_token"], kRedactedValue);
  EXPECT_EQ(arguments["settings"]["deeper"]["AWS_KEY"], kRedactedValue);
  EXPECT_EQ(arguments["settings"]["deeper"]["colour"], "blue");
  EXPECT_EQ(document["method"], "tools/call");
  EXPECT_EQ(document["id"], 3);
}

TEST(Redactor, WalksInsideArrays) {
  json document = json::parse(R"([
    {"id": 1, "result": {"items": [{"password": "x"}, {"ok": 1}, [[{"secret": "y"}]]]}},
    "password",
    [{"Api_Key": 7}]
  ])");
  EXPECT_TRUE(default_redactor().redact_json(document));
  EXPECT_EQ(document[0]["result"]["items"][0]["password"], kRedactedValue);
  EXPECT_EQ(document[0]["result"]["items"][1]["ok"], 1);
  EXPECT_EQ(document[0]["result"]["items"][2][0][0]["secret"], kRedactedValue);
  EXPECT_EQ(document[1], "password");  // a string value is not a key
  EXPECT_EQ(document[2][0]["Api_Key"], kRedactedValue);
}

TEST(Redactor, ProgressTokenAndOrdinaryMessagesUntouched) {
  const std::string text =
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search","arguments":{"query":"password reset","max_tokens":100},"_meta":{"progressToken":"tok-1"}}})";
  json document = json::parse(text);
  EXPECT_FALSE(default_redactor().redact_json(document));
  EXPECT_EQ(document, json::parse(text));
}

TEST(Redactor, ScalarDocumentsAreLeftAlone) {
  json number = 7;
  json text = "password";
  EXPECT_FALSE(default_redactor().redact_json(number));
  EXPECT_FALSE(default_redactor().redact_json(text));
  EXPECT_EQ(text, "password");
}

TEST(Redactor, DeepDocumentWithoutRecursion) {
  // Far deeper than the parser would ever allow, to show the walk does not recurse.
  json document = json::object();
  json* cursor = &document;
  for (int depth = 0; depth < 100'000; ++depth) {
    cursor = &(*cursor)[depth % 2 ? "a" : "b"];
    *cursor = json::array({json::object()});
    cursor = &(*cursor)[0];
  }
  (*cursor)["password"] = "deep";
  EXPECT_TRUE(default_redactor().redact_json(document));
  EXPECT_EQ((*cursor)["password"], kRedactedValue);
}

TEST(Redactor, HeadersByNameCaseInsensitive) {
  json headers = {{"Authorization", "Bearer abc"},
                  {"Content-Type", "application/json"},
                  {"COOKIE", "a=1"},
                  {"set-cookie", {"a=1", "b=2"}},
                  {"X-Api-Key", "k"},
                  {"Mcp-Session-Id", "s-1"}};
  EXPECT_TRUE(default_redactor().redact_headers(headers));
  EXPECT_EQ(headers["Authorization"], kRedactedValue);
  EXPECT_EQ(headers["COOKIE"], kRedactedValue);
  EXPECT_EQ(headers["set-cookie"], kRedactedValue);
  EXPECT_EQ(headers["X-Api-Key"], kRedactedValue);
  EXPECT_EQ(headers["Content-Type"], "application/json");
  EXPECT_EQ(headers["Mcp-Session-Id"], "s-1");
}

TEST(Redactor, HeadersWithoutSecretsReportNoChange) {
  json headers = {{"Accept", "text/event-stream"}, {"Authorization-Hint", "none"}};
  json before = headers;
  EXPECT_FALSE(default_redactor().redact_headers(headers));
  EXPECT_EQ(headers, before);
  json not_an_object = json::array({"Authorization"});
  EXPECT_FALSE(default_redactor().redact_headers(not_an_object));
}

}  // namespace
}  // namespace mcptap::capture

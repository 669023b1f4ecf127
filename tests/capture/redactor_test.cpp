// Tests for secret redaction (capture/redactor.cpp).
#include "capture/redactor.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "capture/message_pipeline.h"
#include "tests/support/default_redactor.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

using test_support::default_redactor;

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

// ---- Value patterns ----

std::string redacted(std::string text, const Redactor& redactor = default_redactor()) {
  redactor.redact_string(text);
  return text;
}

TEST(RedactorPatterns, EachSecretShapeIsReplacedAndOnlyIt) {
  const std::string jwt =
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_"
      "XgL0n3I9PlFUP0THsR8U";
  const struct {
    std::string secret;
    const char* what;
  } cases[] = {
      {"sk-abcdefghijklmnopqrstuvwxyz012345", "openai"},
      {"sk-proj-AbCdEf0123456789_ghIJKL-mnop", "openai project"},
      {"sk-ant-api03-abcdefghijklmnop0123", "anthropic"},
      {"ghp_0123456789abcdefghijABCDEFGHIJ012345", "github classic"},
      {"gho_0123456789abcdefghijABCDEFGHIJ012345", "github oauth"},
      {"ghs_0123456789abcdefghijABCDEFGHIJ012345", "github server"},
      {"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github fine-grained"},
      {"xoxb-1234567890-0987654321-AbCdEfGhIjKl", "slack bot"},
      {"xoxp-1234567890-0987654321-AbCdEfGhIjKl", "slack user"},
      {"AKIAIOSFODNN7EXAMPLE", "aws key id"},
      {jwt, "jwt"},
      {"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
       "pem rsa"},
      {"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----", "pem pkcs8"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(redacted("use " + c.secret + " now"), "use [REDACTED] now") << c.what;
    EXPECT_EQ(redacted(c.secret), "[REDACTED]") << c.what;
    EXPECT_EQ(redacted("key=\"" + c.secret + "\","), "key=\"[REDACTED]\",") << c.what;
  }
}

TEST(RedactorPatterns, BearerKeepsTheScheme) {
  EXPECT_EQ(redacted("Authorization: Bearer abc.def-ghi_jkl~mno+/="),
            "Authorization: Bearer [REDACTED]");
  EXPECT_EQ(redacted("bearer 0123456789abcdef"), "bearer [REDACTED]");
  EXPECT_EQ(redacted("Basic dXNlcjpwYXNzd29yZA=="), "Basic [REDACTED]");
  EXPECT_EQ(redacted("the bearer of bad news"), "the bearer of bad news");
}

// A WWW-Authenticate challenge names where to get a token: its auth-params stay readable.
TEST(RedactorPatterns, BearerChallengeParametersAreNotCredentials) {
  const std::string challenge =
      R"(Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource")";
  EXPECT_EQ(redacted(challenge), challenge);
  EXPECT_EQ(redacted(R"(Bearer realm=example_realm_name, error="invalid_token")"),
            R"(Bearer realm=example_realm_name, error="invalid_token")");
  EXPECT_EQ(redacted("Bearer dXNlcjpwYXNzd29yZA=="), "Bearer [REDACTED]");  // padding only
}

TEST(RedactorPatterns, LookalikesStayUntouched) {
  for (const char* text :
       {"task-abcdefghijklmnopqrstuvwxyz", "sk-short", "ask-abcdefghijklmnopqrstuvwx", "ghp_short",
        "AKIA0123", "AKIAIOSFODNN7EXAMPLEX", "eyJhbGciOiJIUzI1NiJ9 only one",
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", "xoxb-1",
        "Skip the sk- prefix", "ordinary text with no secret", "", "progressToken tok-1"}) {
    std::string text_copy = text;
    EXPECT_FALSE(default_redactor().redact_string(text_copy)) << text;
    EXPECT_EQ(text_copy, text);
  }
}

TEST(RedactorPatterns, UnterminatedPrivateKeyIsRedactedToTheEnd) {
  EXPECT_EQ(redacted("k: -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI"), "k: [REDACTED]");
}

TEST(RedactorPatterns, SeveralSecretsInOneString) {
  EXPECT_EQ(redacted("a sk-abcdefghijklmnop0123 b ghp_0123456789abcdefghijAB c"),
            "a [REDACTED] b [REDACTED] c");
}

TEST(RedactorPatterns, ExtraPrefixesAndSwitchOff) {
  RedactOptions options;
  options.extra_value_prefixes = {"xai-", ""};
  Redactor with_extra(options);
  EXPECT_EQ(redacted("k=xai-abcdefgh123", with_extra), "k=[REDACTED]");
  EXPECT_EQ(redacted("k=xai-abc", with_extra), "k=xai-abc");
  EXPECT_EQ(redacted("plain words", with_extra), "plain words");  // "" was dropped

  RedactOptions off;
  off.value_patterns = false;
  Redactor without(off);
  std::string text = "sk-abcdefghijklmnopqrstuvwxyz012345";
  EXPECT_FALSE(without.redact_string(text));
  json document = {{"note", text}};
  EXPECT_FALSE(without.redact_json(document));
}

TEST(RedactorPatterns, StringValuesInDocumentsAndArrays) {
  json document = json::parse(R"({"jsonrpc":"2.0","id":1,"result":{"content":[
    {"type":"text","text":"your key is sk-abcdefghijklmnop0123, keep it"},
    "ghp_0123456789abcdefghijABCDEF"]}})");
  EXPECT_TRUE(default_redactor().redact_json(document));
  EXPECT_EQ(document["result"]["content"][0]["text"], "your key is [REDACTED], keep it");
  EXPECT_EQ(document["result"]["content"][1], "[REDACTED]");
  EXPECT_EQ(document["result"]["content"][0]["type"], "text");
}

TEST(RedactorPatterns, JsonInsideJsonStrings) {
  json inner = {{"password", "hunter2"},
                {"note", "Bearer abcdefghijklmnop"},
                {"more", json({{"api_key", "k"}}).dump()}};
  json document = {{"result", {{"content", {{{"type", "text"}, {"text", inner.dump()}}}}}}};
  EXPECT_TRUE(default_redactor().redact_json(document));
  std::string text = document["result"]["content"][0]["text"];
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_EQ(text.find("abcdefghijklmnop"), std::string::npos) << text;
  json reparsed = json::parse(text);
  EXPECT_EQ(reparsed["password"], kRedactedValue);
  EXPECT_EQ(reparsed["note"], "Bearer [REDACTED]");
  EXPECT_EQ(json::parse(reparsed["more"].get<std::string>())["api_key"], kRedactedValue);

  // JSON text without a secret is not rewritten (its formatting stays as sent).
  json clean = {{"text", "{ \"a\" : 1 }"}};
  EXPECT_FALSE(default_redactor().redact_json(clean));
  EXPECT_EQ(clean["text"], "{ \"a\" : 1 }");
  // Text that only looks like JSON gets the patterns.
  json broken = {{"text", "{not json sk-abcdefghijklmnop0123"}};
  EXPECT_TRUE(default_redactor().redact_json(broken));
  EXPECT_EQ(broken["text"], "{not json [REDACTED]");
}

TEST(RedactorPatterns, DeeplyEmbeddedJsonStringsStopAtTheCap) {
  // Each level is the previous document as a string; the walk must terminate and redact
  // the levels it follows.
  auto wrap = [](int levels) {
    json level = {{"password", "hunter2"}};
    for (int i = 0; i < levels; ++i) level = json{{"wrapped", level.dump()}};
    return level;
  };
  json shallow = wrap(3);
  EXPECT_TRUE(default_redactor().redact_json(shallow));
  EXPECT_EQ(shallow.dump().find("hunter2"), std::string::npos);
  // Past the cap the walk stops following strings (documented limit) and still ends.
  json deep = wrap(8);  // each level doubles the escaping, so keep it small
  json before = deep;
  EXPECT_FALSE(default_redactor().redact_json(deep));
  EXPECT_EQ(deep, before);
}

TEST(RedactorPatterns, HeaderValuesUnderOtherNames) {
  json headers = {{"x-upstream-auth", "Bearer abcdefghijklmnop"},
                  {"x-forwarded", {"ok", "sk-abcdefghijklmnop0123"}},
                  {"referer", "https://a.example/cb?code=xyz&state=1"},
                  {"accept", "application/json"}};
  EXPECT_TRUE(default_redactor().redact_headers(headers));
  EXPECT_EQ(headers["x-upstream-auth"], "Bearer [REDACTED]");
  EXPECT_EQ(headers["x-forwarded"][1], "[REDACTED]");
  EXPECT_EQ(headers["referer"], "https://a.example/cb?code=[REDACTED]&state=1");
  EXPECT_EQ(headers["accept"], "application/json");
}

TEST(RedactorTarget, SecretQueryParametersAndPatterns) {
  const Redactor& r = default_redactor();
  EXPECT_EQ(r.redact_target("/mcp"), "/mcp");
  EXPECT_EQ(r.redact_target("/mcp?sessionId=abc"), "/mcp?sessionId=abc");
  EXPECT_EQ(r.redact_target("/ws?token=abc&x=1"), "/ws?token=[REDACTED]&x=1");
  EXPECT_EQ(r.redact_target("/ws?API_KEY=abc&access_token=t&Key=k&sig=s"),
            "/ws?API_KEY=[REDACTED]&access_token=[REDACTED]&Key=[REDACTED]&sig=[REDACTED]");
  EXPECT_EQ(r.redact_target("/ws?q=sk-abcdefghijklmnop0123&flag&token="),
            "/ws?q=[REDACTED]&flag&token=");
  EXPECT_EQ(r.redact_target("/hooks/ghp_0123456789abcdefghijABCDEF?x=1"), "/hooks/[REDACTED]?x=1");
  EXPECT_EQ(r.redact_target("/a?"), "/a?");
}

TEST(RedactorPatterns, LinearOnHostileText) {
  // Many near-misses in a row: each position is tried once, so this stays fast.
  std::string text;
  for (int i = 0; i < 200'000; ++i) text += "eyJaaaaaaaaaaaa.eyJ ";
  text += std::string(1'000'000, '-');
  text += "-----BEGIN " + std::string(100'000, 'A');
  std::string copy = text;
  EXPECT_FALSE(default_redactor().redact_string(copy));
}

// ---- Credential spellings: one normalised rule per name, no look-alike caught ----

// Key spellings seen in real tool arguments, results and configs: every case and
// separator style of each default name.
const char* const kSecretKeySpellings[] = {"apiKey",
                                           "api_key",
                                           "API_KEY",
                                           "api-key",
                                           "Api-Key",
                                           "APIKEY",
                                           "apikey",
                                           "accessToken",
                                           "access_token",
                                           "ACCESS-TOKEN",
                                           "refreshToken",
                                           "refresh_token",
                                           "clientSecret",
                                           "client_secret",
                                           "CLIENT_SECRET",
                                           "privateKey",
                                           "private_key",
                                           "PRIVATE-KEY",
                                           "passwd",
                                           "PASSWD",
                                           "pwd",
                                           "Password",
                                           "passphrase",
                                           "credentials",
                                           "Credentials",
                                           "credential",
                                           "auth",
                                           "Auth",
                                           "AUTH",
                                           "authToken",
                                           "auth_token",
                                           "AuthToken",
                                           "authtoken",
                                           "x-auth-token",
                                           "sessionToken",
                                           "session_token",
                                           "idToken",
                                           "githubToken",
                                           "GITHUB_TOKEN",
                                           "OAuth2Token",
                                           "openaiApiKey",
                                           "APIKey",
                                           "x-api-key",
                                           "awsSecretAccessKey",
                                           "aws_secret_access_key",
                                           "dbPassword",
                                           "db_password",
                                           "adminPasswd",
                                           "awsCredentials",
                                           "cookie",
                                           "Set-Cookie",
                                           "mySecret",
                                           "_token",
                                           "secret",
                                           "token",
                                           "bearer_token",
                                           "X-Goog-Api-Key"};

// Names that share letters with a credential but hold useful data. max_tokens is MCP's
// sampling limit and progressToken its progress correlation: both must stay readable.
const char* const kLookalikeKeys[] = {"tokens",
                                      "max_tokens",
                                      "maxTokens",
                                      "MAX_TOKENS",
                                      "token_count",
                                      "tokenCount",
                                      "author",
                                      "authority",
                                      "Authority",
                                      "keyboard",
                                      "monkey",
                                      "passthrough",
                                      "progressToken",
                                      "progress_token",
                                      "inputTokens",
                                      "output_tokens",
                                      "totalTokens",
                                      "tokenizer",
                                      "token_type",
                                      "tokenType",
                                      "passwords",
                                      "secretary",
                                      "keys",
                                      "key",
                                      "hotkey",
                                      "turnkey",
                                      "whiskey",
                                      "authenticated",
                                      "authMethod",
                                      "auth_type",
                                      "sessionId",
                                      "cursor",
                                      "nextCursor",
                                      "keyId",
                                      "key_id",
                                      "secretName",
                                      "passwordHint",
                                      "pwdx",
                                      "name",
                                      "",
                                      "_",
                                      "--",
                                      "AUTHOR",
                                      "Tokens",
                                      "stop_tokens"};

TEST(RedactorSpellings, EveryCredentialKeySpellingIsSecret) {
  for (const char* key : kSecretKeySpellings) {
    EXPECT_TRUE(default_redactor().is_secret_key(key)) << key;
    json document = {{"arguments", {{key, "s3cr3t-value"}, {"query", "q"}}}};
    EXPECT_TRUE(default_redactor().redact_json(document)) << key;
    EXPECT_EQ(document["arguments"][key], kRedactedValue) << key;
    EXPECT_EQ(document["arguments"]["query"], "q") << key;
  }
}

TEST(RedactorSpellings, LookalikeKeysStay) {
  for (const char* key : kLookalikeKeys) {
    EXPECT_FALSE(default_redactor().is_secret_key(key)) << key;
    json document = {{"arguments", {{key, 100}}}};
    EXPECT_FALSE(default_redactor().redact_json(document)) << key;
    EXPECT_EQ(document["arguments"][key], 100) << key;
  }
}

TEST(RedactorSpellings, CredentialHeadersAreRedacted) {
  for (const char* name :
       {"x-auth-token", "X-Auth-Token", "api-key", "Api-Key", "x-goog-api-key", "X-Goog-Api-Key",
        "x-amz-security-token", "X-Amz-Security-Token", "private-token", "PRIVATE-TOKEN",
        "x-access-token", "X-Access-Token", "ocp-apim-subscription-key",
        "Ocp-Apim-Subscription-Key", "x_api_key", "Authorization", "Cookie", "x-api-token"}) {
    json headers = {{name, "s3cr3t-value"}, {"content-type", "application/json"}};
    EXPECT_TRUE(default_redactor().redact_headers(headers)) << name;
    EXPECT_EQ(headers[name], kRedactedValue) << name;
    EXPECT_EQ(headers["content-type"], "application/json") << name;
  }
  for (const char* name : {"content-type", "mcp-session-id", "authorization-hint", "x-request-id",
                           "accept", "x-tokens", "user-agent"}) {
    json headers = {{name, "plain-value"}};
    EXPECT_FALSE(default_redactor().redact_headers(headers)) << name;
    EXPECT_EQ(headers[name], "plain-value") << name;
  }
}

TEST(RedactorSpellings, QueryNamesAreDecodedAndNormalised) {
  for (const char* name : {"token",        "%74oken",       "%74%6F%6B%65%6E",
                           "%54OKEN",      "access-token",  "access_token",
                           "accessToken",  "apiKey",        "api%5Fkey",
                           "api%2Dkey",    "%61piKey",      "x-api-key",
                           "X-Api-Key",    "api-key",       "key",
                           "sig",          "code",          "auth",
                           "password",     "passwd",        "client_secret",
                           "clientSecret", "refresh_token", "private_token",
                           "auth_token",   "authToken"}) {
    std::string target = std::string("/ws?session=1&") + name + "=s3cr3t-value&x=2";
    EXPECT_EQ(default_redactor().redact_target(target),
              std::string("/ws?session=1&") + name + "=[REDACTED]&x=2")
        << name;
  }
  for (const char* name :
       {"sessionId", "tokens", "max_tokens", "maxTokens", "author", "keyboard", "monkey",
        "passthrough", "q", "cursor", "%6Donkey", "%zz", "%", "token%", "progressToken"}) {
    std::string target = std::string("/ws?") + name + "=plain-value";
    EXPECT_EQ(default_redactor().redact_target(target), target) << name;
  }
}

TEST(RedactorSpellings, ConfiguredNamesAreNormalisedTheSameWay) {
  RedactOptions options;
  options.json_keys = {"Card-PIN"};
  options.json_key_suffixes = {"_otp", "seed"};
  options.json_key_exceptions = {};
  options.headers = {"X_Tenant_Secret"};
  options.query_params = {"one-time"};
  Redactor redactor(options);
  for (const char* key : {"card_pin", "cardPin", "CARDPIN", "card-pin", "sms_otp", "smsOtp",
                          "SMS-OTP", "walletseed", "wallet_seed"}) {
    EXPECT_TRUE(redactor.is_secret_key(key)) << key;
  }
  // "_otp" begins a word; "seed" (a small letter first) is a plain ending.
  for (const char* key : {"smsotp", "card", "pin", "otp", "api_key", "seeds"}) {
    EXPECT_FALSE(redactor.is_secret_key(key)) << key;
  }
  json headers = {{"x-tenant-secret", "v"}, {"authorization", "basic"}};
  EXPECT_TRUE(redactor.redact_headers(headers));
  EXPECT_EQ(headers["x-tenant-secret"], kRedactedValue);
  EXPECT_EQ(headers["authorization"], "basic");  // the defaults were replaced
  EXPECT_EQ(redactor.redact_target("/p?oneTime=9&%6Fne_time=8&x=1"),
            "/p?oneTime=[REDACTED]&%6Fne_time=[REDACTED]&x=1");

  RedactOptions no_exceptions;
  no_exceptions.json_key_exceptions = {};
  EXPECT_TRUE(Redactor(no_exceptions).is_secret_key("progressToken"));
  // Names of separators only would match everything or nothing: they are dropped.
  RedactOptions separators;
  separators.json_keys = {"_", ""};
  separators.json_key_suffixes = {"-", "_"};
  Redactor dropped(separators);
  for (const char* key : {"", "_", "a_", "name"}) EXPECT_FALSE(dropped.is_secret_key(key)) << key;
}

// Keeps every record the pipeline delivers.
struct KeptRecords : RecordConsumer {
  std::vector<Record> records;
  bool consume(Record&& record) override {
    records.push_back(std::move(record));
    return true;
  }
};

TEST(RedactorSpellings, MetaKeysAreRedactedInThePayloadAndInTheRecordsMetaCopy) {
  KeptRecords kept;
  MessagePipeline pipeline("r", CaptureOptions{}, default_redactor(), kept);
  for (const char* key : {"authToken", "apiKey", "accessToken", "x-api-key", "credentials"}) {
    const std::string text = std::string(R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)") +
                             R"("params":{"name":"t","arguments":{"max_tokens":5},)" +
                             R"("_meta":{"progressToken":"p-1","traceparent":"00-ab",")" + key +
                             R"(":"s3cr3t-value"}}})";
    CapturedMessage message;
    message.payload = text;
    message.size = text.size();
    pipeline.submit("c1", std::move(message));
    ASSERT_FALSE(kept.records.empty());
    const Record& record = kept.records.back();
    EXPECT_TRUE(record.redacted) << key;
    ASSERT_TRUE(record.payload) << key;
    EXPECT_EQ(record.payload->find("s3cr3t-value"), std::string::npos) << *record.payload;
    EXPECT_EQ(record.meta_json.find("s3cr3t-value"), std::string::npos) << record.meta_json;
    json payload = json::parse(*record.payload);
    EXPECT_EQ(payload["params"]["_meta"][key], kRedactedValue);
    EXPECT_EQ(payload["params"]["_meta"]["progressToken"], "p-1");
    EXPECT_EQ(payload["params"]["arguments"]["max_tokens"], 5);
    json meta = json::parse(record.meta_json);
    EXPECT_EQ(meta["_meta"][key], kRedactedValue) << record.meta_json;
    EXPECT_EQ(meta["_meta"]["traceparent"], "00-ab") << record.meta_json;
  }
}

}  // namespace
}  // namespace mcptap::capture

// Tests for JSON-RPC 2.0 classification (capture/jsonrpc.cpp).
#include "capture/jsonrpc.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace mcptap::capture {
namespace {

using nlohmann::json;

ClassifiedMessage classify(std::string_view text) {
  return classify_jsonrpc(json::parse(text));
}

struct KindCase {
  const char* text;
  Kind kind;
  std::optional<std::string> id_text;
  std::optional<std::string> method;
};

class ClassifyKind : public testing::TestWithParam<KindCase> {};

TEST_P(ClassifyKind, KindIdAndMethod) {
  const KindCase& expected = GetParam();
  ClassifiedMessage message = classify(expected.text);
  EXPECT_EQ(message.kind, expected.kind) << expected.text << ": " << message.invalid_reason;
  EXPECT_EQ(message.id_text, expected.id_text) << expected.text;
  EXPECT_EQ(message.method, expected.method) << expected.text;
  EXPECT_TRUE(message.invalid_reason.empty()) << expected.text;
  EXPECT_TRUE(message.batch_items.empty()) << expected.text;
}

INSTANTIATE_TEST_SUITE_P(
    EveryKind, ClassifyKind,
    testing::Values(
        KindCase{R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})", Kind::Request, "1",
                 "tools/list"},
        KindCase{R"({"jsonrpc":"2.0","id":"1","method":"tools/list"})", Kind::Request, "\"1\"",
                 "tools/list"},
        KindCase{R"({"jsonrpc":"2.0","id":null,"method":"ping"})", Kind::Request, "null", "ping"},
        KindCase{R"({"jsonrpc":"2.0","id":-7,"method":"ping"})", Kind::Request, "-7", "ping"},
        KindCase{R"({"jsonrpc":"2.0","id":2.5,"method":"ping"})", Kind::Request, "2.5", "ping"},
        KindCase{R"({"jsonrpc":"2.0","id":"a\"b","method":"ping"})", Kind::Request, R"("a\"b")",
                 "ping"},
        KindCase{R"({"jsonrpc":"2.0","method":"notifications/initialized"})", Kind::Notification,
                 std::nullopt, "notifications/initialized"},
        KindCase{R"({"jsonrpc":"2.0","id":3,"result":{"content":[]}})", Kind::Response, "3",
                 std::nullopt},
        KindCase{R"({"jsonrpc":"2.0","id":"3","result":null})", Kind::Response, "\"3\"",
                 std::nullopt},
        KindCase{R"({"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"nope"}})",
                 Kind::Error, "3", std::nullopt},
        KindCase{R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse"}})",
                 Kind::Error, "null", std::nullopt},
        // Leniency: an odd error object or a missing/wrong "jsonrpc" member still classifies.
        KindCase{R"({"jsonrpc":"2.0","id":4,"error":"broken"})", Kind::Error, "4", std::nullopt},
        KindCase{R"({"id":5,"method":"tools/call"})", Kind::Request, "5", "tools/call"},
        KindCase{R"({"jsonrpc":"1.0","id":6,"result":1})", Kind::Response, "6", std::nullopt},
        KindCase{R"({"jsonrpc":2,"method":"x"})", Kind::Notification, std::nullopt, "x"}));

struct InvalidCase {
  const char* text;
  const char* reason;
};

class ClassifyInvalid : public testing::TestWithParam<InvalidCase> {};

TEST_P(ClassifyInvalid, SaysWhy) {
  const InvalidCase& expected = GetParam();
  ClassifiedMessage message = classify(expected.text);
  EXPECT_EQ(message.kind, Kind::Invalid) << expected.text;
  EXPECT_EQ(message.invalid_reason, expected.reason) << expected.text;
  EXPECT_FALSE(message.id_text) << expected.text;
  EXPECT_FALSE(message.method) << expected.text;
}

INSTANTIATE_TEST_SUITE_P(
    EveryReason, ClassifyInvalid,
    testing::Values(
        InvalidCase{"42", "not an object"}, InvalidCase{"\"x\"", "not an object"},
        InvalidCase{"null", "not an object"}, InvalidCase{"true", "not an object"},
        InvalidCase{"[]", "empty batch"},
        InvalidCase{R"({"id":1,"method":7})", "method is not a string"},
        InvalidCase{R"({"method":null})", "method is not a string"},
        InvalidCase{R"({"id":[1],"method":"x"})", "id must be a string, number or null"},
        InvalidCase{R"({"id":{"a":1},"result":1})", "id must be a string, number or null"},
        InvalidCase{R"({"id":true,"error":{}})", "id must be a string, number or null"},
        InvalidCase{R"({"id":1,"result":1,"error":{}})", "both result and error"},
        InvalidCase{R"({"id":1,"method":"x","result":1})", "method together with result or error"},
        InvalidCase{R"({"result":1})", "result without an id"},
        InvalidCase{R"({"error":{"code":1}})", "error without an id"},
        InvalidCase{R"({"jsonrpc":"2.0","id":1})", "neither method nor result/error"},
        InvalidCase{"{}", "neither method nor result/error"}));

TEST(Classify, IdTextKeepsNumberAndStringApart) {
  auto number = classify(R"({"id":1,"method":"m"})").id_text;
  auto string = classify(R"({"id":"1","method":"m"})").id_text;
  auto null = classify(R"({"id":null,"method":"m"})").id_text;
  ASSERT_TRUE(number && string && null);
  EXPECT_EQ(*number, "1");
  EXPECT_EQ(*string, "\"1\"");
  EXPECT_EQ(*null, "null");
  EXPECT_NE(*number, *string);
}

TEST(Classify, IdTextIsHowNlohmannDumpsIt) {
  json message = {{"id", "ü\n"}, {"method", "m"}};
  EXPECT_EQ(classify_jsonrpc(message).id_text, message["id"].dump());
}

TEST(Classify, InvalidUtf8InHandBuiltIdDoesNotThrow) {
  json message = {{"id", std::string("\xff")}, {"method", "m"}};
  ClassifiedMessage classified;
  EXPECT_NO_THROW(classified = classify_jsonrpc(message));
  EXPECT_EQ(classified.kind, Kind::Request);
  ASSERT_TRUE(classified.id_text);
  EXPECT_EQ(classified.id_text->front(), '"');
}

TEST(Classify, RequestProgressTokenFromMeta) {
  auto numeric = classify(
      R"({"id":3,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":17}}})");
  EXPECT_EQ(numeric.progress_token, "17");
  auto text =
      classify(R"({"id":3,"method":"tools/call","params":{"_meta":{"progressToken":"p"}}})");
  EXPECT_EQ(text.progress_token, "\"p\"");
}

TEST(Classify, NoProgressTokenWhenAbsentOrMisplaced) {
  EXPECT_FALSE(classify(R"({"id":3,"method":"tools/call"})").progress_token);
  EXPECT_FALSE(classify(R"({"id":3,"method":"tools/call","params":[1]})").progress_token);
  EXPECT_FALSE(classify(R"({"id":3,"method":"tools/call","params":{"_meta":5}})").progress_token);
  // On a request the token belongs in _meta, not directly in params.
  EXPECT_FALSE(
      classify(R"({"id":3,"method":"tools/call","params":{"progressToken":1}})").progress_token);
}

TEST(Classify, ProgressNotificationCarriesToken) {
  auto message = classify(
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":1,"total":4}})");
  EXPECT_EQ(message.kind, Kind::Notification);
  EXPECT_EQ(message.progress_token, "\"p\"");
  EXPECT_FALSE(message.cancelled_request_id);
  // Only notifications/progress reads params.progressToken.
  EXPECT_FALSE(classify(R"({"method":"notifications/message","params":{"progressToken":1}})")
                   .progress_token);
}

TEST(Classify, CancelledNotificationCarriesRequestId) {
  auto number = classify(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"x"}})");
  EXPECT_EQ(number.kind, Kind::Notification);
  EXPECT_EQ(number.cancelled_request_id, "3");
  auto string = classify(R"({"method":"notifications/cancelled","params":{"requestId":"3"}})");
  EXPECT_EQ(string.cancelled_request_id, "\"3\"");
  EXPECT_FALSE(classify(R"({"method":"notifications/cancelled"})").cancelled_request_id);
  EXPECT_FALSE(classify(R"({"method":"notifications/other","params":{"requestId":3}})")
                   .cancelled_request_id);
}

TEST(Classify, BatchClassifiesEveryItemInOrder) {
  auto batch = classify(R"([
    {"jsonrpc":"2.0","id":1,"method":"tools/list"},
    {"jsonrpc":"2.0","method":"notifications/initialized"},
    {"jsonrpc":"2.0","id":"1","result":{}},
    {"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"m"}},
    7,
    [],
    {"id":1}
  ])");
  ASSERT_EQ(batch.kind, Kind::Batch);
  EXPECT_TRUE(batch.invalid_reason.empty());
  EXPECT_FALSE(batch.id_text);
  ASSERT_EQ(batch.batch_items.size(), 7u);
  EXPECT_EQ(batch.batch_items[0].kind, Kind::Request);
  EXPECT_EQ(batch.batch_items[0].id_text, "1");
  EXPECT_EQ(batch.batch_items[0].method, "tools/list");
  EXPECT_EQ(batch.batch_items[1].kind, Kind::Notification);
  EXPECT_EQ(batch.batch_items[2].kind, Kind::Response);
  EXPECT_EQ(batch.batch_items[2].id_text, "\"1\"");
  EXPECT_EQ(batch.batch_items[3].kind, Kind::Error);
  EXPECT_EQ(batch.batch_items[3].id_text, "2");
  EXPECT_EQ(batch.batch_items[4].kind, Kind::Invalid);
  EXPECT_EQ(batch.batch_items[4].invalid_reason, "not an object");
  EXPECT_EQ(batch.batch_items[5].kind, Kind::Invalid);
  EXPECT_EQ(batch.batch_items[5].invalid_reason, "batch inside a batch");
  EXPECT_EQ(batch.batch_items[6].kind, Kind::Invalid);
  EXPECT_EQ(batch.batch_items[6].invalid_reason, "neither method nor result/error");
}

TEST(Classify, BatchItemsKeepTheirReferences) {
  auto batch = classify(R"([
    {"id":3,"method":"tools/call","params":{"_meta":{"progressToken":9}}},
    {"method":"notifications/cancelled","params":{"requestId":3}}
  ])");
  ASSERT_EQ(batch.batch_items.size(), 2u);
  EXPECT_EQ(batch.batch_items[0].progress_token, "9");
  EXPECT_EQ(batch.batch_items[1].cancelled_request_id, "3");
}

TEST(Classify, CarriesTheOperationFactsOfAMessage) {
  auto request = classify(
      R"({"id":2,"method":"tools/call","params":{"name":"deploy","inputResponses":{"login":{}},"requestState":"s"}})");
  EXPECT_EQ(request.facts.name, "deploy");
  EXPECT_TRUE(request.facts.has_input_responses);
  EXPECT_TRUE(request.facts.request_state_sha256);
  auto answer =
      classify(R"({"id":1,"result":{"resultType":"task","taskId":"t1","status":"working"}})");
  EXPECT_EQ(answer.facts.task_id, "t1");
  EXPECT_EQ(answer.facts.result_type, "task");
  auto error = classify(R"({"id":1,"error":{"code":-32020,"message":"Header mismatch"}})");
  EXPECT_EQ(error.facts.error_code, -32020);
  // A message that is not one links nothing.
  auto invalid = classify(R"({"id":1,"method":"tools/call","params":{"name":"x"},"result":{}})");
  ASSERT_EQ(invalid.kind, Kind::Invalid);
  EXPECT_FALSE(invalid.facts.name);
}

TEST(Classify, BatchItemsCarryTheirOwnFacts) {
  auto batch = classify(R"([
    {"id":1,"method":"tasks/get","params":{"taskId":"a"}},
    {"method":"notifications/tasks/status","params":{"taskId":"b","status":"completed"}},
    {"id":2,"error":{"code":-32601}}
  ])");
  ASSERT_EQ(batch.batch_items.size(), 3u);
  EXPECT_FALSE(batch.facts.task_id);
  EXPECT_EQ(batch.batch_items[0].facts.task_id, "a");
  EXPECT_EQ(batch.batch_items[1].facts.task_id, "b");
  EXPECT_EQ(batch.batch_items[1].facts.task_status, "completed");
  EXPECT_EQ(batch.batch_items[2].facts.error_code, -32601);
}

}  // namespace
}  // namespace mcptap::capture

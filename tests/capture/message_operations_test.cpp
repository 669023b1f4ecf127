// Tests for the operation step of capture/message_pipeline: operation ids, identity, the
// standard headers and what an HTTP exchange pairs.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "capture/message_pipeline.h"
#include "tests/capture/collecting_consumer.h"
#include "tests/support/set_and_equal.h"

namespace mcptap::capture {
namespace {

constexpr std::string_view kMeta2026 =
    R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
    R"("io.modelcontextprotocol/clientInfo":{"name":"ops-client","version":"1.0"},)"
    R"("io.modelcontextprotocol/clientCapabilities":{}})";

class MessageOperationsTest : public testing::Test {
 protected:
  std::optional<RequestRef> send(Direction direction, const std::string& text,
                                 std::string_view session, const RequestRef* answers = nullptr,
                                 int http_status = 0, const StandardHeaders* headers = nullptr) {
    CapturedMessage message;
    message.direction = direction;
    message.transport = Transport::Http;
    message.session_id = session;
    message.payload = text;
    message.size = text.size();
    message.answers = answers;
    message.http_status = http_status;
    message.headers = headers;
    message.passed_at_us = now_us += 1000;
    return pipeline.submit(session, std::move(message));
  }
  std::optional<RequestRef> request(const std::string& text, std::string_view session,
                                    const StandardHeaders* headers = nullptr) {
    return send(Direction::ClientToServer, text, session, nullptr, 0, headers);
  }
  void answer(const std::string& text, std::string_view session,
              const RequestRef* answers = nullptr, int http_status = 200) {
    send(Direction::ServerToClient, text, session, answers, http_status);
  }
  nlohmann::json meta(size_t i) const {
    return nlohmann::json::parse(consumer.records.at(i).meta_json);
  }
  const Record& row(size_t i) const { return consumer.records.at(i); }

  static std::string confirm_call(int id, const std::string& extra) {
    return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
           R"(,"method":"tools/call","params":{"name":"confirm","arguments":{"x":1},)" + extra +
           std::string(kMeta2026) + "}}";
  }
  static std::string input_required(int id, const std::string& key, const std::string& method,
                                    const std::string& state) {
    return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
           R"(,"result":{"resultType":"input_required","inputRequests":{")" + key +
           R"(":{"method":")" + method + R"(","params":{}}},"requestState":")" + state + "\"}}";
  }

  int64_t now_us = 1'800'000'000'000'000;
  Redactor redactor{RedactOptions{}};
  CollectingConsumer consumer;
  MessagePipeline pipeline{"gates", CaptureOptions{}, redactor, consumer};
};

TEST_F(MessageOperationsTest, PlainExchangeIsAnOperationNamedByItsCorrelationId) {
  std::optional<RequestRef> ref =
      request(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})", "c1");
  answer(R"({"jsonrpc":"2.0","id":1,"result":{"tools":[]}})", "c1");
  ASSERT_EQ(consumer.records.size(), 2u);
  ASSERT_TRUE(row(0).operation_id.has_value());
  EXPECT_EQ(row(0).operation_id, row(0).correlation_id);
  EXPECT_EQ(row(1).operation_id, row(0).operation_id);
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->id_text, "1");
  EXPECT_EQ(ref->method, "tools/list");
  EXPECT_EQ(ref->correlation_id, *row(0).correlation_id);
  EXPECT_EQ(ref->operation_id, *row(0).operation_id);
  EXPECT_FALSE(meta(1).contains("operation"));  // one exchange: its latency says it all
}

TEST_F(MessageOperationsTest, OnlyASingleRequestGivesARequestRef) {
  EXPECT_FALSE(request(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", "c1"));
  EXPECT_FALSE(request(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])", "c1"));
  EXPECT_FALSE(request(R"({"jsonrpc":"2.0","id":1,"result":{}})", "c1"));
  for (const Record& record : consumer.records) EXPECT_NE(record.kind, Kind::Request);
}

TEST_F(MessageOperationsTest, NullIdErrorPairsWithTheRequestOfItsExchange) {
  std::optional<RequestRef> ref =
      request(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a"}})", "c1");
  ASSERT_TRUE(ref);
  answer(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Forbidden"}})", "c1",
         &*ref, 403);
  ASSERT_EQ(consumer.records.size(), 2u);
  EXPECT_EQ(row(1).kind, Kind::Error);
  EXPECT_EQ(row(1).jsonrpc_id, "null");  // as on the wire
  EXPECT_SET_AND_EQ(row(1).correlation_id, row(0).correlation_id);
  EXPECT_EQ(row(1).operation_id, row(0).operation_id);
  EXPECT_EQ(row(1).method, "tools/call");
  EXPECT_TRUE(row(1).latency_us.has_value());
  EXPECT_EQ(meta(1)["paired_by"], "http_exchange");
  EXPECT_EQ(meta(1)["error_name"], "InvalidRequest");
}

TEST_F(MessageOperationsTest, NullIdErrorWithoutAnExchangeStaysUnpaired) {
  request(R"({"jsonrpc":"2.0","id":7,"method":"ping"})", "c1");
  answer(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})", "c1");
  ASSERT_EQ(consumer.records.size(), 2u);
  EXPECT_EQ(row(1).kind, Kind::Error);
  EXPECT_FALSE(row(1).correlation_id.has_value());
  EXPECT_FALSE(meta(1).contains("paired_by"));
}

TEST_F(MessageOperationsTest, JsonThatIsNotJsonRpcInAnHttpErrorIsAPairedError) {
  std::optional<RequestRef> ref = request(R"({"jsonrpc":"2.0","id":"a","method":"ping"})", "c1");
  ASSERT_TRUE(ref);
  answer(R"({"detail":"Not authenticated"})", "c1", &*ref, 401);
  ASSERT_EQ(consumer.records.size(), 2u);
  EXPECT_EQ(row(1).kind, Kind::Error);
  EXPECT_SET_AND_EQ(row(1).correlation_id, row(0).correlation_id);
  EXPECT_EQ(row(1).payload, R"({"detail":"Not authenticated"})");
  EXPECT_NE(meta(1)["reason"].get<std::string>().find("HTTP 401"), std::string::npos);
  // The same JSON on a 200 is just not JSON-RPC.
  std::optional<RequestRef> next = request(R"({"jsonrpc":"2.0","id":"b","method":"ping"})", "c1");
  answer(R"({"detail":"odd"})", "c1", &*next, 200);
  EXPECT_EQ(row(3).kind, Kind::Invalid);
}

TEST_F(MessageOperationsTest, HttpErrorWithoutJsonBodyIsOnePairedRow) {
  std::optional<RequestRef> ref =
      request(R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"a"}})", "c1");
  ASSERT_TRUE(ref);
  CapturedMessage message;
  message.direction = Direction::ServerToClient;
  message.transport = Transport::Http;
  message.session_id = "c1";
  message.answers = &*ref;
  message.http_status = 401;
  message.meta = {
      {"http",
       {{"status", 401}, {"headers", {{"www-authenticate", "Bearer resource_metadata=\"x\""}}}}}};
  const std::string page =
      "<html><body>Sign in: api_key=sk-live-abcdefghijklmnopqrstuvwx</body></html>";
  pipeline.submit_http_error(
      "c1", std::move(message),
      HttpErrorBody{.excerpt = page, .body_bytes = 5000, .excerpt_truncated = true});
  ASSERT_EQ(consumer.records.size(), 2u);
  const Record& error = row(1);
  EXPECT_EQ(error.kind, Kind::Error);
  EXPECT_FALSE(error.payload.has_value());
  EXPECT_EQ(error.payload_bytes, 5000);
  EXPECT_SET_AND_EQ(error.correlation_id, row(0).correlation_id);
  EXPECT_EQ(error.operation_id, row(0).operation_id);
  EXPECT_EQ(error.method, "tools/call");
  nlohmann::json m = meta(1);
  EXPECT_EQ(m["http"]["status"], 401);
  EXPECT_EQ(m["http"]["headers"]["www-authenticate"], "Bearer resource_metadata=\"x\"");
  EXPECT_EQ(m["http"]["body_bytes"], 5000);
  EXPECT_EQ(m["http"]["body_truncated"], true);
  std::string excerpt = m["http"]["body_excerpt"];
  EXPECT_EQ(excerpt.rfind("<html><body>Sign in", 0), 0u);
  EXPECT_EQ(excerpt.find("sk-live-abcdefghijklmnopqrstuvwx"), std::string::npos);
  EXPECT_TRUE(error.redacted);
  EXPECT_EQ(m["paired_by"], "http_exchange");
  EXPECT_NE(m["reason"].get<std::string>().find("HTTP 401"), std::string::npos);
  // Without a request to answer, the row is still written.
  CapturedMessage lone;
  lone.direction = Direction::ServerToClient;
  lone.transport = Transport::Http;
  lone.http_status = 502;
  pipeline.submit_http_error("c2", std::move(lone), HttpErrorBody{.excerpt = "Bad Gateway"});
  ASSERT_EQ(consumer.records.size(), 3u);
  EXPECT_EQ(row(2).kind, Kind::Error);
  EXPECT_FALSE(row(2).correlation_id.has_value());
}

TEST_F(MessageOperationsTest, AnExcerptCutInsideACharacterDropsThatCharacter) {
  CapturedMessage message;
  message.direction = Direction::ServerToClient;
  message.transport = Transport::Http;
  message.http_status = 500;
  const std::string cut = "Fehler: \xC3\xBC\xE2\x82";  // ü, then two of the three bytes of €
  pipeline.submit_http_error(
      "c1", std::move(message),
      HttpErrorBody{.excerpt = cut, .body_bytes = 4000, .excerpt_truncated = true});
  ASSERT_EQ(consumer.records.size(), 1u);
  EXPECT_EQ(meta(0)["http"]["body_excerpt"], "Fehler: \xC3\xBC");
}

// 2026-07-28 multi round-trip request: two interim answers, each retry on a new connection
// echoing the state it was given, then the final answer.
TEST_F(MessageOperationsTest, RetriesEchoingRequestStateShareTheOperation) {
  request(confirm_call(1, ""), "c1");
  answer(input_required(1, "github_login", "elicitation/create", "s1"), "c1");
  request(confirm_call(2, R"("inputResponses":{"github_login":{}},"requestState":"s1",)"), "c2");
  answer(input_required(2, "capital_of_france", "sampling/createMessage", "s2"), "c2");
  request(confirm_call(3, R"("inputResponses":{"capital_of_france":{}},"requestState":"s2",)"),
          "c3");
  answer(R"({"jsonrpc":"2.0","id":3,"result":{"resultType":"complete","content":[]}})", "c3");
  ASSERT_EQ(consumer.records.size(), 6u);
  for (size_t i = 1; i < 6; ++i) EXPECT_EQ(row(i).operation_id, row(0).operation_id) << i;
  EXPECT_EQ(row(0).operation_id, row(0).correlation_id);
  EXPECT_NE(row(2).correlation_id, row(0).correlation_id);
  EXPECT_EQ(meta(2)["operation_link"], "request_state");
  EXPECT_EQ(meta(4)["operation_link"], "request_state");
  EXPECT_EQ(meta(1)["result_type"], "input_required");
  EXPECT_EQ(meta(5)["result_type"], "complete");
  EXPECT_FALSE(meta(1).contains("operation"));
  nlohmann::json op = meta(5)["operation"];
  EXPECT_EQ(op["round_trips"], 3);
  EXPECT_EQ(op["elapsed_us"], row(5).captured_at_us - row(0).captured_at_us);
  EXPECT_EQ(op["inputs"], nlohmann::json::parse(
                              R"([{"key":"github_login","method":"elicitation/create"},
                                  {"key":"capital_of_france","method":"sampling/createMessage"}])"));
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(meta(i)["protocol_version"], "2026-07-28") << i;
    EXPECT_EQ(meta(i)["client"], nlohmann::json::parse(R"({"name":"ops-client","version":"1.0"})"))
        << i;
  }
}

TEST_F(MessageOperationsTest, ProgressOfARetryBelongsToItsOperation) {
  request(confirm_call(1, ""), "c1");
  answer(input_required(1, "k", "elicitation/create", "s1"), "c1");
  request(confirm_call(2, R"("inputResponses":{"k":{}},"requestState":"s1",)"
                          R"("_meta2":0,)"),
          "c2");
  // The retry announces a progress token in its own _meta.
  request(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"confirm",)"
          R"("inputResponses":{"k":{}},"requestState":"s1","_meta":{"progressToken":"p9",)"
          R"("io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})",
          "c4");
  answer(
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p9","progress":1}})",
      "c4");
  ASSERT_EQ(consumer.records.size(), 5u);
  EXPECT_EQ(row(3).operation_id, row(0).operation_id);
  EXPECT_EQ(row(4).operation_id, row(0).operation_id);
  EXPECT_SET_AND_EQ(row(4).correlation_id, row(3).correlation_id);
}

// Earlier revisions say who they are once, in initialize: every message of the session
// carries it, with the version the answer negotiated.
TEST_F(MessageOperationsTest, LegacySessionIdentityComesFromInitialize) {
  request(
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
      R"("capabilities":{},"clientInfo":{"name":"claude","version":"2.1"}}})",
      "s1");
  answer(R"({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-03-26","capabilities":{},)"
         R"("serverInfo":{"name":"srv","version":"1"}}})",
         "s1");
  request(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", "s1");
  request(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})", "s1");
  answer(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})", "s1");
  answer(R"({"jsonrpc":"2.0","id":1,"result":{"tools":[]}})", "s1");
  request(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})", "other");
  ASSERT_EQ(consumer.records.size(), 7u);
  EXPECT_EQ(meta(0)["protocol_version"], "2025-06-18");  // asked for
  EXPECT_EQ(meta(0)["client"]["name"], "claude");
  for (size_t i = 1; i < 6; ++i) {
    EXPECT_EQ(meta(i)["protocol_version"], "2025-03-26") << i;  // negotiated
    EXPECT_EQ(meta(i)["client"], nlohmann::json::parse(R"({"name":"claude","version":"2.1"})"))
        << i;
  }
  EXPECT_FALSE(meta(6).contains("protocol_version"));
  pipeline.forget_session("s1");
  request(R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})", "s1");
  EXPECT_FALSE(meta(7).contains("client"));
}

TEST_F(MessageOperationsTest, HeaderDisagreeingWithTheBodyIsRecordedAndCounted) {
  StandardHeaders headers;
  headers.method = "tools/call";
  headers.name = "other_tool";
  headers.protocol_version = "2026-07-28";
  request(confirm_call(1, ""), "c1", &headers);
  answer(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32020,"message":"Header mismatch"}})", "c1");
  ASSERT_EQ(consumer.records.size(), 2u);
  nlohmann::json mismatch = meta(0)["header_mismatch"];
  ASSERT_TRUE(mismatch.is_array());
  ASSERT_EQ(mismatch.size(), 1u);
  EXPECT_EQ(mismatch[0]["header"], "mcp-name");
  EXPECT_EQ(mismatch[0]["reason"], "differs");
  EXPECT_EQ(mismatch[0]["header_value"], "other_tool");
  EXPECT_EQ(mismatch[0]["body_value"], "confirm");
  EXPECT_EQ(pipeline.counters().header_mismatches, 1u);
  EXPECT_EQ(meta(1)["error_name"], "HeaderMismatch");
  // Agreeing headers leave no trace.
  headers.name = "confirm";
  request(confirm_call(2, ""), "c1", &headers);
  EXPECT_FALSE(meta(2).contains("header_mismatch"));
  EXPECT_EQ(pipeline.counters().header_mismatches, 1u);
}

// Notifications on a subscriptions/listen response stream belong to the listen.
TEST_F(MessageOperationsTest, ListenStreamNotificationsJoinTheListen) {
  std::optional<RequestRef> ref = request(
      R"({"jsonrpc":"2.0","id":5,"method":"subscriptions/listen","params":{"notifications":)"
      R"({"toolsListChanged":true},)" +
          std::string(kMeta2026) + "}}",
      "c1");
  ASSERT_TRUE(ref);
  answer(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":)"
         R"({"io.modelcontextprotocol/subscriptionId":5}}})",
         "c1", &*ref);
  ASSERT_EQ(consumer.records.size(), 2u);
  EXPECT_EQ(row(1).operation_id, row(0).operation_id);
  EXPECT_EQ(meta(1)["operation_link"], "subscription");
}

// Over WebSocket and stdio there is no stream per request: the subscription id names the
// listen, among those of the same session only.
TEST_F(MessageOperationsTest, TaggedNotificationsJoinTheListenOfTheirSession) {
  request(R"({"jsonrpc":"2.0","id":50,"method":"subscriptions/listen","params":{"notifications":)"
          R"({"toolsListChanged":true},)" +
              std::string(kMeta2026) + "}}",
          "ws1");
  const std::string tagged =
      R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":)"
      R"({"io.modelcontextprotocol/subscriptionId":50}}})";
  answer(tagged, "ws1");
  answer(tagged, "ws2");  // another session's listen id
  ASSERT_EQ(consumer.records.size(), 3u);
  EXPECT_EQ(row(1).operation_id, row(0).operation_id);
  EXPECT_EQ(meta(1)["operation_link"], "subscription");
  EXPECT_EQ(meta(1)["protocol_version"], "2026-07-28");  // the session's latest request said so
  EXPECT_FALSE(row(2).operation_id.has_value());
  EXPECT_EQ(pipeline.operation_stats().unlinked[static_cast<size_t>(Unlinked::UnknownSubscription)],
            1u);
}

}  // namespace
}  // namespace mcptap::capture

// Tests for capture/message_pipeline: message bytes in, complete records out.
#include "capture/message_pipeline.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/capture/collecting_consumer.h"
#include "tests/support/set_and_equal.h"

namespace mcptap::capture {
namespace {

class MessagePipelineTest : public testing::Test {
 protected:
  void submit(Direction direction, std::string_view text, std::string_view session = "") {
    CapturedMessage message;
    message.direction = direction;
    message.transport = Transport::WebSocket;
    message.session_id = session;
    message.payload = text;
    message.size = text.size();
    message.meta = {{"opcode", "text"}};
    pipeline.submit("conn-1", std::move(message));
  }
  nlohmann::json meta(size_t i) { return nlohmann::json::parse(consumer.records.at(i).meta_json); }

  Redactor redactor{RedactOptions{}};
  CollectingConsumer consumer;
  MessagePipeline pipeline{"gates", CaptureOptions{}, redactor, consumer};
};

TEST_F(MessagePipelineTest, RequestAndResponseArePairedWithEveryColumn) {
  submit(Direction::ClientToServer,
         R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}})");
  submit(Direction::ServerToClient, R"({"jsonrpc":"2.0","id":3,"result":{"content":[]}})");
  ASSERT_EQ(consumer.records.size(), 2u);
  const Record& request = consumer.records[0];
  const Record& response = consumer.records[1];
  EXPECT_EQ(request.route, "gates");
  EXPECT_EQ(request.connection_id, "conn-1");
  EXPECT_EQ(request.session_id, "conn-1");
  EXPECT_EQ(request.transport, Transport::WebSocket);
  EXPECT_EQ(request.kind, Kind::Request);
  EXPECT_EQ(request.jsonrpc_id, "3");
  EXPECT_EQ(request.method, "tools/call");
  EXPECT_EQ(response.kind, Kind::Response);
  EXPECT_EQ(response.method, "tools/call");
  ASSERT_TRUE(request.correlation_id.has_value());
  EXPECT_SET_AND_EQ(request.correlation_id, response.correlation_id);
  EXPECT_FALSE(request.latency_us.has_value());
  ASSERT_TRUE(response.latency_us.has_value());
  EXPECT_GE(*response.latency_us, 0);
  EXPECT_LT(request.id, response.id);
  EXPECT_GT(response.captured_at_us, 0);
  EXPECT_EQ(nlohmann::json::parse(*response.payload)["result"],
            nlohmann::json::parse(R"({"content":[]})"));
  EXPECT_EQ(meta(0)["opcode"], "text");
  EXPECT_EQ(pipeline.counters().captured, 2u);
}

// Nothing to redact: the payload is the text as it came (integers past 64 bits keep every
// digit); something redacted: the re-serialised document.
TEST_F(MessagePipelineTest, UnredactedPayloadIsTheTextAsSent) {
  const std::string sent =
      R"({"jsonrpc":"2.0", "id":1, "method":"tools/call", "params":{"n":123456789012345678901234567890}})";
  submit(Direction::ClientToServer, sent);
  const std::string secret =
      R"({"jsonrpc":"2.0", "id":2, "method":"login", "params":{"password":"hunter2"}})";
  submit(Direction::ClientToServer, secret);
  ASSERT_EQ(consumer.records.size(), 2u);
  EXPECT_FALSE(consumer.records[0].redacted);
  EXPECT_EQ(consumer.records[0].payload, sent);
  EXPECT_TRUE(consumer.records[1].redacted);
  EXPECT_EQ(consumer.records[1].payload->find("hunter2"), std::string::npos);
  EXPECT_NE(consumer.records[1].payload->find("[REDACTED]"), std::string::npos);
}

TEST_F(MessagePipelineTest, SessionIdOverridesTheConnection) {
  submit(Direction::ClientToServer, R"({"jsonrpc":"2.0","id":1,"method":"ping"})", "sess-a");
  submit(Direction::ServerToClient, R"({"jsonrpc":"2.0","id":1,"result":{}})", "sess-b");
  submit(Direction::ServerToClient, R"({"jsonrpc":"2.0","id":1,"result":{}})", "sess-a");
  EXPECT_EQ(consumer.records[0].session_id, "sess-a");
  EXPECT_FALSE(consumer.records[1].correlation_id.has_value());  // another session
  EXPECT_SET_AND_EQ(consumer.records[2].correlation_id, consumer.records[0].correlation_id);
}

TEST_F(MessagePipelineTest, NotJsonIsInvalidWithAReason) {
  submit(Direction::ClientToServer, "{not json");
  ASSERT_EQ(consumer.records.size(), 1u);
  EXPECT_EQ(consumer.records[0].kind, Kind::Invalid);
  EXPECT_FALSE(consumer.records[0].payload.has_value());
  EXPECT_NE(meta(0)["reason"].get<std::string>().find("not JSON"), std::string::npos);
  EXPECT_EQ(pipeline.counters().invalid, 1u);
}

// Text the envelope cannot read goes to the whole-document parser, whose reason the row
// carries: the same words for every kind of refusal.
TEST_F(MessagePipelineTest, InvalidJsonCarriesTheParsersReason) {
  std::string deep = R"({"id":1,"method":"x","params":{"arguments":)";
  deep += std::string(200, '[') + std::string(200, ']') + "}}";
  const std::vector<std::string> texts = {R"({"id":1,"method":"x",)", "not json", "",
                                          R"({"id":1} {"id":2})",     "\"\xc3\"", deep};
  for (size_t i = 0; i < texts.size(); ++i) {
    submit(Direction::ClientToServer, texts[i]);
    auto document = parse_json_bounded(texts[i], kDefaultMaxJsonDepth);
    ASSERT_FALSE(document);
    ASSERT_EQ(consumer.records.size(), i + 1);
    EXPECT_EQ(consumer.records[i].kind, Kind::Invalid) << texts[i];
    EXPECT_EQ(meta(i)["reason"], document.error().message) << texts[i];
  }
}

TEST_F(MessagePipelineTest, JsonThatIsNotJsonRpcKeepsItsPayload) {
  submit(Direction::ClientToServer, R"({"hello":"world"})");
  EXPECT_EQ(consumer.records[0].kind, Kind::Invalid);
  ASSERT_TRUE(consumer.records[0].payload.has_value());
  EXPECT_FALSE(meta(0)["reason"].get<std::string>().empty());
}

TEST_F(MessagePipelineTest, DeepNestingIsRefusedNotOverflowed) {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  submit(Direction::ClientToServer, deep);
  EXPECT_EQ(consumer.records[0].kind, Kind::Invalid);
  EXPECT_FALSE(consumer.records[0].payload.has_value());
}

TEST_F(MessagePipelineTest, SecretsAreRedactedBeforeTheRecordLeaves) {
  submit(
      Direction::ClientToServer,
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"password":"hunter2","github_token":"ghp_x","q":"ok"}}})");
  const Record& record = consumer.records[0];
  EXPECT_TRUE(record.redacted);
  EXPECT_EQ(record.payload->find("hunter2"), std::string::npos);
  EXPECT_EQ(record.payload->find("ghp_x"), std::string::npos);
  EXPECT_NE(record.payload->find("\"q\":\"ok\""), std::string::npos);
  EXPECT_EQ(pipeline.counters().redacted, 1u);
}

TEST_F(MessagePipelineTest, TruncatedMessageKeepsSizeAndHash) {
  CapturedMessage message;
  message.payload = R"({"jsonrpc":"2.0","id":3,"resu)";
  message.size = 50u << 20;
  message.truncated = true;
  message.sha256_hex = "ab12";
  pipeline.submit("conn-1", std::move(message));
  const Record& record = consumer.records[0];
  EXPECT_TRUE(record.truncated);
  EXPECT_EQ(record.payload_bytes, int64_t{50} << 20);
  EXPECT_FALSE(record.payload.has_value());
  EXPECT_EQ(meta(0)["full_size"], 50u << 20);
  EXPECT_EQ(meta(0)["sha256"], "ab12");
}

TEST_F(MessagePipelineTest, BatchIsOneRowWithItsElementsInMeta) {
  submit(Direction::ClientToServer,
         R"([{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"n"}])");
  submit(Direction::ServerToClient, R"([{"jsonrpc":"2.0","id":1,"result":7}])");
  ASSERT_EQ(consumer.records.size(), 2u);
  EXPECT_EQ(consumer.records[0].kind, Kind::Batch);
  nlohmann::json items = meta(0)["batch"];
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["method"], "a");
  EXPECT_EQ(items[1]["kind"], "notification");
  nlohmann::json answers = meta(1)["batch"];
  ASSERT_TRUE(items[0]["correlation_id"].is_string());
  EXPECT_EQ(answers[0]["correlation_id"], items[0]["correlation_id"]);
  EXPECT_EQ(answers[0]["method"], "a");
}

TEST_F(MessagePipelineTest, ToolFailureIsMarkedInMetaOnItsResponseOnly) {
  submit(Direction::ClientToServer,
         R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}})");
  submit(
      Direction::ServerToClient,
      R"({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"disk full"}],"isError":true}})");
  submit(Direction::ClientToServer,
         R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{}})");
  submit(
      Direction::ServerToClient,
      R"({"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"ok","isError":true}],"isError":false}})");
  submit(Direction::ClientToServer,
         R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}})");
  submit(
      Direction::ServerToClient,
      R"({"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"bad","data":{"isError":true}}})");
  ASSERT_EQ(consumer.records.size(), 6u);
  EXPECT_EQ(meta(1)["tool_error"], true);
  EXPECT_EQ(meta(1)["opcode"], "text");  // beside the transport's details
  EXPECT_TRUE(consumer.records[1].tool_error);
  for (size_t i : {0u, 2u, 3u, 4u, 5u}) {
    EXPECT_FALSE(meta(i).contains("tool_error")) << i;
    EXPECT_FALSE(consumer.records[i].tool_error) << i;
  }
}

TEST_F(MessagePipelineTest, ToolFailureIsMarkedAlikeWhenTheWholeDocumentIsRedacted) {
  // A secret in the answer: the whole document is parsed and redacted, and still says so.
  submit(
      Direction::ServerToClient,
      R"({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"bad token"}],"api_key":"k","isError":true}})");
  // An escaped key: left to the whole document too.
  submit(Direction::ServerToClient, R"({"jsonrpc":"2.0","id":2,"result":{"isErro\u0072":true}})");
  submit(Direction::ServerToClient,
         R"({"jsonrpc":"2.0","id":3,"result":{"api_key":"k","isError":false}})");
  ASSERT_EQ(consumer.records.size(), 3u);
  EXPECT_TRUE(consumer.records[0].redacted);
  EXPECT_EQ(meta(0)["tool_error"], true);
  EXPECT_EQ(meta(1)["tool_error"], true);
  EXPECT_TRUE(consumer.records[1].tool_error);
  EXPECT_FALSE(meta(2).contains("tool_error"));
}

TEST_F(MessagePipelineTest, ToolFailureInABatchIsMarkedOnItsItem) {
  submit(
      Direction::ServerToClient,
      R"([{"jsonrpc":"2.0","id":1,"result":{"isError":true}},{"jsonrpc":"2.0","id":2,"result":{}}])");
  ASSERT_EQ(consumer.records.size(), 1u);
  nlohmann::json items = meta(0)["batch"];
  EXPECT_EQ(items[0]["tool_error"], true);
  EXPECT_FALSE(items[1].contains("tool_error"));
}

TEST_F(MessagePipelineTest, StatelessRequestMetaIsKeptInMeta) {
  submit(Direction::ClientToServer,
         R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{)"
         R"("io.modelcontextprotocol/protocolVersion":"2026-07-28","traceparent":"00-abc-def-01",)"
         R"("io.modelcontextprotocol/clientInfo":{"name":"c"},"progressToken":5}}})");
  nlohmann::json kept = meta(0)["_meta"];
  EXPECT_EQ(kept["traceparent"], "00-abc-def-01");
  EXPECT_EQ(kept["io.modelcontextprotocol/protocolVersion"], "2026-07-28");
  EXPECT_EQ(kept["io.modelcontextprotocol/clientInfo"]["name"], "c");
  EXPECT_FALSE(kept.contains("progressToken"));
}

TEST_F(MessagePipelineTest, SampleAndMethodFilter) {
  CaptureSwitch only_calls;
  only_calls.methods = {"tools/call"};
  pipeline.set_capture_switch(only_calls);
  submit(Direction::ClientToServer, R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  submit(Direction::ServerToClient, R"({"jsonrpc":"2.0","id":1,"result":{}})");
  submit(Direction::ClientToServer, R"({"jsonrpc":"2.0","id":2,"method":"tools/call"})");
  submit(Direction::ServerToClient, R"({"jsonrpc":"2.0","id":2,"result":{}})");
  ASSERT_EQ(consumer.records.size(), 2u);  // the call and its response, which carries its method
  EXPECT_EQ(consumer.records[1].kind, Kind::Response);
  EXPECT_EQ(pipeline.counters().filtered, 2u);

  CaptureSwitch half;
  half.sample = 0.5;
  pipeline.set_capture_switch(half);
  consumer.records.clear();
  for (int i = 0; i < 400; ++i) {
    submit(Direction::ClientToServer, R"({"jsonrpc":"2.0","id":9,"method":"ping"})");
    submit(Direction::ServerToClient, R"({"jsonrpc":"2.0","id":9,"result":{}})");
  }
  // Whole exchanges are kept or dropped: every kept response has its request.
  size_t requests = 0, responses = 0;
  for (const Record& record : consumer.records) {
    (record.kind == Kind::Request ? requests : responses)++;
  }
  EXPECT_EQ(requests, responses);
  EXPECT_GT(requests, 120u);
  EXPECT_LT(requests, 280u);
}

TEST_F(MessagePipelineTest, DisabledRouteRecordsNothing) {
  pipeline.set_enabled(false);
  submit(Direction::ClientToServer, R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  pipeline.submit_failure("conn-1", "conn-1", Transport::Tcp, Direction::ClientToServer, "x");
  EXPECT_TRUE(consumer.records.empty());
}

TEST_F(MessagePipelineTest, RefusedRecordsAreCountedAsDropped) {
  consumer.accept = false;
  submit(Direction::ClientToServer, R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  EXPECT_EQ(pipeline.counters().dropped, 1u);
  EXPECT_EQ(pipeline.counters().captured, 0u);
}

TEST_F(MessagePipelineTest, FailureRecordSaysWhy) {
  pipeline.submit_failure("conn-9", "conn-9", Transport::WebSocket, Direction::ServerToClient,
                          "reserved opcode 3");
  const Record& record = consumer.records[0];
  EXPECT_EQ(record.kind, Kind::Invalid);
  EXPECT_EQ(record.direction, Direction::ServerToClient);
  EXPECT_EQ(meta(0)["reason"], "reserved opcode 3");
}

// A reason can quote what a peer sent (a Sec-WebSocket-Extensions value that does not
// parse): bytes that are not UTF-8 become U+FFFD instead of throwing out of the loop.
TEST_F(MessagePipelineTest, FailureReasonQuotingBytesThatAreNotUtf8) {
  pipeline.submit_failure("conn-9", "conn-9", Transport::WebSocket, Direction::ServerToClient,
                          "unknown extension parameter \xff\xfe: x\xc3");
  ASSERT_EQ(consumer.records.size(), 1u);
  EXPECT_EQ(meta(0)["reason"], "unknown extension parameter \ufffd\ufffd: x\ufffd");
}

// The budget's clock, moved by hand.
int64_t fake_now_us = 0;
int64_t fake_clock() {
  return fake_now_us;
}

class BudgetedPipelineTest : public MessagePipelineTest {
 protected:
  void SetUp() override {
    fake_now_us = 5000000;
    pipeline.set_clock(fake_clock);
  }
  void request(int id, std::string_view method = "tools/call") {
    submit(Direction::ClientToServer, R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
                                          R"(,"method":")" + std::string(method) + R"("})");
  }
  void answer(int id) {
    submit(Direction::ServerToClient,
           R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"result":{}})");
  }
  // "request 1", "response 1"... of what reached the consumer.
  std::vector<std::string> captured() const {
    std::vector<std::string> out;
    for (const Record& record : consumer.records) {
      out.push_back(std::string(to_string(record.kind)) + " " + record.jsonrpc_id.value_or("-"));
    }
    return out;
  }
  static constexpr int64_t kSecond = 1000000;
};

TEST_F(BudgetedPipelineTest, PastTheBudgetWholeExchangesAreLeftOut) {
  pipeline.set_budget({2, 0});  // two messages a second, a burst of two
  request(1);
  request(2);  // the bucket is empty now
  answer(1);   // kept all the same: its request was; the bucket goes into debt
  answer(2);
  request(3);                   // left out
  fake_now_us += 10 * kSecond;  // the bucket is full again when the answer comes...
  answer(3);                    // ...but the answer follows its request: left out
  EXPECT_EQ(captured(),
            (std::vector<std::string>{"request 1", "request 2", "response 1", "response 2"}));
  EXPECT_EQ(pipeline.counters().budget_skipped, 1u);  // one exchange
  EXPECT_EQ(pipeline.counters().captured, 4u);
  request(4);
  answer(4);
  EXPECT_EQ(consumer.records.size(), 6u);
}

TEST_F(BudgetedPipelineTest, ReusedIdsFollowTheirOwnRequest) {
  pipeline.set_budget({1, 0});
  request(3);  // kept
  request(3);  // left out: the same id, still pending (a relay reuses one id for every call)
  answer(3);   // answers the oldest: kept
  answer(3);   // answers the one left out
  EXPECT_EQ(captured(), (std::vector<std::string>{"request 3", "response 3"}));
  EXPECT_SET_AND_EQ(consumer.records[0].correlation_id, consumer.records[1].correlation_id);
}

TEST_F(BudgetedPipelineTest, NotificationsAndUnpairedMessagesAreChargedOnTheirOwn) {
  pipeline.set_budget({1, 0});
  submit(Direction::ServerToClient, R"({"jsonrpc":"2.0","method":"notifications/message"})");
  submit(Direction::ServerToClient, R"({"jsonrpc":"2.0","method":"notifications/message"})");
  answer(42);  // answers nothing that was seen
  EXPECT_EQ(consumer.records.size(), 1u);
  EXPECT_EQ(pipeline.counters().budget_skipped, 2u);
}

TEST_F(BudgetedPipelineTest, BytesBudgetAndBatches) {
  pipeline.set_budget({0, 100});  // bytes only
  const std::string batch =
      R"([{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":2,"method":"b"}])";
  submit(Direction::ClientToServer, std::string(120, ' ') + batch);  // the first message fits
  submit(Direction::ClientToServer, batch);                          // in debt: left out
  submit(Direction::ServerToClient,
         R"([{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{}}])");
  submit(Direction::ServerToClient,
         R"([{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{}}])");
  ASSERT_EQ(consumer.records.size(), 2u);  // the first batch and its answer
  EXPECT_EQ(consumer.records[0].kind, Kind::Batch);
  EXPECT_EQ(consumer.records[1].direction, Direction::ServerToClient);
  EXPECT_EQ(pipeline.counters().budget_skipped, 1u);
}

TEST_F(BudgetedPipelineTest, FilteredMessagesCostNothingAndNewBudgetsApply) {
  CaptureSwitch only_calls;
  only_calls.methods = {"tools/call"};
  pipeline.set_capture_switch(only_calls);
  pipeline.set_budget({2, 0});
  for (int id = 1; id <= 50; ++id) request(id, "ping");  // filtered before the budget
  request(100);
  answer(100);
  EXPECT_EQ(captured(), (std::vector<std::string>{"request 100", "response 100"}));
  request(101);             // the bucket is in debt
  pipeline.set_budget({});  // lifted (a reload)
  answer(101);              // still follows its request
  request(102);
  answer(102);
  EXPECT_EQ(captured(), (std::vector<std::string>{"request 100", "response 100", "request 102",
                                                  "response 102"}));
  EXPECT_EQ(pipeline.budget(), CaptureBudgetLimits{});
}

TEST_F(BudgetedPipelineTest, RatesCountWhatReachedTheSink) {
  for (int i = 0; i < 40; ++i) {
    request(i);  // 46 or 47 bytes
    fake_now_us += kSecond / 10;
  }
  CaptureRates rates = pipeline.rates();  // 40 rows in 4 s
  EXPECT_NEAR(rates.rows_per_second, 10, 0.01);
  EXPECT_NEAR(rates.bytes_per_second, (10 * 46 + 30 * 47) / 4.0, 0.1);
  consumer.accept = false;  // refused by the sink: not captured, not in the rate
  for (int i = 0; i < 40; ++i) request(100 + i);
  EXPECT_NEAR(pipeline.rates().rows_per_second, 10, 0.01);
}

}  // namespace
}  // namespace mcptap::capture

// Tests for capture/http_capture through ConnectionCapture: MCP over HTTP/1.1 exchanges,
// fed as a proxy tees them, split at every byte boundary.
#include "capture/http_capture.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "capture/connection_capture.h"
#include "tests/capture/collecting_consumer.h"
#include "tests/support/deflate.h"
#include "tests/support/set_and_equal.h"

namespace mcptap::capture {
namespace {

struct Step {
  Direction direction;
  std::string bytes;
};

const char* kInitialize =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}})";
const char* kInitialized = R"({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18"}})";
const char* kCall =
    R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":7}}})";
const char* kProgress =
    R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":1}})";
const char* kResult = R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})";

std::string post(std::string_view body, std::string_view extra_headers = "") {
  return "POST /mcp HTTP/1.1\r\nHost: s\r\nContent-Type: application/json\r\nAuthorization: Bearer "
         "hunter2\r\n" +
         std::string(extra_headers) + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

std::string json_response(std::string_view body, std::string_view extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + std::string(extra_headers) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

std::string chunk(std::string_view data) {
  char size[16];
  snprintf(size, sizeof size, "%zx", data.size());
  return std::string(size) + "\r\n" + std::string(data) + "\r\n";
}

// Runs the steps with every step's bytes split in two at `split` (when shorter, whole).
std::vector<Record> run(const std::vector<Step>& steps, size_t split) {
  Redactor redactor{RedactOptions{}};
  CollectingConsumer consumer;
  MessagePipeline pipeline("r", CaptureOptions{}, redactor, consumer);
  ConnectionCapture capture(pipeline, "conn");
  for (const Step& step : steps) {
    std::string_view bytes(step.bytes);
    size_t at = std::min(split, bytes.size());
    capture.on_bytes(step.direction, bytes.substr(0, at));
    capture.on_bytes(step.direction, bytes.substr(at));
  }
  capture.on_end(Direction::ServerToClient);
  capture.on_close();
  return std::move(consumer.records);
}

size_t longest(const std::vector<Step>& steps) {
  size_t most = 0;
  for (const Step& step : steps) most = std::max(most, step.bytes.size());
  return most;
}

TEST(HttpCapture, StreamableHttpWithJsonAndSseAnswersAtEverySplit) {
  std::string sse_body = chunk("id: e1\nevent: message\ndata: " + std::string(kProgress) + "\n\n") +
                         chunk(": keep-alive\n\nid: e2\ndata: " + std::string(kResult) + "\n\n") +
                         "0\r\n\r\n";
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(kInitialize)},
      {Direction::ServerToClient, json_response(kInitialized, "Mcp-Session-Id: sess-42\r\n")},
      {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: sess-42\r\n")},
      {Direction::ServerToClient,
       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
           sse_body},
      {Direction::ClientToServer, post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
                                       "Mcp-Session-Id: sess-42\r\n")},
      {Direction::ServerToClient, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"},
  };
  for (size_t split = 0; split <= longest(steps); ++split) {
    std::vector<Record> records = run(steps, split);
    ASSERT_EQ(records.size(), 6u) << "split " << split;
    for (const Record& record : records) EXPECT_EQ(record.session_id, "sess-42");
    EXPECT_EQ(records[0].method, "initialize");
    EXPECT_EQ(records[0].transport, Transport::Http);
    EXPECT_EQ(records[1].kind, Kind::Response);
    EXPECT_SET_AND_EQ(records[1].correlation_id, records[0].correlation_id);
    EXPECT_EQ(records[2].method, "tools/call");
    EXPECT_EQ(records[3].transport, Transport::Sse);
    EXPECT_SET_AND_EQ(records[3].correlation_id,
                      records[2].correlation_id);  // progress joins its call
    EXPECT_EQ(records[4].kind, Kind::Response);
    EXPECT_SET_AND_EQ(records[4].correlation_id, records[2].correlation_id);
    EXPECT_EQ(records[5].kind, Kind::Notification);
    auto meta = nlohmann::json::parse(records[4].meta_json);
    EXPECT_EQ(meta["sse"]["id"], "e2");
    EXPECT_EQ(meta["http"]["status"], 200);
    auto request_meta = nlohmann::json::parse(records[2].meta_json);
    EXPECT_EQ(request_meta["http"]["method"], "POST");
    EXPECT_EQ(request_meta["http"]["path"], "/mcp");
    EXPECT_EQ(request_meta["http"]["headers"]["authorization"], "[REDACTED]");
  }
}

TEST(HttpCapture, LegacySseStreamTakesTheEndpointSession) {
  std::vector<Step> steps = {
      {Direction::ClientToServer,
       "GET /sse HTTP/1.1\r\nHost: s\r\nAccept: text/event-stream\r\n\r\n"},
      {Direction::ServerToClient,
       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: keep-alive\r\n\r\n"
       "event: endpoint\ndata: /messages?sessionId=abc-123\n\n"
       "event: message\ndata: " +
           std::string(kResult) + "\n\n"},
  };
  for (size_t split = 0; split <= longest(steps); ++split) {
    std::vector<Record> records = run(steps, split);
    ASSERT_EQ(records.size(), 1u) << "split "
                                  << split;  // the stream ends cut short: no invalid row
    EXPECT_EQ(records[0].session_id, "abc-123");
    EXPECT_EQ(records[0].transport, Transport::Sse);
    EXPECT_EQ(records[0].direction, Direction::ServerToClient);
  }
}

TEST(HttpCapture, LegacyPostTakesTheQuerySession) {
  std::vector<Step> steps = {
      {Direction::ClientToServer,
       "POST /messages?sessionId=abc-123 HTTP/1.1\r\nContent-Type: application/json\r\n"
       "Transfer-Encoding: chunked\r\n\r\n" +
           chunk(std::string(kCall).substr(0, 10)) + chunk(std::string(kCall).substr(10)) +
           "0\r\n\r\n"},
      {Direction::ServerToClient, "HTTP/1.1 202 Accepted\r\nContent-Length: 8\r\n\r\nAccepted"},
  };
  std::vector<Record> records = run(steps, 17);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].session_id, "abc-123");
  EXPECT_EQ(records[0].method, "tools/call");
}

std::string gzip(std::string_view text) {
  return test_support::deflate_all(text, test_support::kGzipBits);
}

TEST(HttpCapture, GzipBodiesAreDecodedForCapture) {
  std::string body = gzip(kResult);
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n")},
      {Direction::ServerToClient,
       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
       "Content-Encoding: gzip\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body},
  };
  for (size_t split = 0; split <= longest(steps); split += 3) {
    std::vector<Record> records = run(steps, split);
    ASSERT_EQ(records.size(), 2u);
    ASSERT_TRUE(records[1].payload.has_value());
    EXPECT_EQ(nlohmann::json::parse(*records[1].payload), nlohmann::json::parse(kResult));
    EXPECT_EQ(records[1].payload_bytes, static_cast<int64_t>(std::string_view(kResult).size()));
  }
}

TEST(HttpCapture, PipelinedRequestsAndContinueAndHead) {
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n") +
                                      "HEAD /mcp HTTP/1.1\r\nHost: s\r\n\r\n" +
                                      post(R"({"jsonrpc":"2.0","id":2,"method":"ping"})",
                                           "Mcp-Session-Id: s\r\nExpect: 100-continue\r\n")},
      {Direction::ServerToClient, json_response(kResult) +
                                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                      "Content-Length: 50\r\n\r\n" +
                                      "HTTP/1.1 100 Continue\r\n\r\n" +
                                      json_response(R"({"jsonrpc":"2.0","id":2,"result":{}})")},
  };
  for (size_t split = 0; split <= longest(steps); split += 7) {
    std::vector<Record> records = run(steps, split);
    ASSERT_EQ(records.size(), 4u) << "split " << split;
    EXPECT_SET_AND_EQ(records[2].correlation_id, records[0].correlation_id);
    EXPECT_EQ(records[3].method, "ping");
    EXPECT_SET_AND_EQ(records[3].correlation_id, records[1].correlation_id);
  }
}

// Feeds the bytes whole through one connection, without closing it.
std::vector<Record> run_open(const std::vector<Step>& steps, CaptureOptions options = {}) {
  Redactor redactor{RedactOptions{}};
  CollectingConsumer consumer;
  MessagePipeline pipeline("r", options, redactor, consumer);
  ConnectionCapture capture(pipeline, "conn");
  for (const Step& step : steps) capture.on_bytes(step.direction, step.bytes);
  EXPECT_EQ(capture.mode(), ConnectionCapture::Mode::Off);
  return std::move(consumer.records);
}

std::string reason_of(const Record& record) {
  return nlohmann::json::parse(record.meta_json).value("reason", "");
}

TEST(HttpCapture, PipelinedRequestsPastTheCountBoundStopCapture) {
  // The upstream never answers while the client pipelines on: what awaits is bounded.
  std::string requests;
  for (int i = 0; i < 300; ++i) {
    requests += post(R"({"jsonrpc":"2.0","id":)" + std::to_string(i) + R"(,"method":"ping"})",
                     "Mcp-Session-Id: s\r\n");
  }
  std::vector<Record> records =
      run_open({{Direction::ClientToServer, requests}, {Direction::ClientToServer, requests}});
  // Each request is recorded as it completes, the one past the bound too; then capture stops.
  ASSERT_EQ(records.size(), HttpCapture::kMaxAwaitingExchanges + 2);
  for (size_t i = 0; i <= HttpCapture::kMaxAwaitingExchanges; ++i) {
    EXPECT_EQ(records[i].method, "ping");
  }
  const Record& stop = records.back();
  EXPECT_EQ(stop.kind, Kind::Invalid);
  EXPECT_NE(reason_of(stop).find("awaiting their responses"), std::string::npos);
}

TEST(HttpCapture, PipelinedRequestsPastTheByteBoundStopCapture) {
  // Long targets (each within the head limit) reach the byte bound long before the count.
  CaptureOptions options;
  options.max_payload_bytes = 4096;
  const std::string target = "/mcp?pad=" + std::string(30000, 'p');
  std::string requests;
  for (int i = 0; i < 200; ++i) {
    requests += "GET " + target + " HTTP/1.1\r\nHost: s\r\nAccept: text/event-stream\r\n\r\n";
  }
  std::vector<Record> records = run_open({{Direction::ClientToServer, requests}}, options);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].kind, Kind::Invalid);
  EXPECT_NE(reason_of(records[0]).find("awaiting their responses"), std::string::npos);
}

TEST(HttpCapture, HeldInitializeBodiesCountTowardsTheByteBound) {
  // Sessionless initialize requests are held until answered: pipelining them is bounded too.
  CaptureOptions options;
  options.max_payload_bytes = 64 << 10;
  std::string body = R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"pad":")" +
                     std::string(60000, 'x') + "\"}}";
  std::string requests;
  for (int i = 0; i < 100; ++i) requests += post(body);
  std::vector<Record> records = run_open({{Direction::ClientToServer, requests}}, options);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].kind, Kind::Invalid);
}

TEST(HttpCapture, AnsweredExchangesNeverAccumulate) {
  Redactor redactor{RedactOptions{}};
  CollectingConsumer consumer;
  MessagePipeline pipeline("r", CaptureOptions{}, redactor, consumer);
  ConnectionCapture capture(pipeline, "conn");
  for (int i = 0; i < 2000; ++i) {
    capture.on_bytes(Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n"));
    capture.on_bytes(Direction::ServerToClient, json_response(kResult));
  }
  EXPECT_EQ(capture.mode(), ConnectionCapture::Mode::Http);
  EXPECT_EQ(consumer.records.size(), 4000u);
  EXPECT_EQ(pipeline.correlation_stats().pending, 0u);
  EXPECT_EQ(pipeline.correlation_stats().sessions, 1u);  // answered: kept, empty and small
  EXPECT_LT(pipeline.correlation_stats().bytes, 4096u);
}

}  // namespace
}  // namespace mcptap::capture

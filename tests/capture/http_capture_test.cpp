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
std::vector<Record> run(const std::vector<Step>& steps, size_t split,
                        const RedactOptions& redact = {}) {
  Redactor redactor{redact};
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

// ---- HTTP error answers whose body is not JSON-RPC ----

std::string html_page(size_t size) {
  std::string page = "<html><head><title>401 Authorization Required</title></head><body>";
  while (page.size() + 14 < size) page += "<p>denied</p>";
  page.resize(size - 14, ' ');
  return page + "</body></html>";
}

nlohmann::json meta_of(const Record& record) {
  return nlohmann::json::parse(record.meta_json);
}

std::string answer(std::string_view status_line, std::string_view headers, std::string_view body) {
  return "HTTP/1.1 " + std::string(status_line) + "\r\n" + std::string(headers) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// What every record of an error answer paired with its request (the first record) shows.
void expect_paired_error(const std::vector<Record>& records, int status) {
  ASSERT_EQ(records.size(), 2u);
  const Record& request = records[0];
  const Record& error = records[1];
  EXPECT_EQ(request.kind, Kind::Request);
  EXPECT_EQ(error.kind, Kind::Error);
  EXPECT_EQ(error.direction, Direction::ServerToClient);
  EXPECT_EQ(error.transport, Transport::Http);
  EXPECT_SET_AND_EQ(error.correlation_id, request.correlation_id);
  EXPECT_EQ(error.method, "tools/call");
  EXPECT_TRUE(error.latency_us.has_value());
  EXPECT_EQ(error.session_id, request.session_id);
  nlohmann::json meta = meta_of(error);
  EXPECT_EQ(meta["http"]["status"], status);
  EXPECT_EQ(meta.value("paired_by", ""), "http_exchange") << error.meta_json;
}

// The decoder of excerpts on its own: what the capture keeps of an error page.
TEST(HttpErrorExcerpt, AShortPageIsKeptWhole) {
  const std::string page = html_page(300);
  HttpErrorExcerpt excerpt("");
  excerpt.feed(page.substr(0, 100));
  excerpt.feed(page.substr(100));
  excerpt.finish();
  HttpErrorBody body = excerpt.body();
  EXPECT_EQ(body.excerpt, page);
  EXPECT_EQ(body.body_bytes, page.size());
  EXPECT_FALSE(body.excerpt_truncated);
}

TEST(HttpErrorExcerpt, ALargePageKeepsItsFirstBytesAndCountsTheRest) {
  const std::string page = html_page(10 << 20);
  HttpErrorExcerpt excerpt("identity");
  for (size_t at = 0; at < page.size(); at += 65536) excerpt.feed(page.substr(at, 65536));
  excerpt.finish();
  HttpErrorBody body = excerpt.body();
  EXPECT_EQ(body.excerpt, page.substr(0, kHttpErrorExcerptBytes));
  EXPECT_EQ(body.body_bytes, page.size());
  EXPECT_TRUE(body.excerpt_truncated);
}

TEST(HttpErrorExcerpt, AGzipPageIsDecodedAtEverySplit) {
  const std::string page = html_page(3000);
  const std::string encoded = gzip(page);
  for (size_t split = 0; split <= encoded.size(); ++split) {
    HttpErrorExcerpt excerpt("gzip");
    excerpt.feed(std::string_view(encoded).substr(0, split));
    excerpt.feed(std::string_view(encoded).substr(split));
    excerpt.finish();
    HttpErrorBody body = excerpt.body();
    ASSERT_EQ(body.excerpt, page.substr(0, kHttpErrorExcerptBytes)) << split;
    ASSERT_EQ(body.body_bytes, page.size()) << split;
    ASSERT_TRUE(body.excerpt_truncated) << split;
  }
}

TEST(HttpErrorExcerpt, AnEmptyBodyIsAnEmptyExcerptWhateverTheCoding) {
  for (const char* coding : {"", "gzip", "br"}) {
    HttpErrorExcerpt excerpt(coding);
    excerpt.finish();
    HttpErrorBody body = excerpt.body();
    EXPECT_EQ(body.excerpt, "") << coding;
    EXPECT_EQ(body.body_bytes, 0u) << coding;
    EXPECT_FALSE(body.excerpt_truncated) << coding;
  }
}

TEST(HttpErrorExcerpt, ABodyThatCannotBeDecodedIsCountedAsItCame) {
  HttpErrorExcerpt unknown("br");
  unknown.feed("\x1b\x03\x01\xf8");
  unknown.finish();
  EXPECT_EQ(unknown.body().excerpt, "");
  EXPECT_EQ(unknown.body().body_bytes, 4u);
  EXPECT_TRUE(unknown.body().excerpt_truncated);

  // A gzip stream cut short: what decoded before the cut is kept.
  const std::string page = html_page(3000);
  const std::string encoded = gzip(page);
  const std::string cut = encoded.substr(0, encoded.size() - 10);
  HttpErrorExcerpt broken("gzip");
  broken.feed(cut);
  broken.finish();
  HttpErrorBody body = broken.body();
  EXPECT_EQ(body.excerpt, page.substr(0, body.excerpt.size()));
  EXPECT_EQ(body.body_bytes, cut.size());
  EXPECT_TRUE(body.excerpt_truncated);
}

// A 401 as an OAuth-protected server sends it: WWW-Authenticate and an HTML page. One record,
// paired with the call it refused.
TEST(HttpCapture, AnHtml401IsOneErrorPairedWithItsRequest) {
  const std::string page = html_page(400);
  const std::string challenge =
      R"(Bearer resource_metadata="https://s.example/.well-known/oauth-protected-resource")";
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n")},
      {Direction::ServerToClient,
       answer("401 Unauthorized",
              "WWW-Authenticate: " + challenge + "\r\nContent-Type: text/html; charset=utf-8\r\n",
              page)},
  };
  for (size_t split = 0; split <= longest(steps); split += 5) {
    std::vector<Record> records = run(steps, split);
    expect_paired_error(records, 401);
    if (records.size() != 2) continue;
    const Record& error = records[1];
    EXPECT_FALSE(error.payload.has_value() && !error.payload->empty()) << *error.payload;
    EXPECT_EQ(error.payload_bytes, static_cast<int64_t>(page.size()));
    nlohmann::json http = meta_of(error)["http"];
    // The challenge tells the client where to authenticate: it is kept (its resource
    // metadata URL at least; secret shapes inside header values are still redacted).
    EXPECT_NE(http["headers"]
                  .value("www-authenticate", "")
                  .find("https://s.example/.well-known/oauth-protected-resource"),
              std::string::npos)
        << http["headers"];
    EXPECT_EQ(http.value("body_excerpt", ""), page);
    EXPECT_EQ(http.value("body_bytes", 0), page.size());
    EXPECT_EQ(http.value("body_truncated", true), false);
  }
}

// The spec's "error response that has no id", on the POST's exchange: the exchange pairs it.
TEST(HttpCapture, ANullId403IsPairedWithItsRequest) {
  const std::string body =
      R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Forbidden"}})";
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n")},
      {Direction::ServerToClient,
       answer("403 Forbidden", "Content-Type: application/json\r\n", body)},
  };
  for (size_t split = 0; split <= longest(steps); split += 5) {
    std::vector<Record> records = run(steps, split);
    expect_paired_error(records, 403);
    if (records.size() != 2) continue;
    ASSERT_TRUE(records[1].payload.has_value());
    EXPECT_EQ(nlohmann::json::parse(*records[1].payload), nlohmann::json::parse(body));
  }
}

// JSON that is not JSON-RPC (a web framework's {"detail": ...}) answering with an error status.
TEST(HttpCapture, AJson401ThatIsNotJsonRpcIsPairedWithItsRequest) {
  const std::string body = R"({"detail":"Not authenticated"})";
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n")},
      {Direction::ServerToClient,
       answer("401 Unauthorized", "Content-Type: application/json\r\n", body)},
  };
  std::vector<Record> records = run(steps, 0);
  expect_paired_error(records, 401);
  if (records.size() != 2) return;
  ASSERT_TRUE(records[1].payload.has_value());
  EXPECT_EQ(nlohmann::json::parse(*records[1].payload), nlohmann::json::parse(body));
}

// A gateway's answers: text/plain read until the connection closes, and no body at all.
TEST(HttpCapture, AGateways502IsRecordedWithOrWithoutABody) {
  std::vector<Step> plain = {
      {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n")},
      {Direction::ServerToClient,
       "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
       "upstream connect error"},
  };
  for (size_t split = 0; split <= longest(plain); split += 3) {
    std::vector<Record> records = run(plain, split);
    expect_paired_error(records, 502);
    if (records.size() != 2) continue;
    nlohmann::json http = meta_of(records[1])["http"];
    EXPECT_EQ(http.value("body_excerpt", ""), "upstream connect error");
    EXPECT_EQ(http.value("body_bytes", 0), 22);
  }
  for (const char* status : {"502 Bad Gateway", "401 Unauthorized"}) {
    std::vector<Step> empty = {
        {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n")},
        {Direction::ServerToClient, answer(status, "WWW-Authenticate: Bearer\r\n", "")},
    };
    std::vector<Record> records = run(empty, 0);
    expect_paired_error(records, std::atoi(status));
    if (records.size() != 2) continue;
    nlohmann::json http = meta_of(records[1])["http"];
    EXPECT_EQ(http.value("body_excerpt", "?"), "") << status;
    EXPECT_EQ(http.value("body_bytes", -1), 0) << status;
    EXPECT_EQ(records[1].payload_bytes, 0) << status;
  }
}

TEST(HttpCapture, AGzipHtml500KeepsTheStartOfTheDecodedPage) {
  const std::string page = html_page(5000);
  const std::string encoded = gzip(page);
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n")},
      {Direction::ServerToClient,
       answer("500 Internal Server Error", "Content-Type: text/html\r\nContent-Encoding: gzip\r\n",
              encoded)},
  };
  for (size_t split = 0; split <= longest(steps); split += 11) {
    std::vector<Record> records = run(steps, split);
    expect_paired_error(records, 500);
    if (records.size() != 2) continue;
    nlohmann::json http = meta_of(records[1])["http"];
    EXPECT_EQ(http.value("body_excerpt", ""), page.substr(0, kHttpErrorExcerptBytes));
    EXPECT_EQ(http.value("body_bytes", 0), page.size());
    EXPECT_EQ(http.value("body_truncated", false), true);
  }
}

// An answer that is not JSON and not an error is no MCP message: nothing is recorded for it.
TEST(HttpCapture, AnHtml200IsNotCaptured) {
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n")},
      {Direction::ServerToClient, answer("200 OK", "Content-Type: text/html\r\n", html_page(300))},
      {Direction::ClientToServer, "GET /favicon.ico HTTP/1.1\r\nHost: s\r\n\r\n"},
      {Direction::ServerToClient, answer("302 Found", "Location: /x\r\n", "moved")},
  };
  for (size_t split = 0; split <= longest(steps); split += 7) {
    std::vector<Record> records = run(steps, split);
    ASSERT_EQ(records.size(), 1u) << "split " << split;
    EXPECT_EQ(records[0].kind, Kind::Request);
  }
}

// What the server sends back on a POST's SSE stream answers that POST, even without an id.
TEST(HttpCapture, ANullIdErrorOnTheRequestsSseStreamIsPaired) {
  const std::string error =
      R"({"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"gone"}})";
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n")},
      {Direction::ServerToClient,
       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
           chunk("event: message\ndata: " + std::string(kProgress) + "\n\n") +
           chunk("event: message\ndata: " + error + "\n\n") + "0\r\n\r\n"},
  };
  for (size_t split = 0; split <= longest(steps); split += 7) {
    std::vector<Record> records = run(steps, split);
    ASSERT_EQ(records.size(), 3u) << "split " << split;
    EXPECT_SET_AND_EQ(records[1].correlation_id, records[0].correlation_id);
    EXPECT_EQ(records[2].kind, Kind::Error);
    EXPECT_EQ(records[2].transport, Transport::Sse);
    EXPECT_SET_AND_EQ(records[2].correlation_id, records[0].correlation_id);
    EXPECT_EQ(meta_of(records[2]).value("paired_by", ""), "http_exchange");
  }
}

// Legacy HTTP+SSE: the GET stream carries answers to requests POSTed on other exchanges, so
// nothing on it is paired by the exchange, not even with the POST just before it.
TEST(HttpCapture, TheLegacyGetStreamIsNotPairedByTheExchange) {
  const std::string error =
      R"({"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"gone"}})";
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(kCall, "Mcp-Session-Id: s\r\n")},
      {Direction::ServerToClient, json_response(kResult)},
      {Direction::ClientToServer,
       "GET /sse HTTP/1.1\r\nHost: s\r\nAccept: text/event-stream\r\n\r\n"},
      {Direction::ServerToClient,
       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
       "event: endpoint\ndata: /messages?sessionId=abc-123\n\n"
       "event: message\ndata: " +
           error + "\n\n"},
  };
  std::vector<Record> records = run(steps, 0);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_SET_AND_EQ(records[1].correlation_id, records[0].correlation_id);
  EXPECT_EQ(records[2].transport, Transport::Sse);
  EXPECT_FALSE(records[2].correlation_id.has_value());
  EXPECT_FALSE(meta_of(records[2]).contains("paired_by"));
}

// A sessionless initialize is held until its answer's head: its exchange still pairs.
TEST(HttpCapture, AHeldInitializeAnsweredWithANullIdErrorIsPaired) {
  const std::string error =
      R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request"}})";
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(kInitialize)},
      {Direction::ServerToClient,
       answer("400 Bad Request", "Content-Type: application/json\r\n", error)},
  };
  std::vector<Record> records = run(steps, 0);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].method, "initialize");
  EXPECT_EQ(records[1].kind, Kind::Error);
  EXPECT_SET_AND_EQ(records[1].correlation_id, records[0].correlation_id);
  EXPECT_EQ(records[1].method, "initialize");
  EXPECT_EQ(meta_of(records[1]).value("paired_by", ""), "http_exchange");
}

// A notification has no answer to pair with: an error answering its POST is still recorded.
TEST(HttpCapture, AnErrorAnsweringANotificationIsRecordedUnpaired) {
  std::vector<Step> steps = {
      {Direction::ClientToServer,
       post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", "Mcp-Session-Id: s\r\n")},
      {Direction::ServerToClient, answer("404 Not Found", "Content-Type: text/plain\r\n", "no")},
  };
  std::vector<Record> records = run(steps, 0);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].kind, Kind::Error);
  EXPECT_FALSE(records[1].correlation_id.has_value());
  EXPECT_EQ(meta_of(records[1])["http"]["status"], 404);
  EXPECT_EQ(meta_of(records[1])["http"].value("body_excerpt", ""), "no");
}

// The standard headers are judged as sent, before redaction hides them in meta: a header
// listed for redaction that agrees with the body is no mismatch, one that differs is.
TEST(HttpCapture, StandardHeadersReachThePipelineAsSent) {
  RedactOptions redact;
  redact.headers.push_back("mcp-name");
  const std::string call =
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather",)"
      R"("arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
      R"("io.modelcontextprotocol/clientCapabilities":{}}}})";
  auto headers = [](std::string_view name) {
    return "Mcp-Session-Id: s\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\n"
           "Mcp-Name: " +
           std::string(name) + "\r\n";
  };
  std::vector<Step> steps = {
      {Direction::ClientToServer, post(call, headers("get_weather"))},
      {Direction::ServerToClient, json_response(kResult)},
      {Direction::ClientToServer, post(call, headers("other_tool"))},
      {Direction::ServerToClient, json_response(kResult)},
  };
  std::vector<Record> records = run(steps, 0, redact);
  ASSERT_EQ(records.size(), 4u);
  nlohmann::json agreeing = meta_of(records[0]);
  EXPECT_EQ(agreeing["http"]["headers"]["mcp-name"], "[REDACTED]");
  EXPECT_FALSE(agreeing.contains("header_mismatch")) << records[0].meta_json;
  nlohmann::json differing = meta_of(records[2]);
  EXPECT_EQ(differing["http"]["headers"]["mcp-name"], "[REDACTED]");
  ASSERT_TRUE(differing.contains("header_mismatch")) << records[2].meta_json;
  ASSERT_EQ(differing["header_mismatch"].size(), 1u) << records[2].meta_json;
  EXPECT_EQ(differing["header_mismatch"][0]["header"], "mcp-name");
  EXPECT_EQ(differing["header_mismatch"][0]["reason"], "differs");
  EXPECT_EQ(differing["header_mismatch"][0]["header_value"], "other_tool");
  EXPECT_EQ(differing["header_mismatch"][0]["body_value"], "get_weather");
}

}  // namespace
}  // namespace mcptap::capture

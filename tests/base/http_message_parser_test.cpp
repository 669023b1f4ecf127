// Tests for capture/http_message_parser: heads, bodies, upgrades, at every split point.
#include "base/http_message_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mcptap::capture {
namespace {

struct Collected : base::HttpMessageParser::Listener {
  std::vector<base::HttpHead> heads;
  std::vector<std::string> bodies;
  int completed = 0;
  bool no_body_next = false;

  bool on_head(const base::HttpHead& head) override {
    heads.push_back(head);
    bodies.emplace_back();
    return no_body_next;
  }
  void on_body(std::string_view chunk) override { bodies.back().append(chunk); }
  void on_message_complete() override { ++completed; }
};

// Feeds `wire` in two pieces split at `split`, returning the status of the last call and
// where the new protocol starts (absolute offset) for upgrades.
base::HttpMessageParser::Status feed_split(base::HttpMessageParser& parser, const std::string& wire,
                                           size_t split, size_t* upgrade_offset) {
  size_t consumed = 0;
  auto status = parser.feed(std::string_view(wire).substr(0, split), &consumed);
  if (status != base::HttpMessageParser::Status::Ok) {
    *upgrade_offset = consumed;
    return status;
  }
  status = parser.feed(std::string_view(wire).substr(split), &consumed);
  *upgrade_offset = split + consumed;
  return status;
}

const std::string kUpgradeRequest =
    "GET /mcp HTTP/1.1\r\nHost: gates:8001\r\nUpgrade: websocket\r\nConnection: keep-alive, "
    "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
const std::string kSwitchingResponse =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12\r\n\r\n";

TEST(HttpMessageParser, UpgradeRequestAtEverySplit) {
  const std::string frame_bytes = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
  const std::string wire = kUpgradeRequest + frame_bytes;
  for (size_t split = 0; split <= wire.size(); ++split) {
    Collected listener;
    base::HttpMessageParser parser(base::HttpMessageParser::Type::Request, listener);
    size_t offset = 0;
    auto status = feed_split(parser, wire, split, &offset);
    ASSERT_EQ(status, base::HttpMessageParser::Status::Upgraded) << "split " << split;
    EXPECT_EQ(offset, kUpgradeRequest.size()) << "split " << split;
    ASSERT_EQ(listener.heads.size(), 1u);
    const base::HttpHead& head = listener.heads[0];
    EXPECT_EQ(head.method, "GET");
    EXPECT_EQ(head.target, "/mcp");
    EXPECT_TRUE(head.header_has_token("connection", "upgrade"));
    EXPECT_TRUE(head.header_has_token("UPGRADE", "WebSocket"));
    EXPECT_EQ(head.header("sec-websocket-extensions").value(),
              "permessage-deflate; client_max_window_bits");
  }
}

TEST(HttpMessageParser, SwitchingProtocolsResponse) {
  const std::string wire = kSwitchingResponse + "\x81\x03{}\n";
  for (size_t split = 0; split <= wire.size(); ++split) {
    Collected listener;
    base::HttpMessageParser parser(base::HttpMessageParser::Type::Response, listener);
    size_t offset = 0;
    ASSERT_EQ(feed_split(parser, wire, split, &offset), base::HttpMessageParser::Status::Upgraded);
    EXPECT_EQ(offset, kSwitchingResponse.size());
    ASSERT_EQ(listener.heads.size(), 1u);
    EXPECT_EQ(listener.heads[0].status_code, 101);
  }
}

TEST(HttpMessageParser, ChunkedAndContentLengthBodiesOnKeepAlive) {
  const std::string wire =
      "POST /mcp HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n"
      "{\"jsonrpc\":\"2.0\"}"
      "POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\n{\"a\":\r\n3\r\n12}\r\n0\r\n\r\n";
  for (size_t split = 0; split <= wire.size(); ++split) {
    Collected listener;
    base::HttpMessageParser parser(base::HttpMessageParser::Type::Request, listener);
    size_t offset = 0;
    ASSERT_EQ(feed_split(parser, wire, split, &offset), base::HttpMessageParser::Status::Ok);
    ASSERT_EQ(listener.completed, 2) << "split " << split;
    EXPECT_EQ(listener.bodies[0], "{\"jsonrpc\":\"2.0\"}");
    EXPECT_EQ(listener.bodies[1], "{\"a\":12}");
  }
}

TEST(HttpMessageParser, RefusedUpgradeGoesOnAsHttp) {
  Collected listener;
  base::HttpMessageParser parser(base::HttpMessageParser::Type::Request, listener);
  size_t consumed = 0;
  ASSERT_EQ(parser.feed(kUpgradeRequest, &consumed), base::HttpMessageParser::Status::Upgraded);
  parser.resume_after_refused_upgrade();
  std::string next = "GET /again HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(parser.feed(next, &consumed), base::HttpMessageParser::Status::Ok);
  ASSERT_EQ(listener.heads.size(), 2u);
  EXPECT_EQ(listener.heads[1].target, "/again");
}

TEST(HttpMessageParser, HeadResponseHasNoBody) {
  Collected listener;
  listener.no_body_next = true;
  base::HttpMessageParser parser(base::HttpMessageParser::Type::Response, listener);
  size_t consumed = 0;
  std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
  ASSERT_EQ(parser.feed(wire, &consumed), base::HttpMessageParser::Status::Ok);
  EXPECT_EQ(listener.completed, 2);
  EXPECT_EQ(listener.heads[1].status_code, 204);
}

TEST(HttpMessageParser, GarbageFailsWithAReason) {
  Collected listener;
  base::HttpMessageParser parser(base::HttpMessageParser::Type::Request, listener);
  size_t consumed = 0;
  EXPECT_EQ(parser.feed("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", &consumed),
            base::HttpMessageParser::Status::Failed);
  EXPECT_NE(parser.failure().message.find("http:"), std::string::npos);
  EXPECT_EQ(parser.feed("GET / HTTP/1.1\r\n\r\n", &consumed),
            base::HttpMessageParser::Status::Failed);
}

TEST(HttpMessageParser, FailureCarriesLlhttpsErrorAsItsCode) {
  Collected listener;
  base::HttpMessageParser parser(base::HttpMessageParser::Type::Request, listener);
  EXPECT_EQ(parser.failure().message, "");
  size_t consumed = 0;
  EXPECT_EQ(parser.feed("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", &consumed),
            base::HttpMessageParser::Status::Failed);
  EXPECT_EQ(parser.failure().code, "HPE_INVALID_CONTENT_LENGTH");
  EXPECT_EQ(parser.failure().message.rfind("http: HPE_INVALID_CONTENT_LENGTH: ", 0), 0u)
      << parser.failure().message;
}

TEST(HttpMessageParser, OversizedHeadFails) {
  Collected listener;
  base::HttpMessageParser parser(base::HttpMessageParser::Type::Request, listener, 1024);
  std::string wire = "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n";
  size_t consumed = 0;
  EXPECT_EQ(parser.feed(wire, &consumed), base::HttpMessageParser::Status::Failed);
  EXPECT_NE(parser.failure().message.find("larger than 1024"), std::string::npos);
  EXPECT_TRUE(listener.heads.empty());
}

TEST(HttpMessageParser, ConflictingLengthsFail) {
  Collected listener;
  base::HttpMessageParser parser(base::HttpMessageParser::Type::Request, listener);
  size_t consumed = 0;
  std::string wire =
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  EXPECT_EQ(parser.feed(wire, &consumed), base::HttpMessageParser::Status::Failed);
}

}  // namespace
}  // namespace mcptap::capture

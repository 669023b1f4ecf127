// Tests for capture/connection_capture: a whole connection's bytes, as the proxy tees them.
#include "capture/connection_capture.h"

#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/capture/collecting_consumer.h"
#include "tests/support/deflate.h"
#include "tests/support/set_and_equal.h"

namespace mcptap::capture {
namespace {

// One WebSocket frame; client frames are masked with a fixed key.
std::string frame(uint8_t first_byte, std::string_view payload, bool masked) {
  std::string out(1, static_cast<char>(first_byte));
  uint8_t mask_bit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(mask_bit | payload.size()));
  } else {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xff));
  }
  const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) out.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    out.push_back(masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  }
  return out;
}

std::string text_frame(std::string_view payload, bool masked) {
  return frame(0x81, payload, masked);
}

const std::string kRequest =
    "GET /mcp HTTP/1.1\r\nHost: gates\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: mcp\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
const std::string kResponse101 =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mcp\r\n";

const char* kCall = R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}})";
const char* kResult = R"({"jsonrpc":"2.0","id":3,"result":{"content":[]}})";

class ConnectionCaptureTest : public testing::Test {
 protected:
  // Feeds the upgrade request, then the server's 101 head, the client's frames and the
  // server's frames, each in chunks of `chunk`. The client's frames are fed right after the
  // first piece of the 101 head, so small chunks exercise frames that arrive before the
  // upgrade is confirmed.
  void run_exchange(const std::string& client_frames, const std::string& server_head,
                    const std::string& server_frames, size_t chunk) {
    consumer.records.clear();
    MessagePipeline pipeline("gates", CaptureOptions{}, redactor, consumer);
    ConnectionCapture capture(pipeline, "c1");
    feed(capture, Direction::ClientToServer, kRequest, chunk);
    std::string_view head(server_head);
    capture.on_bytes(Direction::ServerToClient, head.substr(0, chunk));
    feed(capture, Direction::ClientToServer, client_frames, chunk);
    if (head.size() > chunk) feed(capture, Direction::ServerToClient, head.substr(chunk), chunk);
    feed(capture, Direction::ServerToClient, server_frames, chunk);
    mode = capture.mode();
    capture.on_close();
  }

  static void feed(ConnectionCapture& capture, Direction direction, std::string_view bytes,
                   size_t chunk) {
    for (size_t at = 0; at < bytes.size(); at += chunk) {
      capture.on_bytes(direction, bytes.substr(at, chunk));
    }
  }

  Redactor redactor{RedactOptions{}};
  CollectingConsumer consumer;
  ConnectionCapture::Mode mode = ConnectionCapture::Mode::Sniffing;
};

// The records one chunk completes reach the consumer inside one hold, released before
// on_bytes returns (that is, before the chunk is forwarded).
TEST_F(ConnectionCaptureTest, RecordsOfOneChunkAreDeliveredInOneHold) {
  MessagePipeline pipeline("gates", CaptureOptions{}, redactor, consumer);
  ConnectionCapture capture(pipeline, "c1");
  std::string lines = std::string(kCall) + "\n" + kCall + "\n" + kCall + "\n";
  capture.on_bytes(Direction::ClientToServer, lines.substr(0, 10));  // completes nothing
  EXPECT_EQ(consumer.releases, 0);  // so the consumer was never held
  capture.on_bytes(Direction::ClientToServer, lines.substr(10));
  EXPECT_EQ(consumer.records.size(), 3u);
  EXPECT_EQ(consumer.consumed_held, 3);
  EXPECT_EQ(consumer.releases, 1);
  EXPECT_EQ(consumer.hold_depth, 0);
  capture.on_close();
}

TEST_F(ConnectionCaptureTest, UncompressedWebSocketAtEveryChunkSize) {
  std::string client = text_frame(kCall, true);
  std::string head = kResponse101 + "\r\n";
  std::string server = text_frame(kResult, false);
  for (size_t chunk = 1; chunk <= head.size() + server.size(); ++chunk) {
    run_exchange(client, head, server, chunk);
    ASSERT_EQ(consumer.records.size(), 2u) << "chunk " << chunk;
    EXPECT_EQ(mode, ConnectionCapture::Mode::WebSocket);
    const Record& call = consumer.records[0];
    const Record& result = consumer.records[1];
    EXPECT_EQ(call.direction, Direction::ClientToServer);
    EXPECT_EQ(call.transport, Transport::WebSocket);
    EXPECT_EQ(call.kind, Kind::Request);
    EXPECT_EQ(result.kind, Kind::Response);
    EXPECT_SET_AND_EQ(result.correlation_id, call.correlation_id);
    EXPECT_EQ(call.payload_bytes, static_cast<int64_t>(std::string_view(kCall).size()));
    auto meta = nlohmann::json::parse(call.meta_json);
    EXPECT_EQ(meta["path"], "/mcp");
    EXPECT_EQ(meta["subprotocol"], "mcp");
    EXPECT_EQ(meta["compressed"], false);
  }
}

TEST_F(ConnectionCaptureTest, CompressedWithContextTakeover) {
  test_support::MessageDeflater client_z, server_z;
  std::string client, server;
  std::string head = kResponse101 + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
  for (int i = 0; i < 3; ++i) {  // later messages refer back to earlier ones' window
    client += frame(0xC1, client_z.compress_message(kCall), true);
    server += frame(0xC1, server_z.compress_message(kResult), false);
  }
  for (size_t chunk : {1u, 2u, 3u, 5u, 64u, 4096u}) {
    run_exchange(client, head, server, chunk);
    ASSERT_EQ(consumer.records.size(), 6u) << "chunk " << chunk;
    int responses = 0;
    for (const Record& record : consumer.records) {
      EXPECT_TRUE(nlohmann::json::parse(record.meta_json)["compressed"].get<bool>());
      ASSERT_TRUE(record.payload.has_value());
      if (record.kind == Kind::Response) {
        ++responses;
        EXPECT_EQ(nlohmann::json::parse(*record.payload), nlohmann::json::parse(kResult));
        EXPECT_TRUE(record.correlation_id.has_value());
      }
    }
    EXPECT_EQ(responses, 3);
  }
}

// A server's extension offer that cannot be read stops capture with one invalid record;
// quoting bytes that are not UTF-8 in its reason must not throw out of the loop.
TEST_F(ConnectionCaptureTest, UnreadableExtensionWithBytesThatAreNotUtf8StopsCapture) {
  std::string head =
      kResponse101 + "Sec-WebSocket-Extensions: permessage-deflate; x\xff\xfe=1\r\n\r\n";
  std::string server = frame(0x81, kResult, false);
  run_exchange(frame(0x81, kCall, true), head, server, 4096);
  ASSERT_EQ(consumer.records.size(), 1u);
  EXPECT_EQ(consumer.records[0].kind, Kind::Invalid);
  nlohmann::json meta = nlohmann::json::parse(consumer.records[0].meta_json);
  EXPECT_EQ(meta["capture"], "stopped");
  EXPECT_NE(meta["reason"].get<std::string>().find("\ufffd"), std::string::npos) << meta;
}

// A consumer that fails the way a bug or an exhausted allocator would.
struct ThrowingConsumer : CollectingConsumer {
  int throws = 1;
  bool consume(Record&& record) override {
    if (throws > 0) {
      --throws;
      throw std::runtime_error("consumer broke");
    }
    return CollectingConsumer::consume(std::move(record));
  }
};

// Whatever capture throws — here from inside llhttp's callbacks, from the WebSocket decoder
// and from the NDJSON decoder — ends capture for the connection, never leaves on_bytes().
TEST(ConnectionCaptureFailure, AnExceptionStopsCaptureAndNeverReachesTheCaller) {
  const Redactor redactor{RedactOptions{}};
  const std::string http_request =
      std::string(
          "POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
          "Content-Length: ") +
      std::to_string(std::strlen(kCall)) + "\r\n\r\n" + kCall;
  struct Case {
    const char* name;
    std::vector<std::pair<Direction, std::string>> feed;
  };
  const std::vector<Case> cases = {
      {"http", {{Direction::ClientToServer, http_request}}},
      {"websocket",
       {{Direction::ClientToServer, kRequest},
        {Direction::ServerToClient, kResponse101 + "\r\n"},
        {Direction::ClientToServer, frame(0x81, kCall, true)}}},
      {"ndjson", {{Direction::ClientToServer, std::string(kCall) + "\n"}}},
  };
  for (const Case& c : cases) {
    ThrowingConsumer consumer;
    MessagePipeline pipeline("gates", CaptureOptions{}, redactor, consumer);
    ConnectionCapture capture(pipeline, "c1");
    for (const auto& [direction, bytes] : c.feed) {
      EXPECT_NO_THROW(capture.on_bytes(direction, bytes)) << c.name;
    }
    EXPECT_EQ(capture.mode(), ConnectionCapture::Mode::Off) << c.name;
    ASSERT_EQ(consumer.records.size(), 1u) << c.name;  // the failure, recorded
    EXPECT_EQ(consumer.records[0].kind, Kind::Invalid) << c.name;
    EXPECT_EQ(nlohmann::json::parse(consumer.records[0].meta_json)["reason"],
              "capture failed: consumer broke")
        << c.name;
    // Later bytes pass without capture.
    EXPECT_NO_THROW(capture.on_bytes(Direction::ServerToClient, std::string(kResult) + "\n"));
    EXPECT_NO_THROW(capture.on_end(Direction::ServerToClient));
    EXPECT_NO_THROW(capture.on_close());
    EXPECT_EQ(consumer.records.size(), 1u) << c.name;
  }
}

TEST_F(ConnectionCaptureTest, RefusedUpgradeStaysHttp) {
  MessagePipeline pipeline("gates", CaptureOptions{}, redactor, consumer);
  ConnectionCapture capture(pipeline, "c1");
  capture.on_bytes(Direction::ClientToServer, kRequest);
  capture.on_bytes(Direction::ServerToClient,
                   "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(capture.mode(), ConnectionCapture::Mode::Http);
  capture.on_bytes(Direction::ClientToServer, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(capture.mode(), ConnectionCapture::Mode::Http);
  EXPECT_TRUE(consumer.records.empty());
}

TEST_F(ConnectionCaptureTest, ProtocolViolationStopsCaptureWithOneInvalidRecord) {
  MessagePipeline pipeline("gates", CaptureOptions{}, redactor, consumer);
  ConnectionCapture capture(pipeline, "c1");
  capture.on_bytes(Direction::ClientToServer, kRequest);
  capture.on_bytes(Direction::ServerToClient, kResponse101 + "\r\n");
  capture.on_bytes(Direction::ClientToServer, text_frame(kCall, false));  // unmasked: illegal
  capture.on_bytes(Direction::ClientToServer, text_frame(kCall, true));
  capture.on_bytes(Direction::ServerToClient, text_frame(kResult, false));
  ASSERT_EQ(consumer.records.size(), 1u);
  EXPECT_EQ(consumer.records[0].kind, Kind::Invalid);
  EXPECT_EQ(consumer.records[0].transport, Transport::WebSocket);
  EXPECT_EQ(capture.mode(), ConnectionCapture::Mode::Off);
}

TEST_F(ConnectionCaptureTest, TlsHelloOnAPlainRouteIsOneInvalidRecord) {
  MessagePipeline pipeline("gates", CaptureOptions{}, redactor, consumer);
  ConnectionCapture capture(pipeline, "c1");
  capture.on_bytes(Direction::ClientToServer, std::string("\x16\x03\x01\x02\x00\x01\x00", 7));
  capture.on_bytes(Direction::ServerToClient, std::string("\x16\x03\x03\x00\x5d", 5));
  ASSERT_EQ(consumer.records.size(), 1u);
  EXPECT_EQ(consumer.records[0].kind, Kind::Invalid);
  EXPECT_EQ(capture.mode(), ConnectionCapture::Mode::Off);
}

TEST_F(ConnectionCaptureTest, NdjsonOverTcp) {
  MessagePipeline pipeline("gates", CaptureOptions{}, redactor, consumer);
  ConnectionCapture capture(pipeline, "c1");
  std::string client =
      std::string(kCall) + "\n" + R"({"jsonrpc":"2.0","method":"notifications/x"})";
  for (char c : client) capture.on_bytes(Direction::ClientToServer, std::string_view(&c, 1));
  capture.on_bytes(Direction::ServerToClient, std::string(kResult) + "\n");
  capture.on_end(Direction::ClientToServer);  // the unterminated last line still counts
  ASSERT_EQ(consumer.records.size(), 3u);
  EXPECT_EQ(capture.mode(), ConnectionCapture::Mode::Ndjson);
  EXPECT_EQ(consumer.records[0].transport, Transport::Tcp);
  EXPECT_EQ(consumer.records[1].kind, Kind::Response);
  EXPECT_SET_AND_EQ(consumer.records[1].correlation_id, consumer.records[0].correlation_id);
  EXPECT_EQ(consumer.records[2].kind, Kind::Notification);
}

}  // namespace
}  // namespace mcptap::capture

// One captured message: every column of mcptap.messages, filled in by the capture pipeline.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/uuid.h"

namespace mcptap::capture {

enum class Direction : uint8_t { ClientToServer, ServerToClient };
enum class Transport : uint8_t { WebSocket, Http, Sse, Tcp, Stdio };
enum class Kind : uint8_t { Request, Notification, Response, Error, Batch, Invalid };

std::string_view to_string(Direction direction);  // "client_to_server" / "server_to_client"
std::string_view to_string(Transport transport);  // "websocket", "http", "sse", "tcp", "stdio"
std::string_view to_string(Kind kind);            // "request", ..., "invalid"
Direction opposite(Direction direction);

struct Record {
  base::Uuid id;
  int64_t captured_at_us = 0;  // Unix microseconds when the message's last byte passed
  std::string route;
  std::string connection_id;
  std::string session_id;
  Transport transport = Transport::Tcp;
  Direction direction = Direction::ClientToServer;
  Kind kind = Kind::Invalid;
  std::optional<std::string> jsonrpc_id;  // the id as JSON text: 1 and "1" stay different
  std::optional<std::string> method;
  std::optional<base::Uuid> correlation_id;
  std::optional<int64_t> latency_us;
  std::optional<std::string> payload;  // redacted JSON text; empty when not valid JSON
  int64_t payload_bytes = 0;           // size on the wire, after WebSocket decompression
  bool truncated = false;
  bool redacted = false;
  // A response whose result.isError is true. Seen by observers (the live tail); the stored
  // row keeps it as meta.tool_error.
  bool tool_error = false;
  std::string meta_json = "{}";  // transport details as a JSON object
  // Every message of one logical operation (a request and its answer, the retries of a
  // multi round-trip request, a task's polls, a subscription's notifications) shares it.
  // A request that starts an operation gives it its correlation id.
  std::optional<base::Uuid> operation_id;

  // Approximate heap footprint, for byte-bounded queues.
  size_t footprint_bytes() const;
};

// Where finished records go. Implemented by the sink; called on the loop thread, so it
// must not block. Returns false when the record was dropped (a full queue, say).
class RecordConsumer {
 public:
  virtual ~RecordConsumer() = default;
  virtual bool consume(Record&& record) = 0;
  // Records consumed between hold() and release() may be stored together at release();
  // the caller releases before forwarding the bytes they came from.
  virtual void hold() {}
  virtual void release() {}
};

}  // namespace mcptap::capture

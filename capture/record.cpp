// Names of the record enums as they appear in the database, and the record's footprint.
#include "capture/record.h"

namespace mcptap::capture {

std::string_view to_string(Direction direction) {
  return direction == Direction::ClientToServer ? "client_to_server" : "server_to_client";
}

std::string_view to_string(Transport transport) {
  switch (transport) {
    case Transport::WebSocket:
      return "websocket";
    case Transport::Http:
      return "http";
    case Transport::Sse:
      return "sse";
    case Transport::Tcp:
      return "tcp";
    case Transport::Stdio:
      return "stdio";
  }
  return "tcp";
}

std::string_view to_string(Kind kind) {
  switch (kind) {
    case Kind::Request:
      return "request";
    case Kind::Notification:
      return "notification";
    case Kind::Response:
      return "response";
    case Kind::Error:
      return "error";
    case Kind::Batch:
      return "batch";
    case Kind::Invalid:
      return "invalid";
  }
  return "invalid";
}

Direction opposite(Direction direction) {
  return direction == Direction::ClientToServer ? Direction::ServerToClient
                                                : Direction::ClientToServer;
}

size_t Record::footprint_bytes() const {
  size_t bytes =
      sizeof(Record) + route.size() + connection_id.size() + session_id.size() + meta_json.size();
  if (jsonrpc_id) bytes += jsonrpc_id->size();
  if (method) bytes += method->size();
  if (payload) bytes += payload->size();
  return bytes;
}

}  // namespace mcptap::capture

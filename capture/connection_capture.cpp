// Protocol detection and decoder wiring for one connection.
#include "capture/connection_capture.h"

#include <cctype>
#include <exception>
#include <string>

#include "base/log.h"

namespace mcptap::capture {
namespace {

// Bytes a client may send between its upgrade request and the server's answer; a
// well-behaved client sends none, so this only bounds a misbehaving one.
constexpr size_t kMaxHeldClientBytes = 1u << 20;

bool looks_like_http_request(std::string_view bytes) {
  // A request line starts with an upper-case method token followed by a space.
  size_t i = 0;
  while (i < bytes.size() && i < 24 && std::isupper(static_cast<unsigned char>(bytes[i]))) ++i;
  return i > 0 && (i == bytes.size() || bytes[i] == ' ');
}

bool looks_like_json(std::string_view bytes) {
  for (char c : bytes) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{' || c == '[';
  }
  return true;  // only white space so far: JSON lines may still follow
}

}  // namespace

ConnectionCapture::ConnectionCapture(MessagePipeline& pipeline, std::string connection_id)
    : pipeline_(pipeline), connection_id_(std::move(connection_id)) {}

ConnectionCapture::~ConnectionCapture() = default;

// Capture never takes a connection down: whatever a decoder or the pipeline throws (out of
// memory, a bug) ends capture for this connection, and the bytes go on as they came.
template <typename Step>
void ConnectionCapture::guarded(Direction direction, Step step) noexcept {
  try {
    step();
  } catch (const std::exception& failure) {
    abandon(direction, failure.what());
  } catch (...) {
    abandon(direction, "unknown exception");
  }
}

void ConnectionCapture::on_bytes(Direction direction, std::string_view bytes) {
  if (bytes.empty() || mode_ == Mode::Off) return;
  guarded(direction, [&] {
    DeliveryBatch batch(pipeline_);
    if (mode_ == Mode::Sniffing) sniff(bytes);
    switch (mode_) {
      case Mode::Http:
      case Mode::AwaitingUpgrade:
        feed_http(direction, bytes);
        break;
      case Mode::WebSocket:
        feed_websocket(direction, bytes);
        break;
      case Mode::Ndjson:
        feed_ndjson(direction, bytes);
        break;
      case Mode::Sniffing:
      case Mode::Off:
        break;
    }
  });
}

void ConnectionCapture::abandon(Direction direction, std::string_view what) noexcept {
  if (mode_ == Mode::Off) return;  // stopped already, and recorded
  try {
    base::log_error("capture failed; the connection goes on without it",
                    {{"component", "capture"}, {"connection_id", connection_id_}, {"error", what}});
    stop_capture(direction, "capture failed: " + std::string(what));
  } catch (...) {
    mode_ = Mode::Off;  // not even the failure could be recorded
  }
}

void ConnectionCapture::sniff(std::string_view bytes) {
  if (looks_like_http_request(bytes)) {
    mode_ = Mode::Http;
    http_ = std::make_unique<HttpCapture>(pipeline_, connection_id_,
                                          [this](const base::HttpHead& head) {
                                            if (mode_ == Mode::AwaitingUpgrade)
                                              on_upgrade_response(head);
                                          });
    http_->set_tls_meta(tls_meta());
    request_parser_ = std::make_unique<base::HttpMessageParser>(
        base::HttpMessageParser::Type::Request, http_->request_listener());
    response_parser_ = std::make_unique<base::HttpMessageParser>(
        base::HttpMessageParser::Type::Response, http_->response_listener());
  } else if (looks_like_json(bytes)) {
    start_ndjson(Transport::Tcp);
  } else {
    stop_capture(Direction::ClientToServer, "unrecognized protocol: neither HTTP nor JSON");
  }
}

void ConnectionCapture::start_ndjson(Transport transport) {
  mode_ = Mode::Ndjson;
  ndjson_transport_ = transport;
  client_lines_ = std::make_unique<NdjsonDecoder>(pipeline_.options().max_payload_bytes);
  server_lines_ = std::make_unique<NdjsonDecoder>(pipeline_.options().max_payload_bytes);
}

void ConnectionCapture::feed_http(Direction direction, std::string_view bytes) {
  if (direction == Direction::ClientToServer && mode_ == Mode::AwaitingUpgrade) {
    if (held_client_bytes_.size() + bytes.size() > kMaxHeldClientBytes) {
      stop_capture(direction, "client sent too much before the upgrade was answered");
      return;
    }
    held_client_bytes_.append(bytes);
    return;
  }
  base::HttpMessageParser& parser =
      direction == Direction::ClientToServer ? *request_parser_ : *response_parser_;
  size_t consumed = 0;
  base::HttpMessageParser::Status status = parser.feed(bytes, &consumed);
  if (status == base::HttpMessageParser::Status::Failed) {
    stop_capture(direction, parser.failure().message);
    return;
  }
  if (!http_->status()) {
    stop_capture(direction, http_->status().error().message);
    return;
  }
  if (status != base::HttpMessageParser::Status::Upgraded) return;
  std::string_view rest = bytes.substr(consumed);
  if (direction == Direction::ClientToServer) {
    // The request asked to switch protocols; only the server's answer says whether it did.
    mode_ = Mode::AwaitingUpgrade;
    held_client_bytes_.assign(rest);
  } else if (mode_ == Mode::WebSocket) {
    feed_websocket(direction, rest);
  } else if (mode_ != Mode::Off) {
    stop_capture(direction, "server switched to a protocol other than WebSocket");
  }
}

void ConnectionCapture::on_upgrade_response(const base::HttpHead& head) {
  if (head.status_code != 101) {
    // Upgrade refused: the client goes on speaking HTTP on this connection.
    mode_ = Mode::Http;
    request_parser_->resume_after_refused_upgrade();
    std::string held = std::move(held_client_bytes_);
    held_client_bytes_.clear();
    if (!held.empty()) feed_http(Direction::ClientToServer, held);
    return;
  }
  if (!http_->websocket_upgrade_requested() || !head.header_has_token("upgrade", "websocket")) {
    stop_capture(Direction::ServerToClient, "upgrade to a protocol other than WebSocket");
    return;
  }
  subprotocol_ = std::string(head.header("sec-websocket-protocol").value_or(""));
  extensions_ = std::string(head.header("sec-websocket-extensions").value_or(""));
  base::Result<std::optional<DeflateParams>> deflate = parse_permessage_deflate(extensions_);
  if (!deflate) {
    stop_capture(Direction::ServerToClient, deflate.error().message);
    return;
  }
  start_websocket(*deflate);
}

void ConnectionCapture::start_websocket(std::optional<DeflateParams> deflate) {
  mode_ = Mode::WebSocket;
  upgrade_path_ = http_->upgrade_path();
  uint64_t cap = pipeline_.options().max_payload_bytes;
  client_frames_ =
      std::make_unique<WebSocketDecoder>(WebSocketDecoder::Options{true, deflate, cap});
  server_frames_ =
      std::make_unique<WebSocketDecoder>(WebSocketDecoder::Options{false, deflate, cap});
  request_parser_.reset();
  std::string held = std::move(held_client_bytes_);
  held_client_bytes_.clear();
  if (!held.empty()) feed_websocket(Direction::ClientToServer, held);
}

void ConnectionCapture::feed_websocket(Direction direction, std::string_view bytes) {
  if (bytes.empty()) return;
  WebSocketDecoder& decoder =
      direction == Direction::ClientToServer ? *client_frames_ : *server_frames_;
  // While capture is off, messages are followed for their framing only.
  WebSocketDecoder::Status status = decoder.feed(
      bytes,
      [&](WebSocketMessage&& message) { submit_websocket_message(direction, std::move(message)); },
      pipeline_.enabled());
  if (status == WebSocketDecoder::Status::Failed) {
    stop_capture(direction, decoder.failure().message);
  }
}

void ConnectionCapture::submit_websocket_message(Direction direction, WebSocketMessage&& message) {
  if (!pipeline_.enabled()) return;  // switched off while the message was under way
  CapturedMessage captured;
  captured.direction = direction;
  captured.transport = Transport::WebSocket;
  captured.payload = std::move(message.payload);
  captured.size = message.size;
  captured.truncated = message.truncated;
  captured.sha256_hex = message.sha256_hex;
  captured.meta = {{"opcode", message.opcode == 2 ? "binary" : "text"},
                   {"compressed", message.compressed},
                   {"frames", message.frames},
                   {"wire_bytes", message.wire_bytes},
                   {"path", upgrade_path_}};
  if (!subprotocol_.empty()) captured.meta["subprotocol"] = subprotocol_;
  captured.tls = tls_meta();
  pipeline_.submit(connection_id_, std::move(captured));
}

void ConnectionCapture::feed_ndjson(Direction direction, std::string_view bytes) {
  NdjsonDecoder& decoder = direction == Direction::ClientToServer ? *client_lines_ : *server_lines_;
  decoder.feed(bytes, [&](const NdjsonLine& line) { submit_ndjson_line(direction, line); });
}

void ConnectionCapture::submit_ndjson_line(Direction direction, const NdjsonLine& line) {
  if (!pipeline_.enabled()) return;
  CapturedMessage captured;
  captured.direction = direction;
  captured.transport = ndjson_transport_;
  captured.payload = line.text;
  captured.size = line.size;
  captured.truncated = line.truncated;
  captured.sha256_hex = line.sha256_hex;
  captured.tls = tls_meta();
  pipeline_.submit(connection_id_, std::move(captured));
}

// Comes before the first plaintext byte, so every record of the connection carries it.
void ConnectionCapture::on_tls(const TlsSummary& summary) {
  tls_meta_ = to_meta(summary);
}

void ConnectionCapture::on_end(Direction direction) {
  guarded(direction, [&] {
    if (mode_ == Mode::Http && direction == Direction::ServerToClient) {
      // A response without a length ends with the connection. One cut short (an endless SSE
      // stream the client walked away from) is how such streams normally end: no violation.
      response_parser_->finish();
      return;
    }
    // A last line without its newline is still a message once its sender is done.
    if (mode_ != Mode::Ndjson) return;
    NdjsonDecoder& decoder =
        direction == Direction::ClientToServer ? *client_lines_ : *server_lines_;
    decoder.finish([&](const NdjsonLine& line) { submit_ndjson_line(direction, line); });
  });
}

void ConnectionCapture::on_close() {
  guarded(Direction::ClientToServer, [&] {
    if (http_) http_->on_connection_closed();
    pipeline_.forget_session(connection_id_);
  });
}

void ConnectionCapture::stop_capture(Direction direction, std::string_view reason) {
  pipeline_.submit_failure(connection_id_, connection_id_, transport(), direction, reason);
  mode_ = Mode::Off;
  // Decoders hold buffers; a connection whose capture stopped keeps none of them.
  client_frames_.reset();
  server_frames_.reset();
  client_lines_.reset();
  server_lines_.reset();
  held_client_bytes_.clear();
  held_client_bytes_.shrink_to_fit();
}

Transport ConnectionCapture::transport() const {
  if (mode_ == Mode::WebSocket) return Transport::WebSocket;
  if (mode_ == Mode::Ndjson || mode_ == Mode::Sniffing) return ndjson_transport_;
  return Transport::Http;
}

}  // namespace mcptap::capture

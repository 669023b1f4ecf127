// Capture of one proxied connection: detects the protocol from the first bytes and drives
// the matching decoders (HTTP upgrade then WebSocket, or NDJSON over raw TCP).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/http_message_parser.h"
#include "capture/http_capture.h"
#include "capture/message_pipeline.h"
#include "capture/ndjson_decoder.h"
#include "capture/stream_tap.h"
#include "capture/websocket_decoder.h"

namespace mcptap::capture {

class ConnectionCapture final : public StreamTap {
 public:
  ConnectionCapture(MessagePipeline& pipeline, std::string connection_id);
  ~ConnectionCapture() override;

  // For a stream known to be newline-delimited JSON (a child process's stdin and stdout):
  // no sniffing, and its messages are recorded with `transport`. Call before any bytes.
  void start_ndjson(Transport transport);

  void on_bytes(Direction direction, std::string_view bytes) override;
  void on_end(Direction direction) override;
  void on_tls(const TlsSummary& summary) override;
  void on_close() override;

  enum class Mode { Sniffing, Http, AwaitingUpgrade, WebSocket, Ndjson, Off };
  Mode mode() const { return mode_; }

 private:
  void sniff(std::string_view bytes);
  void feed_http(Direction direction, std::string_view bytes);
  void on_upgrade_response(const base::HttpHead& head);
  void start_websocket(std::optional<DeflateParams> deflate);
  void feed_websocket(Direction direction, std::string_view bytes);
  void feed_ndjson(Direction direction, std::string_view bytes);
  void submit_ndjson_line(Direction direction, const NdjsonLine& line);
  void submit_websocket_message(Direction direction, WebSocketMessage&& message);
  void stop_capture(Direction direction, std::string_view reason);
  // Runs one step of capture; an exception from it abandons capture for the connection.
  template <typename Step>
  void guarded(Direction direction, Step step) noexcept;
  void abandon(Direction direction, std::string_view what) noexcept;
  Transport transport() const;

  const nlohmann::json* tls_meta() const { return tls_meta_.is_null() ? nullptr : &tls_meta_; }

  MessagePipeline& pipeline_;
  std::string connection_id_;
  Mode mode_ = Mode::Sniffing;
  nlohmann::json tls_meta_;  // meta.tls of every record; null without TLS

  // HTTP: one parser per direction feeding the exchange capture.
  std::unique_ptr<HttpCapture> http_;
  std::unique_ptr<base::HttpMessageParser> request_parser_;
  std::unique_ptr<base::HttpMessageParser> response_parser_;
  std::string upgrade_path_;
  std::string held_client_bytes_;  // sent after the upgrade request, before the 101 answer

  // WebSocket: one decoder per direction, built once the 101 response is seen.
  std::unique_ptr<WebSocketDecoder> client_frames_;
  std::unique_ptr<WebSocketDecoder> server_frames_;
  std::string subprotocol_;
  std::string extensions_;

  // NDJSON over TCP: one line splitter per direction.
  std::unique_ptr<NdjsonDecoder> client_lines_;
  std::unique_ptr<NdjsonDecoder> server_lines_;
  Transport ndjson_transport_ = Transport::Tcp;
};

}  // namespace mcptap::capture

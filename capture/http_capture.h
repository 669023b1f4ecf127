// JSON-RPC carried by HTTP/1.x exchanges on one connection: POST bodies, JSON and SSE
// responses (Streamable HTTP and the legacy HTTP+SSE transport), with their MCP sessions.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/http_message_parser.h"
#include "base/result.h"
#include "capture/content_decoder.h"
#include "capture/message_pipeline.h"
#include "capture/sse_parser.h"

namespace mcptap::capture {

// The first bytes of an HTTP error answer that is not JSON (an HTML 401 page, a gateway's
// 502): decoded like any captured body, kept up to kHttpErrorExcerptBytes, the rest only
// counted, so an answer of any size costs at most that much memory.
class HttpErrorExcerpt {
 public:
  explicit HttpErrorExcerpt(std::string_view content_encoding);
  HttpErrorExcerpt(const HttpErrorExcerpt&) = delete;
  HttpErrorExcerpt& operator=(const HttpErrorExcerpt&) = delete;

  // The next bytes of the body as they came on the wire, split anywhere.
  void feed(std::string_view encoded);
  // End of the body.
  void finish();
  // Valid until this object changes. When the body cannot be decoded (a coding we do not
  // know, corrupt data) the excerpt holds what decoded before, body_bytes counts the bytes
  // as they came, and the excerpt is marked truncated unless the body was empty.
  HttpErrorBody body() const;

 private:
  std::unique_ptr<ContentDecoder> decoder_;  // null once decoding failed, or never possible
  std::string excerpt_;
  uint64_t wire_bytes_ = 0;
  bool failed_ = false;
};

class HttpCapture {
 public:
  // Told of every response head, before its body: the connection's owner watches for the
  // answer to a WebSocket upgrade request.
  using ResponseHeadObserver = std::function<void(const base::HttpHead& head)>;

  HttpCapture(MessagePipeline& pipeline, std::string_view connection_id,
              ResponseHeadObserver on_response_head);
  ~HttpCapture();

  // meta.tls for every record of the connection (owned by the caller, which outlives this).
  void set_tls_meta(const nlohmann::json* tls) { tls_meta_ = tls; }

  base::HttpMessageParser::Listener& request_listener();
  base::HttpMessageParser::Listener& response_listener();

  bool websocket_upgrade_requested() const { return websocket_upgrade_requested_; }
  const std::string& upgrade_path() const { return upgrade_path_; }
  // The connection ended: messages held back for their session id are recorded now.
  void on_connection_closed();

  // HTTP/1.1 pairs answers with requests by order alone, so no awaiting request can be
  // dropped: a client that pipelines past these bounds while the upstream holds back its
  // first answer makes capture of the connection stop (status() says why).
  static constexpr size_t kMaxAwaitingExchanges = 256;
  static constexpr uint64_t kAwaitingBytesBeyondPayload = 4u << 20;
  // Failed once a bound was passed; the awaiting requests are dropped by then.
  const base::Status& status() const { return status_; }
  size_t awaiting_exchanges() const { return exchanges_.size(); }
  uint64_t awaiting_bytes() const { return awaiting_bytes_; }

 private:
  class Requests;
  class Responses;
  struct Exchange;  // one request and, later, its response

  void on_request_head(const base::HttpHead& head);
  void on_request_body(std::string_view chunk);
  void on_request_complete();
  bool on_response_head(const base::HttpHead& head);
  void on_response_body(std::string_view chunk);
  void on_response_complete();
  void on_sse_event(const SseEvent& event);
  // Returns the request a request body carried (see MessagePipeline::submit).
  std::optional<RequestRef> submit_body(Exchange& exchange, Direction direction,
                                        Transport transport, std::string_view payload,
                                        uint64_t size, bool truncated, std::string_view sha,
                                        nlohmann::json meta);
  void submit_held_request(Exchange& exchange);
  void submit_error_answer(Exchange& exchange);
  std::unique_ptr<ContentDecoder> decoder_for(const base::HttpHead& head) const;
  bool decode(ContentDecoder& decoder, std::string_view chunk, Direction direction,
              const ContentDecoder::OutputCallback& on_output);
  bool finish_decoding(ContentDecoder& decoder, Direction direction);
  nlohmann::json http_meta(const Exchange& exchange, bool response, nlohmann::json headers) const;
  std::string session_of(const base::HttpHead& head) const;
  void await_response(std::unique_ptr<Exchange> exchange);

  MessagePipeline& pipeline_;
  std::string connection_id_;
  ResponseHeadObserver on_response_head_;
  const nlohmann::json* tls_meta_ = nullptr;
  std::unique_ptr<Requests> requests_;
  std::unique_ptr<Responses> responses_;

  std::deque<std::unique_ptr<Exchange>> exchanges_;  // requests awaiting their response
  uint64_t awaiting_bytes_ = 0;                      // estimated memory of exchanges_
  base::Status status_;
  std::unique_ptr<Exchange> request_;   // the request being received
  std::unique_ptr<Exchange> response_;  // the exchange whose response is arriving
  bool websocket_upgrade_requested_ = false;
  std::string upgrade_path_;
  std::string stream_session_id_;  // legacy SSE: sessionId announced by the endpoint event
};

}  // namespace mcptap::capture

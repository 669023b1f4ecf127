// HTTP exchanges to records: request bodies, JSON and SSE responses, MCP session ids.
#include "capture/http_capture.h"

#include <algorithm>

#include "base/ascii_case.h"
#include "base/clock.h"
#include "base/query_string.h"
#include "capture/standard_headers.h"

namespace mcptap::capture {
namespace {

std::string_view media_type(const base::HttpHead& head) {
  std::string_view type = head.header("content-type").value_or("");
  while (!type.empty() && type.front() == ' ') type.remove_prefix(1);
  return type;
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

nlohmann::json headers_object(const base::HttpHead& head, const Redactor& redactor) {
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& [name, value] : head.headers) {
    std::string key = base::lowercase_ascii(name);
    auto it = headers.find(key);
    if (it == headers.end()) {
      headers[key] = value;
    } else {
      // A repeated header (Set-Cookie) keeps every value.
      if (!it->is_array()) *it = nlohmann::json::array({*it});
      it->push_back(value);
    }
  }
  redactor.redact_headers(headers);
  return headers;
}

}  // namespace

HttpErrorExcerpt::HttpErrorExcerpt(std::string_view content_encoding) {
  ContentDecoderLimits limits;
  limits.max_output_bytes = kHttpErrorExcerptBytes;
  auto decoder = ContentDecoder::create(content_encoding, limits);
  if (!decoder) return;  // a coding we cannot decode: the body is only counted
  decoder_ = std::move(*decoder);
  // The excerpt is every byte delivered, so a page that fits in it is never hashed.
  decoder_->hash_only_past_cap(&excerpt_);
}

void HttpErrorExcerpt::feed(std::string_view encoded) {
  wire_bytes_ += encoded.size();
  if (!decoder_ || failed_) return;
  base::Status fed = decoder_->feed(encoded, [&](std::string_view decoded) {
    excerpt_.append(decoded);  // the decoder stops delivering at the excerpt's size
  });
  failed_ = !fed.ok();
}

void HttpErrorExcerpt::finish() {
  if (decoder_ && !failed_) failed_ = !decoder_->finish().ok();
}

HttpErrorBody HttpErrorExcerpt::body() const {
  if (!decoder_ || failed_) return {excerpt_, wire_bytes_, wire_bytes_ > 0};
  return {excerpt_, decoder_->total_output(), decoder_->truncated()};
}

struct HttpCapture::Exchange {
  std::string method;
  std::string target;
  std::string session_id;  // Mcp-Session-Id, or the legacy transport's ?sessionId=
  nlohmann::json request_headers;
  // MCP's standard headers as sent (before redaction), until the body that they describe
  // is submitted.
  StandardHeaders standard_headers;
  bool request_is_json = false;  // a body worth capturing, still decodable
  std::unique_ptr<ContentDecoder> request_decoder;
  std::string request_body;  // decoded, at most the payload cap
  int64_t request_done_at_us = 0;

  uint64_t head_bytes = 0;      // the request head as sent: the headers' share of the estimate
  uint64_t awaiting_bytes = 0;  // counted in HttpCapture::awaiting_bytes_ while queued

  // A sessionless initialize is held until the response names the session it created,
  // so that it too carries the session id.
  bool holding = false;
  std::string held_payload;
  uint64_t held_size = 0;
  bool held_truncated = false;
  std::string held_sha;

  // The single request a POST body carried: whatever comes back on this exchange answers
  // it, whatever id the answer has (or none).
  std::optional<RequestRef> request;

  int status = 0;
  nlohmann::json response_headers;
  // ErrorExcerpt: an answer of status >= 400 that is neither JSON nor SSE.
  enum class Body { None, Json, Sse, ErrorExcerpt } response_body_kind = Body::None;
  std::unique_ptr<ContentDecoder> response_decoder;
  std::string response_body;
  std::unique_ptr<SseParser> sse;
  std::unique_ptr<HttpErrorExcerpt> error_excerpt;
  std::string response_session;

  const RequestRef* answers() const { return request ? &*request : nullptr; }
  // A POST's answer answers its body. A GET opens a stream (legacy HTTP+SSE, or a
  // Streamable HTTP server's own stream) whose messages answer requests POSTed elsewhere.
  void keep_request(std::optional<RequestRef> submitted) {
    if (method == "POST") request = std::move(submitted);
  }
};

class HttpCapture::Requests final : public base::HttpMessageParser::Listener {
 public:
  explicit Requests(HttpCapture& owner) : owner_(owner) {}
  bool on_head(const base::HttpHead& head) override {
    owner_.on_request_head(head);
    return false;
  }
  void on_body(std::string_view chunk) override { owner_.on_request_body(chunk); }
  void on_message_complete() override { owner_.on_request_complete(); }

 private:
  HttpCapture& owner_;
};

class HttpCapture::Responses final : public base::HttpMessageParser::Listener {
 public:
  explicit Responses(HttpCapture& owner) : owner_(owner) {}
  bool on_head(const base::HttpHead& head) override { return owner_.on_response_head(head); }
  void on_body(std::string_view chunk) override { owner_.on_response_body(chunk); }
  void on_message_complete() override { owner_.on_response_complete(); }

 private:
  HttpCapture& owner_;
};

HttpCapture::HttpCapture(MessagePipeline& pipeline, std::string_view connection_id,
                         ResponseHeadObserver on_response_head)
    : pipeline_(pipeline),
      connection_id_(connection_id),
      on_response_head_(std::move(on_response_head)),
      requests_(std::make_unique<Requests>(*this)),
      responses_(std::make_unique<Responses>(*this)) {}

HttpCapture::~HttpCapture() = default;

base::HttpMessageParser::Listener& HttpCapture::request_listener() {
  return *requests_;
}
base::HttpMessageParser::Listener& HttpCapture::response_listener() {
  return *responses_;
}

std::string HttpCapture::session_of(const base::HttpHead& head) const {
  if (auto id = head.header("mcp-session-id")) return std::string(*id);
  return base::query_parameter(head.target, "sessionId");
}

void HttpCapture::on_request_head(const base::HttpHead& head) {
  // Past a bound, the rest of the bytes already read are parsed but no longer captured.
  if (!status_) {
    request_.reset();
    return;
  }
  request_ = std::make_unique<Exchange>();
  Exchange& exchange = *request_;
  exchange.method = head.method;
  exchange.target = head.target;
  exchange.session_id = session_of(head);
  exchange.request_headers = headers_object(head, pipeline_.redactor());
  // Judged against the body, which is only read while capture is on.
  if (pipeline_.enabled()) exchange.standard_headers = read_standard_headers(head);
  for (const auto& [name, value] : head.headers) exchange.head_bytes += name.size() + value.size();
  std::string_view type = media_type(head);
  exchange.request_is_json = type.empty() || base::starts_with_folded(type, "application/json");
  if (head.header_has_token("upgrade", "websocket")) {
    websocket_upgrade_requested_ = true;
    // The WebSocket path goes into every message's meta; a ?token= in it must not.
    upgrade_path_ = pipeline_.redactor().redact_target(head.target);
  }
  // A coding we cannot decode (br, say) leaves the body uncaptured, not the connection.
  exchange.request_decoder = decoder_for(head);
  if (!exchange.request_decoder) {
    exchange.request_is_json = false;
  } else {
    exchange.request_decoder->hash_only_past_cap(&exchange.request_body);
  }
}

void HttpCapture::on_request_body(std::string_view chunk) {
  if (!request_ || !request_->request_is_json || !pipeline_.enabled()) return;
  Exchange& exchange = *request_;
  exchange.request_is_json =
      decode(*exchange.request_decoder, chunk, Direction::ClientToServer,
             [&](std::string_view decoded) { exchange.request_body.append(decoded); });
}

void HttpCapture::on_request_complete() {
  if (!request_) return;
  Exchange& exchange = *request_;
  exchange.request_done_at_us = base::unix_now_us();
  ContentDecoder* decoder = exchange.request_decoder.get();
  if (exchange.request_is_json && decoder->total_input() > 0 &&
      finish_decoding(*decoder, Direction::ClientToServer)) {
    bool truncated = decoder->truncated();
    std::string sha = truncated ? decoder->sha256_hex() : std::string();
    bool initialize = exchange.session_id.empty() &&
                      exchange.request_body.find("\"initialize\"") != std::string::npos;
    if (initialize) {
      exchange.holding = true;
      exchange.held_payload = std::move(exchange.request_body);
      exchange.held_size = decoder->total_output();
      exchange.held_truncated = truncated;
      exchange.held_sha = sha;
    } else {
      exchange.keep_request(
          submit_body(exchange, Direction::ClientToServer, Transport::Http, exchange.request_body,
                      decoder->total_output(), truncated, sha,
                      http_meta(exchange, false, std::move(exchange.request_headers))));
    }
  }
  std::string().swap(exchange.request_body);
  exchange.request_decoder.reset();
  // Only a held request still needs its headers, for its record.
  if (!exchange.holding) {
    exchange.request_headers = nullptr;
    exchange.standard_headers = StandardHeaders{};
  }
  await_response(std::move(request_));
}

void HttpCapture::await_response(std::unique_ptr<Exchange> exchange) {
  if (!status_) return;  // capture of the connection is stopping
  // An estimate that errs high: the strings, the held payload, the headers (three times:
  // as sent, as JSON and the standard ones raw), the request's ids and the fixed share of
  // each object.
  const std::optional<RequestRef>& request = exchange->request;
  exchange->awaiting_bytes =
      sizeof(Exchange) + 256 + exchange->method.size() + exchange->target.size() +
      exchange->session_id.size() + exchange->held_payload.size() +
      (exchange->holding ? 3 * exchange->head_bytes : 0) +
      (request ? request->id_text.size() + request->session_id.size() + request->method.size() : 0);
  uint64_t byte_bound = pipeline_.options().max_payload_bytes + kAwaitingBytesBeyondPayload;
  if (exchanges_.size() >= kMaxAwaitingExchanges ||
      awaiting_bytes_ + exchange->awaiting_bytes > byte_bound) {
    status_ = base::fail("more than " + std::to_string(kMaxAwaitingExchanges) + " requests or " +
                         std::to_string(byte_bound) + " bytes awaiting their responses");
    exchanges_.clear();
    awaiting_bytes_ = 0;
    return;
  }
  awaiting_bytes_ += exchange->awaiting_bytes;
  exchanges_.push_back(std::move(exchange));
}

bool HttpCapture::on_response_head(const base::HttpHead& head) {
  if (on_response_head_) on_response_head_(head);
  // Interim responses (100 Continue) precede the real answer to the same request.
  if (head.status_code >= 100 && head.status_code < 200 && head.status_code != 101) return false;
  if (exchanges_.empty()) {
    response_ = std::make_unique<Exchange>();  // an answer to nothing we saw: keep going
  } else {
    response_ = std::move(exchanges_.front());
    exchanges_.pop_front();
    awaiting_bytes_ -= response_->awaiting_bytes;
  }
  Exchange& exchange = *response_;
  exchange.status = head.status_code;
  exchange.response_headers = headers_object(head, pipeline_.redactor());
  std::string assigned = std::string(head.header("mcp-session-id").value_or(""));
  exchange.response_session = !assigned.empty()              ? assigned
                              : !exchange.session_id.empty() ? exchange.session_id
                                                             : stream_session_id_;
  if (exchange.holding) submit_held_request(exchange);
  if (exchange.method == "DELETE" && head.status_code < 300 && !exchange.session_id.empty()) {
    pipeline_.forget_session(exchange.session_id);
  }
  std::string_view type = media_type(head);
  exchange.response_decoder = decoder_for(head);
  if (exchange.response_decoder && base::starts_with_folded(type, "text/event-stream")) {
    exchange.response_body_kind = Exchange::Body::Sse;
    exchange.sse = std::make_unique<SseParser>(pipeline_.options().max_payload_bytes);
  } else if (exchange.response_decoder && base::starts_with_folded(type, "application/json")) {
    exchange.response_body_kind = Exchange::Body::Json;
    exchange.response_decoder->hash_only_past_cap(&exchange.response_body);
  } else {
    exchange.response_decoder.reset();
    // An error answer that is not JSON-RPC (an HTML 401, a gateway's 502, no body at all)
    // still answers the request: recorded with the start of its body. Other answers that
    // are not JSON (a 200 page) stay uncaptured, and so do refusals of what carries no
    // JSON-RPC (a 405 to the GET of a server without a standalone stream, every session).
    if (head.status_code >= 400 && exchange.method == "POST" && pipeline_.enabled()) {
      exchange.response_body_kind = Exchange::Body::ErrorExcerpt;
      exchange.error_excerpt =
          std::make_unique<HttpErrorExcerpt>(head.header("content-encoding").value_or(""));
    }
  }
  return exchange.method == "HEAD";
}

void HttpCapture::on_response_body(std::string_view chunk) {
  if (!response_ || response_->response_body_kind == Exchange::Body::None) return;
  Exchange& exchange = *response_;
  if (exchange.response_body_kind == Exchange::Body::ErrorExcerpt) {
    exchange.error_excerpt->feed(chunk);
    return;
  }
  bool decodable;
  if (exchange.response_body_kind == Exchange::Body::Json) {
    if (!pipeline_.enabled()) return;
    decodable = decode(*exchange.response_decoder, chunk, Direction::ServerToClient,
                       [&](std::string_view decoded) { exchange.response_body.append(decoded); });
  } else {
    // An SSE stream is parsed even while capture is off, so that it stays in step.
    decodable =
        decode(*exchange.response_decoder, chunk, Direction::ServerToClient,
               [&](std::string_view decoded) {
                 exchange.sse->feed(decoded, [&](const SseEvent& event) { on_sse_event(event); });
               });
  }
  if (!decodable) exchange.response_body_kind = Exchange::Body::None;
}

void HttpCapture::on_response_complete() {
  if (!response_) return;
  Exchange& exchange = *response_;
  ContentDecoder* decoder = exchange.response_decoder.get();
  if (exchange.response_body_kind == Exchange::Body::Json && decoder->total_input() > 0 &&
      finish_decoding(*decoder, Direction::ServerToClient)) {
    bool truncated = decoder->truncated();
    submit_body(exchange, Direction::ServerToClient, Transport::Http, exchange.response_body,
                decoder->total_output(), truncated,
                truncated ? decoder->sha256_hex() : std::string(),
                http_meta(exchange, true, std::move(exchange.response_headers)));
  } else if (exchange.response_body_kind == Exchange::Body::ErrorExcerpt) {
    submit_error_answer(exchange);
  }
  response_.reset();
}

void HttpCapture::on_sse_event(const SseEvent& event) {
  Exchange& exchange = *response_;
  if (event.event_type == "endpoint") {
    // Legacy HTTP+SSE: the stream announces where to POST, and so the session's id.
    std::string id = base::query_parameter(event.data, "sessionId");
    if (!id.empty()) stream_session_id_ = exchange.response_session = id;
    return;
  }
  if (event.event_type != "message" || event.data_size == 0) return;  // priming, keep-alive
  nlohmann::json meta = http_meta(exchange, true, exchange.response_headers);  // every event's
  nlohmann::json sse = {{"event", event.event_type}};
  if (event.has_id_field) sse["id"] = event.id;
  meta["sse"] = std::move(sse);
  submit_body(exchange, Direction::ServerToClient, Transport::Sse, event.data, event.data_size,
              event.truncated, event.sha256_hex, std::move(meta));
}

std::optional<RequestRef> HttpCapture::submit_body(Exchange& exchange, Direction direction,
                                                   Transport transport, std::string_view payload,
                                                   uint64_t size, bool truncated,
                                                   std::string_view sha, nlohmann::json meta) {
  CapturedMessage message;
  message.direction = direction;
  message.transport = transport;
  message.session_id =
      direction == Direction::ClientToServer ? exchange.session_id : exchange.response_session;
  message.payload = payload;
  message.size = size;
  message.truncated = truncated;
  message.sha256_hex = sha;
  message.meta = std::move(meta);
  message.tls = tls_meta_;
  if (direction == Direction::ClientToServer) {
    message.headers = &exchange.standard_headers;
  } else {
    message.answers = exchange.answers();
    message.http_status = exchange.status;
  }
  return pipeline_.submit(connection_id_, std::move(message));
}

void HttpCapture::submit_held_request(Exchange& exchange) {
  exchange.holding = false;
  CapturedMessage message;
  message.direction = Direction::ClientToServer;
  message.transport = Transport::Http;
  message.session_id = exchange.response_session;
  message.payload = exchange.held_payload;
  message.size = exchange.held_size;
  message.truncated = exchange.held_truncated;
  message.sha256_hex = exchange.held_sha;
  message.meta = http_meta(exchange, false, std::move(exchange.request_headers));
  message.passed_at_us = exchange.request_done_at_us;
  message.tls = tls_meta_;
  message.headers = &exchange.standard_headers;
  exchange.keep_request(pipeline_.submit(connection_id_, std::move(message)));
  std::string().swap(exchange.held_payload);
  exchange.standard_headers = StandardHeaders{};
}

void HttpCapture::submit_error_answer(Exchange& exchange) {
  exchange.error_excerpt->finish();
  HttpErrorBody body = exchange.error_excerpt->body();
  CapturedMessage message;
  message.direction = Direction::ServerToClient;
  message.transport = Transport::Http;
  message.session_id = exchange.response_session;
  message.size = body.body_bytes;
  message.meta = http_meta(exchange, true, std::move(exchange.response_headers));
  message.tls = tls_meta_;
  message.answers = exchange.answers();
  message.http_status = exchange.status;
  pipeline_.submit_http_error(connection_id_, std::move(message), body);
}

// Null for a coding that cannot be decoded: the body is then not captured.
std::unique_ptr<ContentDecoder> HttpCapture::decoder_for(const base::HttpHead& head) const {
  base::Result<std::unique_ptr<ContentDecoder>> decoder = ContentDecoder::create(
      head.header("content-encoding").value_or(""), pipeline_.options().max_payload_bytes);
  return decoder ? std::move(*decoder) : nullptr;
}

bool HttpCapture::decode(ContentDecoder& decoder, std::string_view chunk, Direction direction,
                         const ContentDecoder::OutputCallback& on_output) {
  base::Status decoded = decoder.feed(chunk, on_output);
  if (decoded) return true;
  // A body we cannot decode is not captured; its bytes still pass untouched.
  pipeline_.submit_failure(connection_id_, connection_id_, Transport::Http, direction,
                           "content-encoding: " + decoded.error().message);
  return false;
}

bool HttpCapture::finish_decoding(ContentDecoder& decoder, Direction direction) {
  base::Status finished = decoder.finish();
  if (finished) return true;
  pipeline_.submit_failure(connection_id_, connection_id_, Transport::Http, direction,
                           "content-encoding: " + finished.error().message);
  return false;
}

// The headers come in by value: a message's last use of them moves them, with no copy.
nlohmann::json HttpCapture::http_meta(const Exchange& exchange, bool response,
                                      nlohmann::json headers) const {
  nlohmann::json http = {{"method", exchange.method},
                         {"path", pipeline_.redactor().redact_target(path_of(exchange.target))}};
  if (response) http["status"] = exchange.status;
  http["headers"] = std::move(headers);
  return {{"http", std::move(http)}};
}

void HttpCapture::on_connection_closed() {
  for (auto& exchange : exchanges_) {
    if (exchange->holding) {
      exchange->response_session = exchange->session_id;
      submit_held_request(*exchange);
    }
  }
  exchanges_.clear();
  awaiting_bytes_ = 0;
}

}  // namespace mcptap::capture

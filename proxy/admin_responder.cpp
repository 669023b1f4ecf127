// An admin response: its head, a whole body or chunks of a stream, handed to its connection.
#include "proxy/admin_responder.h"

#include <cassert>
#include <charconv>
#include <nlohmann/json.hpp>

#include "base/json_text.h"
#include "proxy/admin_connection.h"

namespace mcptap::proxy {
namespace {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";  // the code is what clients act on; the phrase is decoration
  }
}

// Header text from the owner must not be able to start a new header or end the head.
bool is_clean_header_text(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// 204 and 304 responses end with their head whatever they declare.
bool is_bodiless(int status) {
  return status == 204 || status == 304;
}

std::string json_error_body(std::string_view message) {
  nlohmann::json body = {{"error", std::string(message)}};
  return base::json_text(body);  // the message may quote a request's bytes
}

}  // namespace

AdminResponder::AdminResponder(AdminConnection* connection, bool keep_alive, bool head_only,
                               bool chunked)
    : connection_(connection), keep_alive_(keep_alive), head_only_(head_only), chunked_(chunked) {}

AdminResponder::~AdminResponder() = default;

bool AdminResponder::respond(int status, std::string_view content_type, std::string_view body,
                             const HttpHeaders& extra_headers) {
  if (connection_ == nullptr || state_ != State::Waiting) return false;
  if (!write_head(status, content_type, extra_headers, body.size())) return false;
  if (!head_only_ && !is_bodiless(status)) connection_->emit(*this, std::string(body));
  finish();
  return true;
}

bool AdminResponder::respond_error(int status, std::string_view message,
                                   const HttpHeaders& extra_headers) {
  return respond(status, "application/json", json_error_body(message), extra_headers);
}

bool AdminResponder::start_stream(int status, std::string_view content_type,
                                  const HttpHeaders& extra_headers) {
  if (connection_ == nullptr || state_ != State::Waiting) return false;
  if (!head_only_) {
    if (!connection_->take_stream_slot()) {
      respond_error(503, "too many streams open; try again later", {{"Retry-After", "5"}});
      return false;
    }
    holds_stream_slot_ = true;
  }
  keep_alive_ = false;  // the connection's last response (for HTTP/1.0 its end ends the body)
  connection_->on_stream_started();
  if (!write_head(status, content_type, extra_headers, std::nullopt)) return false;
  state_ = State::Streaming;
  if (head_only_) finish();  // HEAD: the head is the whole answer
  return true;
}

AdminResponder::SendResult AdminResponder::send(std::string_view chunk) {
  if (!open() || state_ != State::Streaming) return SendResult::Closed;
  if (chunk.empty()) return SendResult::Sent;
  if (connection_->stream_behind(*this)) {
    connection_->cut_off(*this);  // detaches this responder
    return SendResult::Closed;
  }
  std::string framed;
  if (chunked_) {
    char size[20];
    auto result = std::to_chars(size, size + sizeof(size), chunk.size(), 16);
    framed.reserve(chunk.size() + 24);
    framed.append(size, result.ptr).append("\r\n").append(chunk).append("\r\n");
  } else {
    framed = std::string(chunk);
  }
  connection_->emit(*this, std::move(framed));
  return SendResult::Sent;
}

void AdminResponder::end() {
  if (state_ != State::Streaming) return;
  if (connection_ == nullptr) {
    state_ = State::Finished;
    return;
  }
  if (chunked_) connection_->emit(*this, "0\r\n\r\n");
  finish();
}

bool AdminResponder::open() const {
  return connection_ != nullptr && state_ != State::Finished;
}

size_t AdminResponder::queued_bytes() const {
  return connection_ != nullptr ? connection_->queued_bytes_for(*this) : 0;
}

bool AdminResponder::write_head(int status, std::string_view content_type,
                                const HttpHeaders& extra_headers,
                                std::optional<size_t> content_length) {
  assert(status >= 200 && status <= 599 && "1xx responses are the server's own business");
  if (status < 200 || status > 599) status = 500;
  std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
  head.append(reason_phrase(status)).append("\r\n");
  if (is_clean_header_text(content_type) && !content_type.empty()) {
    head.append("Content-Type: ").append(content_type).append("\r\n");
  }
  if (is_bodiless(status)) {
    // No framing at all: these never have a body (RFC 9110 §8.6, §15.3.5).
  } else if (content_length) {
    head.append("Content-Length: ").append(std::to_string(*content_length)).append("\r\n");
  } else if (chunked_) {
    head.append("Transfer-Encoding: chunked\r\n");
  }
  head.append("Cache-Control: no-store\r\n");
  head.append(keep_alive_ ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
  for (const auto& [name, value] : extra_headers) {
    bool clean = !name.empty() && is_clean_header_text(name) &&
                 name.find(':') == std::string::npos && is_clean_header_text(value);
    assert(clean && "admin response header with CR, LF or NUL");
    if (clean) head.append(name).append(": ").append(value).append("\r\n");
  }
  head.append("\r\n");
  connection_->emit(*this, std::move(head));
  return connection_ != nullptr;
}

void AdminResponder::finish() {
  state_ = State::Finished;
  release_stream_slot();
  if (connection_ != nullptr) connection_->on_responder_finished(*this);
}

void AdminResponder::detach() {
  release_stream_slot();
  connection_ = nullptr;
}

void AdminResponder::release_stream_slot() {
  if (!holds_stream_slot_ || connection_ == nullptr) return;
  holds_stream_slot_ = false;
  connection_->release_stream_slot();
}

}  // namespace mcptap::proxy

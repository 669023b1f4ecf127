// HTTP/1.x parsing with llhttp: heads collected, bodies streamed, upgrades reported.
#include "base/http_message_parser.h"

#include <utility>

#include "base/ascii_case.h"
#include "base/text.h"

namespace mcptap::base {
namespace {}  // namespace

std::optional<std::string_view> HttpHead::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (equals_ignoring_ascii_case(field, name)) return std::string_view(value);
  }
  return std::nullopt;
}

bool HttpHead::header_has_token(std::string_view name, std::string_view token) const {
  for (const auto& [field, value] : headers) {
    if (!equals_ignoring_ascii_case(field, name)) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      if (equals_ignoring_ascii_case(trim(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

HttpMessageParser::HttpMessageParser(Type type, Listener& listener, size_t max_head_bytes)
    : listener_(listener), max_head_bytes_(max_head_bytes) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = &HttpMessageParser::on_message_begin;
  settings_.on_method = &HttpMessageParser::on_method;
  settings_.on_url = &HttpMessageParser::on_url;
  settings_.on_header_field = &HttpMessageParser::on_header_field;
  settings_.on_header_value = &HttpMessageParser::on_header_value;
  settings_.on_headers_complete = &HttpMessageParser::on_headers_complete;
  settings_.on_body = &HttpMessageParser::on_body;
  settings_.on_message_complete = &HttpMessageParser::on_message_complete;
  llhttp_init(&parser_, type == Type::Request ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
  parser_.data = this;
  head_.is_request = type == Type::Request;
}

HttpMessageParser::Status HttpMessageParser::feed(std::string_view bytes, size_t* consumed) {
  *consumed = bytes.size();
  if (failed()) return Status::Failed;
  llhttp_errno_t result = llhttp_execute(&parser_, bytes.data(), bytes.size());
  rethrow_listener_failure();
  if (result == HPE_OK) return Status::Ok;
  if (result == HPE_PAUSED_UPGRADE) {
    *consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - bytes.data());
    return Status::Upgraded;
  }
  if (!failed()) {
    failure_ = fail(std::string("http: ") + llhttp_errno_name(result) + ": " +
                        llhttp_get_error_reason(&parser_),
                    llhttp_errno_name(result));
  }
  return Status::Failed;
}

HttpMessageParser::Status HttpMessageParser::finish() {
  if (failed()) return Status::Failed;
  llhttp_errno_t result = llhttp_finish(&parser_);
  rethrow_listener_failure();
  if (result == HPE_OK) return Status::Ok;
  failure_ = fail(std::string("http: ") + llhttp_errno_name(result) + " at end of stream",
                  llhttp_errno_name(result));
  return Status::Failed;
}

void HttpMessageParser::resume_after_refused_upgrade() {
  llhttp_resume_after_upgrade(&parser_);
}

HttpMessageParser& HttpMessageParser::self(llhttp_t* parser) {
  return *static_cast<HttpMessageParser*>(parser->data);
}

// llhttp is C: unwinding through it would end the process. The exception waits here until
// llhttp_execute() has returned; -1 makes llhttp stop at once.
template <typename Body>
int HttpMessageParser::guarded(llhttp_t* parser, Body body) noexcept {
  try {
    return body(self(parser));
  } catch (...) {
    self(parser).listener_failure_ = std::current_exception();
    return -1;
  }
}

void HttpMessageParser::rethrow_listener_failure() {
  if (!listener_failure_) return;
  failure_ = fail("http: capture failed");  // the stream is out of step from here on
  std::rethrow_exception(std::exchange(listener_failure_, nullptr));
}

bool HttpMessageParser::count_head_bytes(size_t length) {
  head_bytes_ += length;
  if (head_bytes_ <= max_head_bytes_) return true;
  failure_ = fail("http: message head larger than " + std::to_string(max_head_bytes_) + " bytes");
  return false;
}

int HttpMessageParser::on_message_begin(llhttp_t* parser) {
  return guarded(parser, [&](HttpMessageParser& p) {
    bool is_request = p.head_.is_request;
    p.head_ = HttpHead{};
    p.head_.is_request = is_request;
    p.head_bytes_ = 0;
    p.in_header_value_ = false;
    return 0;
  });
}

int HttpMessageParser::on_method(llhttp_t* parser, const char* at, size_t length) {
  return guarded(parser, [&](HttpMessageParser& p) {
    if (!p.count_head_bytes(length)) return -1;
    p.head_.method.append(at, length);
    return 0;
  });
}

int HttpMessageParser::on_url(llhttp_t* parser, const char* at, size_t length) {
  return guarded(parser, [&](HttpMessageParser& p) {
    if (!p.count_head_bytes(length)) return -1;
    p.head_.target.append(at, length);
    return 0;
  });
}

int HttpMessageParser::on_header_field(llhttp_t* parser, const char* at, size_t length) {
  return guarded(parser, [&](HttpMessageParser& p) {
    if (!p.count_head_bytes(length)) return -1;
    // llhttp may split a field across calls; a field after a value starts a new header.
    if (p.in_header_value_ || p.head_.headers.empty()) {
      p.head_.headers.emplace_back();
      p.in_header_value_ = false;
    }
    p.head_.headers.back().first.append(at, length);
    return 0;
  });
}

int HttpMessageParser::on_header_value(llhttp_t* parser, const char* at, size_t length) {
  return guarded(parser, [&](HttpMessageParser& p) {
    if (!p.count_head_bytes(length)) return -1;
    if (p.head_.headers.empty()) return -1;
    p.in_header_value_ = true;
    p.head_.headers.back().second.append(at, length);
    return 0;
  });
}

int HttpMessageParser::on_headers_complete(llhttp_t* parser) {
  return guarded(parser, [&](HttpMessageParser& p) {
    p.head_.http_major = llhttp_get_http_major(parser);
    p.head_.http_minor = llhttp_get_http_minor(parser);
    if (!p.head_.is_request) p.head_.status_code = llhttp_get_status_code(parser);
    bool no_body = p.listener_.on_head(p.head_);
    return no_body ? 1 : 0;
  });
}

int HttpMessageParser::on_body(llhttp_t* parser, const char* at, size_t length) {
  return guarded(parser, [&](HttpMessageParser& p) {
    p.listener_.on_body(std::string_view(at, length));
    return 0;
  });
}

int HttpMessageParser::on_message_complete(llhttp_t* parser) {
  return guarded(parser, [&](HttpMessageParser& p) {
    p.listener_.on_message_complete();
    return 0;
  });
}

}  // namespace mcptap::base

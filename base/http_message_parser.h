// HTTP/1.x message parser for one direction of a connection (llhttp underneath, no I/O).
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace mcptap::base {

struct HttpHead {
  bool is_request = true;
  std::string method;   // requests
  std::string target;   // requests: the request-target as sent
  int status_code = 0;  // responses
  uint8_t http_major = 1;
  uint8_t http_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent

  // The first header with this name (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const;
  // Whether a comma-separated header (Connection, Upgrade) lists token (case-insensitive).
  bool header_has_token(std::string_view name, std::string_view token) const;
};

class HttpMessageParser {
 public:
  enum class Type { Request, Response };

  class Listener {
   public:
    virtual ~Listener() = default;
    // A message head is complete. Return true when this message has no body whatever its
    // headers say (the response to a HEAD request, say).
    virtual bool on_head(const HttpHead& head) = 0;
    virtual void on_body(std::string_view chunk) = 0;  // de-chunked body bytes
    virtual void on_message_complete() = 0;
  };

  enum class Status {
    Ok,        // all bytes consumed
    Upgraded,  // a message switched protocols; *consumed says where the new protocol starts
    Failed,    // not HTTP, or a violation; see failure()
  };

  HttpMessageParser(Type type, Listener& listener, size_t max_head_bytes = 64u << 10);
  HttpMessageParser(const HttpMessageParser&) = delete;
  HttpMessageParser& operator=(const HttpMessageParser&) = delete;

  // An exception thrown by the listener never unwinds through llhttp's C frames: it stops
  // the parse and is thrown again from here, after llhttp has returned.
  Status feed(std::string_view bytes, size_t* consumed);
  // The peer closed: a response delimited by the end of the connection completes here.
  Status finish();
  // After Upgraded, when the upgrade was refused (the server did not answer 101): go on
  // parsing HTTP on this stream.
  void resume_after_refused_upgrade();
  // Why feed or finish returned Failed ("http: HPE_INVALID_METHOD: Invalid method encountered",
  // code "HPE_INVALID_METHOD"); empty before that.
  const Error& failure() const { return failure_; }

 private:
  static int on_message_begin(llhttp_t* parser);
  static int on_method(llhttp_t* parser, const char* at, size_t length);
  static int on_url(llhttp_t* parser, const char* at, size_t length);
  static int on_header_field(llhttp_t* parser, const char* at, size_t length);
  static int on_header_value(llhttp_t* parser, const char* at, size_t length);
  static int on_headers_complete(llhttp_t* parser);
  static int on_body(llhttp_t* parser, const char* at, size_t length);
  static int on_message_complete(llhttp_t* parser);
  // Runs a callback's body, keeping any exception for rethrow_listener_failure().
  template <typename Body>
  static int guarded(llhttp_t* parser, Body body) noexcept;
  void rethrow_listener_failure();
  static HttpMessageParser& self(llhttp_t* parser);
  bool count_head_bytes(size_t length);
  bool failed() const { return !failure_.message.empty(); }

  Listener& listener_;
  llhttp_t parser_;
  llhttp_settings_t settings_;
  HttpHead head_;
  bool in_header_value_ = false;
  size_t head_bytes_ = 0;
  size_t max_head_bytes_;
  Error failure_;
  std::exception_ptr listener_failure_;  // thrown inside a callback, rethrown by feed/finish
};

}  // namespace mcptap::base

// The bytes a client sends to the admin server turned into requests, with no I/O: HTTP/1.x
// parsing, the target split into path and query, the body bound and keep-alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/http_message_parser.h"

namespace mcptap::proxy {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct AdminRequest {
  std::string method;  // as sent: "GET", "POST", ...
  std::string target;  // the request-target as sent
  std::string path;    // the target before '?' (and '#'), not percent-decoded
  // Query parameters, percent-decoded with '+' as a space. Of a repeated name, the first wins.
  std::map<std::string, std::string> query;
  HttpHeaders headers;  // in order, names as sent
  std::string body;     // de-chunked; at most AdminServerOptions::max_body_bytes
  uint8_t http_minor = 1;
  // The address the connection was accepted on (an IP literal without brackets or port),
  // for telling a Host header naming this machine from a foreign one.
  std::string local_address;

  // The first header with this name (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const;
};

// A request ready for its turn, or the error the server answers in its place.
struct ParsedAdminRequest {
  AdminRequest request;
  bool keep_alive = true;
  int reject_status = 0;  // 400, 408, 413: nothing after it is read
  std::string reject_message;
};

class AdminRequestReader : private base::HttpMessageParser::Listener {
 public:
  AdminRequestReader(size_t max_head_bytes, size_t max_body_bytes);
  AdminRequestReader(const AdminRequestReader&) = delete;
  AdminRequestReader& operator=(const AdminRequestReader&) = delete;

  // Parses bytes; complete requests, and at most one rejection, are appended to *out in
  // order. Once done() holds (a rejection, "Connection: close", an upgrade, stop()), bytes
  // are ignored.
  void feed(std::string_view bytes, std::deque<ParsedAdminRequest>* out);
  // Ends reading with an error the server answers after the requests before it.
  void reject(int status, std::string message, std::deque<ParsedAdminRequest>* out);
  // No further request will be read (the connection's last response has been decided).
  void stop() { done_ = true; }
  bool done() const { return done_; }
  // Bytes of a request arrived and the request is not complete yet. Bytes that follow a
  // complete request in the same feed() count from the next feed() on.
  bool in_request() const { return in_request_ && !done_; }
  // Whether the last head asked for "100-continue"; reading it clears it.
  bool take_expect_continue() { return std::exchange(expect_continue_, false); }

 private:
  bool on_head(const base::HttpHead& head) override;
  void on_body(std::string_view chunk) override;
  void on_message_complete() override;

  base::HttpMessageParser parser_;
  size_t max_body_bytes_;
  std::deque<ParsedAdminRequest>* out_ = nullptr;  // set for the duration of feed()
  AdminRequest current_;
  bool current_keep_alive_ = true;
  bool current_bad_query_ = false;
  bool in_request_ = false;
  bool expect_continue_ = false;
  bool done_ = false;
};

// Splits a request-target into AdminRequest::path and ::query; false for a malformed
// percent escape in the query.
bool split_admin_target(std::string_view target, AdminRequest* request);

}  // namespace mcptap::proxy

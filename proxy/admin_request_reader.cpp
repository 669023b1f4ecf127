// Admin requests from bytes: HttpMessageParser underneath, targets split, bodies bounded.
#include "proxy/admin_request_reader.h"

#include <charconv>

#include "base/ascii_case.h"
#include "base/query_string.h"

namespace mcptap::proxy {
namespace {

std::string too_large(size_t limit) {
  return "request body larger than " + std::to_string(limit) + " bytes";
}

}  // namespace

std::optional<std::string_view> AdminRequest::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (base::equals_ignoring_ascii_case(field, name)) return std::string_view(value);
  }
  return std::nullopt;
}

bool split_admin_target(std::string_view target, AdminRequest* request) {
  size_t end = target.find_first_of("?#");
  request->path = std::string(target.substr(0, end));
  if (end == std::string_view::npos || target[end] == '#') return true;
  std::optional<std::map<std::string, std::string>> query =
      base::parse_query(base::query_of(target));
  if (!query) return false;
  request->query = std::move(*query);
  return true;
}

AdminRequestReader::AdminRequestReader(size_t max_head_bytes, size_t max_body_bytes)
    : parser_(base::HttpMessageParser::Type::Request, *this, max_head_bytes),
      max_body_bytes_(max_body_bytes) {}

void AdminRequestReader::feed(std::string_view bytes, std::deque<ParsedAdminRequest>* out) {
  if (done_ || bytes.empty()) return;
  in_request_ = true;
  out_ = out;
  size_t consumed = 0;
  base::HttpMessageParser::Status status = parser_.feed(bytes, &consumed);
  if (status == base::HttpMessageParser::Status::Failed && !done_) {
    reject(400, parser_.failure().message, out);
  } else if (status == base::HttpMessageParser::Status::Upgraded && !done_) {
    done_ = true;  // no protocol switch here: answer what came, then close
    if (!out->empty()) out->back().keep_alive = false;
  }
  out_ = nullptr;
}

void AdminRequestReader::reject(int status, std::string message,
                                std::deque<ParsedAdminRequest>* out) {
  if (done_) return;
  done_ = true;
  ParsedAdminRequest rejection;
  rejection.keep_alive = false;
  rejection.reject_status = status;
  rejection.reject_message = std::move(message);
  out->push_back(std::move(rejection));
}

bool AdminRequestReader::on_head(const base::HttpHead& head) {
  if (done_) return false;
  current_ = AdminRequest{};
  current_.method = head.method;
  current_.target = head.target;
  current_.headers = head.headers;
  current_.http_minor = head.http_minor;
  current_bad_query_ = !split_admin_target(current_.target, &current_);
  current_keep_alive_ = head.http_minor >= 1 ? !head.header_has_token("Connection", "close")
                                             : head.header_has_token("Connection", "keep-alive");
  if (std::optional<std::string_view> length = head.header("Content-Length")) {
    uint64_t bytes = 0;
    auto [end, error] = std::from_chars(length->data(), length->data() + length->size(), bytes);
    if (error == std::errc() && bytes > max_body_bytes_) {
      reject(413, too_large(max_body_bytes_), out_);
      return false;
    }
  }
  // curl waits (a second) for this before sending a body.
  std::optional<std::string_view> expect = head.header("Expect");
  expect_continue_ =
      head.http_minor >= 1 && expect && base::equals_ignoring_ascii_case(*expect, "100-continue");
  return false;
}

void AdminRequestReader::on_body(std::string_view chunk) {
  if (done_) return;
  if (current_.body.size() + chunk.size() > max_body_bytes_) {
    reject(413, too_large(max_body_bytes_), out_);
    return;
  }
  current_.body.append(chunk);
}

void AdminRequestReader::on_message_complete() {
  in_request_ = false;
  expect_continue_ = false;
  if (done_) return;
  if (current_bad_query_) return reject(400, "malformed query string", out_);
  out_->push_back(ParsedAdminRequest{std::move(current_), current_keep_alive_, 0, {}});
  if (!current_keep_alive_) done_ = true;  // "Connection: close": later bytes are ignored
}

}  // namespace mcptap::proxy

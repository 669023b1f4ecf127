// The admin HTTP/1.1 server: accept, parse with HttpMessageParser, answer in order, stream,
// linger-close; one AdminConnection per client, all on the proxy's loop.
#include "proxy/admin_server.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstring>
#include <deque>
#include <exception>
#include <nlohmann/json.hpp>

#include "base/ascii_case.h"
#include "base/json_text.h"
#include "base/uv_handles.h"

namespace mcptap::proxy {
namespace {

constexpr size_t kReadBufferBytes = 64u << 10;
constexpr int kBacklog = 64;

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

int resolve(const std::string& host, uint16_t port, sockaddr_storage* address) {
  std::memset(address, 0, sizeof(*address));
  std::string literal = host;
  if (literal.size() > 2 && literal.front() == '[' && literal.back() == ']') {
    literal = literal.substr(1, literal.size() - 2);
  }
  if (uv_ip4_addr(literal.c_str(), port, reinterpret_cast<sockaddr_in*>(address)) == 0) return 0;
  if (uv_ip6_addr(literal.c_str(), port, reinterpret_cast<sockaddr_in6*>(address)) == 0) return 0;
  // A name ("localhost"): resolved once at start-up, where blocking is acceptable.
  uv_loop_t loop;
  int status = uv_loop_init(&loop);
  if (status != 0) return status;
  uv_getaddrinfo_t request;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  status = uv_getaddrinfo(&loop, &request, nullptr, host.c_str(), nullptr, &hints);
  if (status == 0) {
    std::memcpy(address, request.addrinfo->ai_addr, request.addrinfo->ai_addrlen);
    reinterpret_cast<sockaddr_in*>(address)->sin_port = htons(port);  // same offset for v6
    uv_freeaddrinfo(request.addrinfo);
  }
  uv_loop_close(&loop);
  return status;
}

std::string host_port_text(const std::string& host, uint16_t port) {
  bool ipv6_literal = host.find(':') != std::string::npos && host.front() != '[';
  return (ipv6_literal ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

// ---- AdminConnection ---------------------------------------------------------------------

// One client connection: its socket and its timer, the request reader, and the pipeline of
// responders in request order. Freed by the server once both handles closed.
class AdminConnection {
 public:
  explicit AdminConnection(AdminServer& server)
      : server_(server), reader_(server.options_.max_head_bytes, server.options_.max_body_bytes) {}
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;
  ~AdminConnection() { assert(open_handles_ == 0); }

  bool start(uv_stream_t* listener);
  void close_now();
  // May this connection make room for a new one: it does not stream and is not closing.
  bool evictable() const { return !closing_ && !any_streaming(); }
  bool closing() const { return closing_; }
  // When it last finished a request (or was accepted): the oldest goes first.
  uint64_t last_active() const { return last_active_; }

  // For AdminResponder.
  void emit(AdminResponder& responder, std::string bytes);
  void on_responder_finished(AdminResponder& responder);
  size_t queued_bytes_for(const AdminResponder& responder) const;
  bool take_stream_slot();
  void release_stream_slot();
  // The stream is the last response: nothing pipelined after it is served.
  void on_stream_started();
  bool stream_behind(const AdminResponder& responder) const;
  void cut_off(AdminResponder& responder);

 private:
  struct WriteRequest {
    uv_write_t req;
    std::string bytes;  // owned until the write callback
    AdminConnection* connection;
  };

  void on_read(ssize_t nread, const uv_buf_t* buf);
  void on_eof();
  void stop_parsing();
  void dispatch_ready();
  void dispatch(ParsedAdminRequest& ready);
  void invoke_handler(const AdminRequest& request, AdminResponder& responder);
  bool has_room() const;
  void progress();
  void retire_finished();
  bool any_streaming() const;
  void write(std::string bytes);
  size_t write_queue_size() const;
  void recount_stream_bytes();
  void fail_soon();
  void update_read_state();
  void restart_idle_timer();
  void begin_final_shutdown();
  void on_write_done(WriteRequest* request, int status);
  void on_shutdown_done(int status);
  void on_timer();
  void on_handle_closed();

  static void on_alloc_cb(uv_handle_t* handle, size_t size, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_shutdown_cb(uv_shutdown_t* req, int status);
  static void on_timer_cb(uv_timer_t* timer);
  static void on_close_cb(uv_handle_t* handle);

  AdminServer& server_;
  uv_tcp_t tcp_;
  // Between requests the idle timeout; from a request's first byte until it is whole, the
  // request deadline; after the final response, the linger deadline.
  uv_timer_t timer_;
  uv_shutdown_t shutdown_req_;
  AdminRequestReader reader_;
  std::string local_address_;  // the address the client connected to, for Host checks
  uint64_t last_active_ = 0;
  size_t stream_bytes_counted_ = 0;  // this connection's share of stream_queued_bytes_
  int open_handles_ = 0;
  bool reading_ = false;
  bool parsing_ = true;         // false once no further request will be served
  bool peer_ended_ = false;     // the client sent FIN
  bool shutting_down_ = false;  // every response sent; our FIN requested
  bool shutdown_done_ = false;  // our FIN is out: input is only drained until the linger ends
  bool broken_ = false;         // a write failed; the timer closes us on the next turn
  bool closing_ = false;
  bool dispatching_ = false;  // dispatch_ready() is on the stack: a nested call returns
  // Answered strictly front to back; a responder leaves once its response is finished.
  std::deque<std::shared_ptr<AdminResponder>> pipeline_;
  // Requests parsed but not yet handed to the handler: dispatch waits while the pipeline is
  // full or responses pile up unread, and reading waits until this is empty, so the memory
  // a client can claim is bounded by one read's worth of requests.
  std::deque<ParsedAdminRequest> ready_;
};

namespace {

std::string address_text(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "";
  if (address.ss_family == AF_INET) {
    uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&address), text, sizeof(text));
  } else if (address.ss_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&address), text, sizeof(text));
  }
  return text;
}

}  // namespace

bool AdminConnection::start(uv_stream_t* listener) {
  uv_tcp_init(server_.loop_, &tcp_);
  uv_timer_init(server_.loop_, &timer_);
  tcp_.data = timer_.data = shutdown_req_.data = this;
  open_handles_ = 2;
  last_active_ = uv_now(server_.loop_);
  if (uv_accept(listener, base::as_stream(&tcp_)) != 0) {
    close_now();
    return false;
  }
  sockaddr_storage local;
  int length = sizeof(local);
  if (uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
    local_address_ = address_text(local);
  }
  uv_tcp_nodelay(&tcp_, 1);  // small responses should not wait for Nagle
  restart_idle_timer();
  update_read_state();
  return true;
}

void AdminConnection::close_now() {
  if (closing_) return;
  closing_ = true;
  stop_parsing();
  uv_close(base::as_handle(&tcp_), &AdminConnection::on_close_cb);
  uv_close(base::as_handle(&timer_), &AdminConnection::on_close_cb);
  recount_stream_bytes();  // closing: this connection's stream output no longer counts
  ready_.clear();
  // Moved out first: a responder's on_closed may call back into the server.
  std::deque<std::shared_ptr<AdminResponder>> pipeline = std::move(pipeline_);
  pipeline_.clear();
  for (const auto& responder : pipeline) responder->detach();
}

void AdminConnection::stop_parsing() {
  parsing_ = false;
  reader_.stop();
}

// ---- Parsing requests ----

// Hands waiting requests to the handler in order while there is room. Handlers answering at
// once re-enter through progress(); the flag keeps that from recursing once per request.
void AdminConnection::dispatch_ready() {
  if (dispatching_) return;
  dispatching_ = true;
  while (!closing_ && !ready_.empty() && has_room()) {
    ParsedAdminRequest ready = std::move(ready_.front());
    ready_.pop_front();
    dispatch(ready);
  }
  dispatching_ = false;
}

void AdminConnection::dispatch(ParsedAdminRequest& ready) {
  AdminRequest& request = ready.request;
  request.local_address = local_address_;
  auto responder = std::shared_ptr<AdminResponder>(new AdminResponder(
      this, ready.keep_alive, request.method == "HEAD", request.http_minor >= 1));
  pipeline_.push_back(responder);
  if (ready.reject_status != 0) {
    ++server_.counters_.bad_requests;
    base::log_line(base::LogLevel::Debug, "admin request rejected",
                   {{"status", ready.reject_status}, {"reason", ready.reject_message}});
    responder->respond_error(ready.reject_status, ready.reject_message);
    return;
  }
  ++server_.counters_.requests;
  invoke_handler(request, *responder);
  if (closing_) return;
  // Two owners left (the pipeline and this function) means the handler neither answered nor
  // kept the responder: nobody ever will, and the connection would stall behind it.
  if (!responder->answered() && responder.use_count() <= 2) {
    responder->respond_error(500, "the handler did not respond");
  }
}

// Room for one more response: not too many unanswered, not too much output unread. A
// stream at the front bounds its own output, so it does not count.
bool AdminConnection::has_room() const {
  if (pipeline_.size() >= server_.options_.max_pipelined_requests) return false;
  if (!pipeline_.empty() && pipeline_.front()->streaming()) return true;
  return write_queue_size() < server_.options_.write_high_watermark;
}

// The handler is the owner's code: an exception from it must not unwind through libuv.
void AdminConnection::invoke_handler(const AdminRequest& request, AdminResponder& responder) {
  try {
    server_.handler_(request, responder);
  } catch (const std::exception& error) {
    base::log_error("admin handler failed", {{"path", request.path}, {"error", error.what()}});
    if (responder.streaming()) responder.end();
    if (!responder.answered()) responder.respond_error(500, "internal error");
  }
}

// ---- Streams ----

bool AdminConnection::take_stream_slot() {
  if (server_.open_streams_ >= server_.options_.max_streams) {
    ++server_.counters_.streams_refused;
    return false;
  }
  ++server_.open_streams_;
  return true;
}

void AdminConnection::release_stream_slot() {
  assert(server_.open_streams_ > 0);
  --server_.open_streams_;
}

// Requests behind a stream could only be answered once it ends, which it may never do: their
// responses would pile up (pipelined /tail requests, each with its own buffer). The stream's
// head says "Connection: close", so a client knows they were not served.
void AdminConnection::on_stream_started() {
  stop_parsing();
  server_.counters_.refused_behind_stream += ready_.size();
  ready_.clear();
}

bool AdminConnection::stream_behind(const AdminResponder& responder) const {
  size_t queued = queued_bytes_for(responder);
  if (queued > server_.options_.stream_max_queued_bytes) return true;
  // Over the bound for all streams, the ones with output waiting go; a reader that keeps up
  // has none.
  return queued > 0 && server_.stream_queued_bytes_ > server_.options_.streams_max_queued_bytes;
}

// The reader fell behind: close the connection rather than hold more for it. Called from a
// responder's send(), never from inside this connection's own callbacks.
void AdminConnection::cut_off(AdminResponder& responder) {
  ++server_.counters_.stream_cutoffs;
  responder.cut_off_ = true;
  base::log_line(base::LogLevel::Debug, "admin stream cut off: the client fell behind",
                 {{"queued_bytes", queued_bytes_for(responder)}});
  close_now();
}

// ---- Reading ----

void AdminConnection::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (closing_ || nread == 0) return;
  if (nread == UV_EOF) return on_eof();
  if (nread < 0) return close_now();  // reset: nobody is left to answer
  if (!parsing_) return;              // a final response is out or on its way: input is discarded
  bool was_in_request = reader_.in_request();
  reader_.feed(std::string_view(buf->base, static_cast<size_t>(nread)), &ready_);
  if (reader_.done()) stop_parsing();
  if (reader_.take_expect_continue() && reader_.in_request() && pipeline_.empty() &&
      ready_.empty()) {
    write("HTTP/1.1 100 Continue\r\n\r\n");  // curl waits (a second) for it before a body
  }
  // The request deadline runs from a request's first byte; later bytes do not extend it.
  if (!was_in_request && reader_.in_request()) {
    uv_timer_start(&timer_, &AdminConnection::on_timer_cb, server_.options_.request_timeout_ms, 0);
  } else if (!reader_.in_request()) {
    restart_idle_timer();
  }
  progress();
}

void AdminConnection::on_eof() {
  peer_ended_ = true;
  reading_ = false;  // libuv stopped reading at EOF
  stop_parsing();    // half a request at EOF is never answered
  // A streaming client that hangs up is gone (a stream never ends on its own); so is a
  // client that hangs up after our FIN.
  if (shutdown_done_ || any_streaming()) return close_now();
  progress();  // answer what is pending, then close
}

bool AdminConnection::any_streaming() const {
  return std::any_of(pipeline_.begin(), pipeline_.end(),
                     [](const auto& responder) { return responder->streaming(); });
}

void AdminConnection::update_read_state() {
  if (closing_ || broken_ || peer_ended_) return;
  // Not parsing means draining input to be discarded: always read. Otherwise read only while
  // parsed requests can be dispatched at once (behind a stream this keeps reading, which is
  // how a client hanging up is seen).
  bool want = !parsing_ || (ready_.empty() && has_room());
  if (want && !reading_) {
    reading_ = uv_read_start(base::as_stream(&tcp_), &AdminConnection::on_alloc_cb,
                             &AdminConnection::on_read_cb) == 0;
  } else if (!want && reading_) {
    uv_read_stop(base::as_stream(&tcp_));
    reading_ = false;
  }
}

// ---- Answering ----

void AdminConnection::emit(AdminResponder& responder, std::string bytes) {
  if (closing_) return;
  if (!pipeline_.empty() && pipeline_.front().get() == &responder) {
    write(std::move(bytes));
  } else {
    responder.held_ += bytes;
  }
}

void AdminConnection::on_responder_finished(AdminResponder& responder) {
  if (!pipeline_.empty() && pipeline_.front().get() == &responder) progress();
}

size_t AdminConnection::queued_bytes_for(const AdminResponder& responder) const {
  if (!pipeline_.empty() && pipeline_.front().get() == &responder) return write_queue_size();
  return responder.held_.size();
}

size_t AdminConnection::write_queue_size() const {
  return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_));
}

// Keeps the server's sum of unsent stream output current: this connection counts while a
// stream is at its front.
void AdminConnection::recount_stream_bytes() {
  bool streaming = !closing_ && !pipeline_.empty() && pipeline_.front()->streaming();
  size_t now = streaming ? write_queue_size() : 0;
  server_.stream_queued_bytes_ = server_.stream_queued_bytes_ - stream_bytes_counted_ + now;
  stream_bytes_counted_ = now;
}

// Moves the connection forward after anything happened: retires answered requests,
// dispatches waiting ones, and once nothing will be served any more, ends the connection.
void AdminConnection::progress() {
  if (closing_) return;
  retire_finished();
  dispatch_ready();
  if (closing_) return;
  retire_finished();
  if (!parsing_ && pipeline_.empty() && ready_.empty()) begin_final_shutdown();
  update_read_state();
}

// Pops finished responses off the front and sends what the new front held back.
void AdminConnection::retire_finished() {
  while (!closing_ && !pipeline_.empty()) {
    AdminResponder& front = *pipeline_.front();
    if (!front.held_.empty()) write(std::exchange(front.held_, std::string()));
    if (front.state_ != AdminResponder::State::Finished) break;
    if (!front.keep_alive_) stop_parsing();
    pipeline_.front()->connection_ = nullptr;  // done: later calls on it are no-ops
    pipeline_.pop_front();
    restart_idle_timer();
  }
  recount_stream_bytes();
}

void AdminConnection::write(std::string bytes) {
  if (closing_ || broken_ || bytes.empty()) return;
  auto* request = new WriteRequest{{}, std::move(bytes), this};
  uv_buf_t buf = uv_buf_init(request->bytes.data(), static_cast<unsigned>(request->bytes.size()));
  if (uv_write(&request->req, base::as_stream(&tcp_), &buf, 1, &AdminConnection::on_write_cb) !=
      0) {
    delete request;
    fail_soon();
  }
  recount_stream_bytes();
}

// A write failed deep inside a call chain (a responder, the parser): closing right there
// would pull the pipeline from under its callers, so the timer closes on the next turn.
void AdminConnection::fail_soon() {
  if (broken_ || closing_) return;
  broken_ = true;
  stop_parsing();
  if (reading_) uv_read_stop(base::as_stream(&tcp_));
  reading_ = false;
  uv_timer_start(&timer_, &AdminConnection::on_timer_cb, 0, 0);
}

void AdminConnection::on_write_done(WriteRequest* request, int status) {
  delete request;
  if (closing_) return;
  if (status < 0) return close_now();  // the client is gone
  recount_stream_bytes();
  progress();  // the queue shrank: waiting requests may go on
}

// The last response is queued: send FIN after it and drain what the client still sends, so
// that unread input does not make the kernel reset the connection before it reads our answer.
void AdminConnection::begin_final_shutdown() {
  if (shutting_down_ || closing_ || broken_) return;
  shutting_down_ = true;
  if (uv_shutdown(&shutdown_req_, base::as_stream(&tcp_), &AdminConnection::on_shutdown_cb) != 0) {
    fail_soon();
  }
}

void AdminConnection::on_shutdown_done(int status) {
  if (closing_) return;
  shutdown_done_ = true;
  if (status != 0 || peer_ended_) return close_now();
  uv_timer_start(&timer_, &AdminConnection::on_timer_cb, server_.options_.linger_timeout_ms, 0);
  update_read_state();
}

void AdminConnection::restart_idle_timer() {
  if (closing_ || broken_ || shutdown_done_) return;
  last_active_ = uv_now(server_.loop_);
  if (reader_.in_request()) return;  // the request deadline holds the timer
  uv_timer_start(&timer_, &AdminConnection::on_timer_cb, server_.options_.idle_timeout_ms, 0);
}

void AdminConnection::on_timer() {
  if (!broken_ && !shutdown_done_ && parsing_ && reader_.in_request()) {
    // The request did not arrive whole in time: answer 408 after what came before, then close.
    ++server_.counters_.request_timeouts;
    reader_.reject(408,
                   "request not complete within " +
                       std::to_string(server_.options_.request_timeout_ms) + " ms",
                   &ready_);
    stop_parsing();
    restart_idle_timer();  // bounds the wait should the answer never get out
    return progress();
  }
  // A live stream is not idle, however long it stays quiet.
  if (!broken_ && !shutdown_done_ && any_streaming()) return restart_idle_timer();
  base::log_line(base::LogLevel::Debug, "admin connection closed on timer",
                 {{"broken", broken_}, {"lingering", shutdown_done_}});
  close_now();
}

void AdminConnection::on_handle_closed() {
  if (--open_handles_ > 0) return;
  server_.on_connection_closed(this);  // deletes this
}

// ---- libuv trampolines ----

void AdminConnection::on_alloc_cb(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<AdminConnection*>(handle->data);
  *buf = uv_buf_init(self->server_.read_buffer_.get(), static_cast<unsigned>(kReadBufferBytes));
}

void AdminConnection::on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  static_cast<AdminConnection*>(stream->data)->on_read(nread, buf);
}

void AdminConnection::on_write_cb(uv_write_t* req, int status) {
  auto* request = reinterpret_cast<WriteRequest*>(req);
  request->connection->on_write_done(request, status);
}

void AdminConnection::on_shutdown_cb(uv_shutdown_t* req, int status) {
  static_cast<AdminConnection*>(req->data)->on_shutdown_done(status);
}

void AdminConnection::on_timer_cb(uv_timer_t* timer) {
  static_cast<AdminConnection*>(timer->data)->on_timer();
}

void AdminConnection::on_close_cb(uv_handle_t* handle) {
  static_cast<AdminConnection*>(handle->data)->on_handle_closed();
}

// ---- AdminResponder ----------------------------------------------------------------------

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
  if (state_ == State::Finished) return;
  std::function<void()> on_closed = std::move(on_closed_);
  on_closed_ = nullptr;
  if (on_closed) on_closed();
}

void AdminResponder::release_stream_slot() {
  if (!holds_stream_slot_ || connection_ == nullptr) return;
  holds_stream_slot_ = false;
  connection_->release_stream_slot();
}

// ---- AdminServer -------------------------------------------------------------------------

AdminServer::AdminServer(uv_loop_t* loop, Handler handler, AdminServerOptions options)
    : loop_(loop),
      handler_(std::move(handler)),
      options_(options),
      read_buffer_(new char[kReadBufferBytes]) {
  assert(handler_ && "an AdminServer needs a handler");
}

AdminServer::~AdminServer() {
  assert(listen_ == nullptr && connections_.empty() &&
         "close() the AdminServer and run the loop until on_closed before destroying it");
}

bool AdminServer::start(const std::string& host, uint16_t port, std::string* error) {
  assert(listen_ == nullptr && !closing_);
  int status = bind_and_listen(host, port);
  if (status == 0) return true;
  if (listen_ != nullptr) uv_close(base::as_handle(listen_), &AdminServer::on_listen_closed);
  if (error != nullptr) {
    *error = "admin: cannot listen on " + host_port_text(host, port) + ": " + uv_strerror(status);
  }
  return false;
}

int AdminServer::bind_and_listen(const std::string& host, uint16_t port) {
  sockaddr_storage address;
  int status = resolve(host, port, &address);
  if (status != 0) return status;
  listen_ = new uv_tcp_t;
  uv_tcp_init(loop_, listen_);
  listen_->data = this;
  status = uv_tcp_bind(listen_, reinterpret_cast<const sockaddr*>(&address), 0);
  // libuv reports EADDRINUSE from uv_listen rather than uv_tcp_bind.
  if (status == 0)
    status = uv_listen(base::as_stream(listen_), kBacklog, &AdminServer::on_connection_cb);
  if (status != 0) return status;
  sockaddr_storage bound;
  int length = sizeof(bound);
  status = uv_tcp_getsockname(listen_, reinterpret_cast<sockaddr*>(&bound), &length);
  if (status != 0) return status;
  bound_port_ = ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);  // same for v6
  return 0;
}

void AdminServer::on_connection(int status) {
  if (status != 0) {
    uint64_t suppressed = 0;
    if (accept_log_.allow(&suppressed)) {
      base::log_warn("admin accept failed",
                     {{"error", uv_err_name(status)}, {"suppressed", suppressed}});
    }
    return;
  }
  auto connection = std::make_unique<AdminConnection>(*this);
  AdminConnection* raw = connection.get();
  connections_.emplace(raw, std::move(connection));
  if (!raw->start(base::as_stream(listen_)))
    return;  // closing; comes back via on_connection_closed
  // Over the limit the oldest connection without a complete request gives way, so that idle
  // or dribbling clients cannot lock out a probe. Only when every other connection streams
  // is the new one closed at once: that costs one loop turn, where leaving it queued would
  // have the kernel hold it indefinitely.
  if (open_connections() > options_.max_connections && !evict_one(raw)) {
    ++counters_.connections_rejected;
    raw->close_now();
    return;
  }
  ++counters_.connections_accepted;
}

bool AdminServer::evict_one(const AdminConnection* keep) {
  // Connections still counted here may already be closing: only live ones hold a slot.
  size_t live = 0;
  AdminConnection* victim = nullptr;
  for (const auto& [raw, connection] : connections_) {
    if (raw->closing()) continue;
    ++live;
    if (raw == keep || !raw->evictable()) continue;
    if (victim == nullptr || raw->last_active() < victim->last_active()) victim = raw;
  }
  if (live <= options_.max_connections) return true;
  if (victim == nullptr) return false;
  ++counters_.connections_evicted;
  base::log_line(base::LogLevel::Debug, "admin connection displaced by a new one", {});
  victim->close_now();
  return true;
}

void AdminServer::on_connection_closed(AdminConnection* connection) {
  connections_.erase(connection);
  maybe_finish_close();
}

void AdminServer::close(std::function<void()> on_closed) {
  if (closing_) return;
  closing_ = true;
  on_closed_ = std::move(on_closed);
  if (listen_ != nullptr && !uv_is_closing(base::as_handle(listen_))) {
    uv_close(base::as_handle(listen_), &AdminServer::on_listen_closed);
  }
  // close_now() leaves the map alone (entries go in the close callbacks), so this is safe.
  for (const auto& [raw, connection] : connections_) raw->close_now();
  maybe_finish_close();
}

void AdminServer::maybe_finish_close() {
  if (!closing_ || listen_ != nullptr || !connections_.empty() || !on_closed_) return;
  std::function<void()> on_closed = std::move(on_closed_);
  on_closed_ = nullptr;
  on_closed();  // may destroy this server: nothing may follow
}

void AdminServer::on_connection_cb(uv_stream_t* server, int status) {
  static_cast<AdminServer*>(server->data)->on_connection(status);
}

void AdminServer::on_listen_closed(uv_handle_t* handle) {
  auto* self = static_cast<AdminServer*>(handle->data);
  delete reinterpret_cast<uv_tcp_t*>(handle);
  self->listen_ = nullptr;
  self->maybe_finish_close();
}

}  // namespace mcptap::proxy

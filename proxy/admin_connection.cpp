// An admin client connection: reading and parsing requests, dispatching them in order,
// writing responses through its ForwardingSide, streams, timers and the final linger.
#include "proxy/admin_connection.h"

#include <arpa/inet.h>

#include <algorithm>
#include <exception>
#include <utility>

#include "base/log.h"
#include "base/resolver.h"
#include "base/uv_handles.h"
#include "proxy/admin_server.h"

namespace mcptap::proxy {
using base::address_text;

// A single watermark for the unread responses: no request is dispatched at or above it.
AdminConnection::AdminConnection(AdminServer& server)
    : server_(server),
      out_(*this, Watermarks{server.options_.write_high_watermark - 1,
                             server.options_.write_high_watermark - 1}),
      reader_(server.options_.max_head_bytes, server.options_.max_body_bytes) {
  assert(server.options_.write_high_watermark > 0);
}

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
  out_.set_output(base::as_stream(&tcp_));
  out_.set_source(base::as_stream(&tcp_), &AdminConnection::on_alloc_cb,
                  &AdminConnection::on_read_cb);
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
  out_.detach();
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
  return !out_.above_high();
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
  out_.source_ended();  // libuv stopped reading at EOF
  stop_parsing();       // half a request at EOF is never answered
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
  if (want) {
    (void)out_.start_reading();  // a failure shows as the connection going quiet, then idle
  } else {
    out_.stop_reading();
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
  if (!pipeline_.empty() && pipeline_.front().get() == &responder) return unsent_bytes();
  return responder.held_.size();
}

// Keeps the server's sum of unsent stream output current: this connection counts while a
// stream is at its front.
void AdminConnection::recount_stream_bytes() {
  bool streaming = !closing_ && !pipeline_.empty() && pipeline_.front()->streaming();
  size_t now = streaming ? unsent_bytes() : 0;
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
  if (out_.write(std::move(bytes)) != 0) fail_soon();
  recount_stream_bytes();
}

// A write failed deep inside a call chain (a responder, the parser): closing right there
// would pull the pipeline from under its callers, so the timer closes on the next turn.
void AdminConnection::fail_soon() {
  if (broken_ || closing_) return;
  broken_ = true;
  stop_parsing();
  out_.stop_reading();
  uv_timer_start(&timer_, &AdminConnection::on_timer_cb, 0, 0);
}

void AdminConnection::on_written(ForwardingSide& /*side*/, int status) {
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
  *buf =
      uv_buf_init(self->server_.read_buffer_.get(), static_cast<unsigned>(kAdminReadBufferBytes));
}

void AdminConnection::on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  static_cast<AdminConnection*>(stream->data)->on_read(nread, buf);
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

}  // namespace mcptap::proxy

// One admin client connection: its socket, timer and request reader, and its responders
// in request order. Internal to the admin server.
#pragma once

#include <uv.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "proxy/admin_request_reader.h"
#include "proxy/admin_responder.h"
#include "proxy/forwarding_side.h"

namespace mcptap::proxy {

class AdminServer;

// What one read takes: the server's read buffer, shared by all its connections.
inline constexpr size_t kAdminReadBufferBytes = 64u << 10;

// One client connection: its socket and its timer, the request reader, and the pipeline of
// responders in request order. Freed by the server once both handles closed.
class AdminConnection : private ForwardingSide::Owner {
 public:
  explicit AdminConnection(AdminServer& server);
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;
  ~AdminConnection() override { assert(open_handles_ == 0); }

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
  size_t unsent_bytes() const { return out_.unsent_bytes(); }
  void recount_stream_bytes();
  void fail_soon();
  void update_read_state();
  void restart_idle_timer();
  void begin_final_shutdown();
  void on_written(ForwardingSide& side, int status) override;
  void on_shutdown_done(int status);
  void on_timer();
  void on_handle_closed();

  static void on_alloc_cb(uv_handle_t* handle, size_t size, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_shutdown_cb(uv_shutdown_t* req, int status);
  static void on_timer_cb(uv_timer_t* timer);
  static void on_close_cb(uv_handle_t* handle);

  AdminServer& server_;
  uv_tcp_t tcp_;
  // Responses written to the client. Its watermark holds dispatch (and so reading) while
  // the client leaves too much unread; reading is switched here too.
  ForwardingSide out_;
  // Between requests the idle timeout; from a request's first byte until it is whole, the
  // request deadline; after the final response, the linger deadline.
  uv_timer_t timer_;
  uv_shutdown_t shutdown_req_;
  AdminRequestReader reader_;
  std::string local_address_;  // the address the client connected to, for Host checks
  uint64_t last_active_ = 0;
  size_t stream_bytes_counted_ = 0;  // this connection's share of stream_queued_bytes_
  int open_handles_ = 0;
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

}  // namespace mcptap::proxy

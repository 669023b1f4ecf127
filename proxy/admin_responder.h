// The answer to one admin request: a whole response, or a stream of chunks, written in
// request order on its connection.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/admin_request_reader.h"

namespace mcptap::proxy {

class AdminConnection;  // one client connection (admin_connection.h)

// The answer to one request. The handler gets it by reference; to answer later (or to keep
// a stream), hold `shared_from_this()`: a held responder stays safe to call after its
// connection is gone (calls then do nothing and report it). Loop thread only.
//
// Either respond() once, or start_stream() then send() any number of times and end().
// Responses leave in request order: output for a request whose predecessors are not yet
// answered is held until they are. A stream is the last response of its connection.
class AdminResponder : public std::enable_shared_from_this<AdminResponder> {
 public:
  enum class SendResult {
    Sent,    // queued for the client
    Closed,  // no stream, the client went away, or it fell behind and was cut off
  };

  ~AdminResponder();
  AdminResponder(const AdminResponder&) = delete;
  AdminResponder& operator=(const AdminResponder&) = delete;

  // A complete response with Content-Length. False when already answered or the client
  // went away. Extra header names and values must not contain CR or LF (such are left out).
  bool respond(int status, std::string_view content_type, std::string_view body,
               const HttpHeaders& extra_headers = {});
  // respond() with the JSON body {"error":"<message>"}.
  bool respond_error(int status, std::string_view message, const HttpHeaders& extra_headers = {});
  // Sends the head of a streamed response (chunked for HTTP/1.1; for HTTP/1.0 the body ends
  // with the connection). A streaming connection has no idle timeout. The stream is the
  // connection's last response ("Connection: close"): requests pipelined behind it are
  // refused (never served, counted). With max_streams open it answers 503 itself and
  // returns false.
  bool start_stream(int status, std::string_view content_type,
                    const HttpHeaders& extra_headers = {});
  // One piece of a started stream (say one JSON line). Past stream_max_queued_bytes of
  // unsent output (or streams_max_queued_bytes over all streams) the stream is cut off: the
  // connection closes, open() turns false and Closed is returned, so a client that stops
  // reading costs bounded memory. An empty chunk is ignored (it would end a chunked body).
  SendResult send(std::string_view chunk);
  // Finishes a started stream; the connection then closes.
  void end();

  // True while the client is connected and this response is not finished: the owner of a
  // stream drops it once this turns false.
  bool open() const;

  bool answered() const { return state_ != State::Waiting; }
  bool streaming() const { return state_ == State::Streaming; }
  // The stream was closed because its reader fell behind.
  bool cut_off() const { return cut_off_; }
  // Output of this response not yet handed to the kernel: what the stream bound limits.
  size_t queued_bytes() const;

 private:
  friend class AdminConnection;
  enum class State { Waiting, Streaming, Finished };

  AdminResponder(AdminConnection* connection, bool keep_alive, bool head_only, bool chunked);
  bool write_head(int status, std::string_view content_type, const HttpHeaders& extra_headers,
                  std::optional<size_t> content_length);
  void finish();
  // The connection closed under this responder: calls become no-ops from here on.
  void detach();
  void release_stream_slot();

  AdminConnection* connection_;
  State state_ = State::Waiting;
  bool keep_alive_;  // the connection may serve another request after this one
  bool head_only_;   // a HEAD request: no body bytes whatever the handler gives
  bool chunked_;     // streams use chunked transfer-encoding (HTTP/1.1)
  // Output produced while earlier responses on the connection are still unanswered.
  std::string held_;
  bool holds_stream_slot_ = false;  // counted in the server's open streams
  bool cut_off_ = false;
};

}  // namespace mcptap::proxy

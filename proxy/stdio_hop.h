// The stdio hop: a child process's stdin and stdout forwarded unchanged to and from ours,
// each direction tapped, with the child's exit status and our signals passed through.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "capture/stream_tap.h"
#include "proxy/buffer_pool.h"
#include "proxy/forwarding_side.h"
#include "proxy/route_config.h"

namespace mcptap::proxy {

struct StdioHopOptions {
  // The host's side. A pipe, socket or terminal is used as a stream (descriptors above 2
  // are closed with it); a regular file is read with fs requests and written with blocking
  // writes; a closed input is an immediate end of input.
  int input_fd = 0;
  int output_fd = 1;
  int child_stderr_fd = 2;  // the child's log lines go where ours go
  // After the child exited, how long its stdout may stay open (held by a grandchild)
  // before the hop stops waiting for the rest of its output.
  uint64_t exit_grace_ms = 2000;
};

// Forwards both directions through a ForwardingSide each (watermarks as in a proxied
// connection), tees them to the tap before they are written on, and ends the child's input
// when ours ends. SIGTERM, SIGINT and SIGHUP sent to us go to the child; the hop is done
// once the child exited and everything it wrote reached our output (or the exit grace
// passed). Loop thread only: run the loop until it returns, then destroy the hop.
class StdioHop : private ForwardingSide::Owner {
 public:
  StdioHop(uv_loop_t* loop, capture::StreamTap& tap, const FlowLimits& limits,
           StdioHopOptions options = {});
  ~StdioHop() override;
  StdioHop(const StdioHop&) = delete;
  StdioHop& operator=(const StdioHop&) = delete;

  // Spawns `command` (argv; the program is looked up in PATH) and starts forwarding. On
  // failure every handle is already closing: run the loop to let them go.
  base::Status start(const std::vector<std::string>& command);
  // The child's exit status; 128 + N when it died of signal N; 127 when it never ran.
  int exit_code() const { return exit_code_; }
  // Reads stopped because the other end's write queue passed the high watermark.
  uint64_t watermark_pauses() const { return to_child_.side.pauses() + to_host_.side.pauses(); }

 private:
  // One direction: bytes read from the source, tapped, then written by `side`.
  struct Flow {
    Flow(StdioHop& owner, capture::Direction flow_direction, const FlowLimits& limits);
    StdioHop* hop;
    capture::Direction direction;
    ForwardingSide side;  // output: the destination stream; source: the input stream
    int in_file = -1;     // a regular file read with uv_fs_read instead of a stream
    int out_file = -1;    // a regular file written with write(2) instead of a stream
    uv_fs_t read_req;     // its data is the flow
    PooledBuffer* file_buffer = nullptr;  // what a pending file read fills
    bool file_read_pending = false;
    bool eof = false;     // nothing more comes from the input
    bool ending = false;  // the output closes once its queue drained
  };

  base::Status open_host_side();
  uv_stream_t* open_stream(Flow& flow, int fd, bool readable);
  base::Status spawn_child(const std::vector<std::string>& command);
  void start_signals();

  void start_reading(Flow& flow);
  void read_file(Flow& flow);
  void on_input(Flow& flow, PooledBuffer* buffer, size_t length);
  void on_written(ForwardingSide& side, int status) override;
  void update_reading(Flow& flow);
  void on_input_end(Flow& flow);
  void end_output(Flow& flow);
  void close_output(Flow& flow);
  void on_child_exit(int64_t status, int term_signal);
  void maybe_finish();
  void finish();
  void close_handle(uv_handle_t* handle);

  static StdioHop& hop_of(uv_handle_t* handle);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_file_read_cb(uv_fs_t* req);
  static void on_exit_cb(uv_process_t* process, int64_t status, int term_signal);
  static void on_signal_cb(uv_signal_t* handle, int signum);
  static void on_grace_timeout(uv_timer_t* timer);
  static void on_closed_cb(uv_handle_t* handle);

  uv_loop_t* loop_;
  capture::StreamTap& tap_;
  const StdioHopOptions options_;
  BufferPool pool_;
  Flow to_child_;  // our input -> the child's stdin
  Flow to_host_;   // the child's stdout -> our output
  uv_process_t* process_ = nullptr;
  std::vector<uv_signal_t*> signals_;
  uv_timer_t* grace_timer_ = nullptr;
  bool child_running_ = false;
  bool finished_ = false;
  int exit_code_ = 127;
  int open_handles_ = 0;  // initialised and not yet through their close callback
};

}  // namespace mcptap::proxy

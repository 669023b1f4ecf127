// The stdio hop: host side and child set-up, forwarding through two ForwardingSides, the
// child's exit, and teardown.
#include "proxy/stdio_hop.h"

#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <csignal>
#include <string_view>
#include <utility>

#include "base/log.h"
#include "base/uv_handles.h"

namespace mcptap::proxy {

StdioHop::Flow::Flow(StdioHop& owner, capture::Direction flow_direction, const FlowLimits& limits)
    : hop(&owner),
      direction(flow_direction),
      side(owner, Watermarks{limits.high_watermark_bytes, limits.low_watermark_bytes},
           &owner.pool_) {}

StdioHop::StdioHop(uv_loop_t* loop, capture::StreamTap& tap, const FlowLimits& limits,
                   StdioHopOptions options)
    : loop_(loop),
      tap_(tap),
      options_(options),
      pool_(limits.read_buffer_bytes),
      to_child_(*this, capture::Direction::ClientToServer, limits),
      to_host_(*this, capture::Direction::ServerToClient, limits) {}

StdioHop::~StdioHop() {
  assert(open_handles_ == 0 && "a stdio hop was destroyed with open handles");
}

// ---- Start-up ---------------------------------------------------------------------------

base::Status StdioHop::start(const std::vector<std::string>& command) {
  assert(!command.empty());
  base::Status started = open_host_side();
  if (started) started = spawn_child(command);
  if (!started) {
    finish();
    return started;
  }
  start_signals();
  start_reading(to_child_);
  start_reading(to_host_);
  return {};
}

// A pipe, socket or terminal becomes a stream; a regular file (or /dev/null) is read and
// written through the file descriptor; a closed input is an immediate end of input.
base::Status StdioHop::open_host_side() {
  const base::Error unusable = base::fail("cannot use stdin/stdout");
  uv_handle_type in_type = uv_guess_handle(options_.input_fd);
  if (in_type == UV_FILE) {
    to_child_.in_file = options_.input_fd;
  } else if (in_type == UV_UNKNOWN_HANDLE) {
    to_child_.eof = true;
    to_child_.side.source_ended();
  } else if (uv_stream_t* in = open_stream(to_child_, options_.input_fd, true)) {
    to_child_.side.set_source(in, &StdioHop::on_alloc, &StdioHop::on_read_cb);
  } else {
    return unusable;
  }
  uv_handle_type out_type = uv_guess_handle(options_.output_fd);
  if (out_type == UV_FILE || out_type == UV_UNKNOWN_HANDLE) {
    to_host_.out_file = options_.output_fd;
    return {};
  }
  uv_stream_t* out = open_stream(to_host_, options_.output_fd, false);
  if (out == nullptr) return unusable;
  to_host_.side.set_output(out);
  return {};
}

// The stream's data is its flow, whichever end of the flow it is.
uv_stream_t* StdioHop::open_stream(Flow& flow, int fd, bool readable) {
  uv_handle_t* handle = nullptr;
  int status = 0;
  if (uv_guess_handle(fd) == UV_TTY) {
    auto* tty = new uv_tty_t;
    status = uv_tty_init(loop_, tty, fd, readable ? 1 : 0);
    if (status != 0) {
      delete tty;  // uv_tty_init leaves nothing to close when it fails
      return nullptr;
    }
    handle = base::as_handle(tty);
  } else {
    auto* pipe = new uv_pipe_t;
    uv_pipe_init(loop_, pipe, 0);
    handle = base::as_handle(pipe);
    status = uv_pipe_open(pipe, fd);
  }
  handle->data = &flow;
  ++open_handles_;
  if (status != 0) {
    base::log_error("stdio: cannot open descriptor", {{"fd", fd}, {"error", uv_err_name(status)}});
    close_handle(handle);
    return nullptr;
  }
  return base::as_stream(handle);
}

base::Status StdioHop::spawn_child(const std::vector<std::string>& command) {
  auto* child_in = new uv_pipe_t;
  auto* child_out = new uv_pipe_t;
  uv_pipe_init(loop_, child_in, 0);
  uv_pipe_init(loop_, child_out, 0);
  child_in->data = &to_child_;
  child_out->data = &to_host_;
  open_handles_ += 2;
  to_child_.side.set_output(base::as_stream(child_in));
  to_host_.side.set_source(base::as_stream(child_out), &StdioHop::on_alloc, &StdioHop::on_read_cb);

  std::vector<char*> argv;
  for (const std::string& word : command) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  uv_stdio_container_t stdio[3];
  stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = base::as_stream(child_in);
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = base::as_stream(child_out);
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = options_.child_stderr_fd;
  uv_process_options_t process_options{};
  process_options.file = argv[0];
  process_options.args = argv.data();
  process_options.exit_cb = &StdioHop::on_exit_cb;
  process_options.stdio_count = 3;
  process_options.stdio = stdio;

  process_ = new uv_process_t;
  process_->data = this;
  ++open_handles_;
  int status = uv_spawn(loop_, process_, &process_options);
  if (status != 0) {
    // finish() closes the process handle too, as libuv requires.
    return base::fail("cannot run " + command.front() + ": " + uv_strerror(status),
                      uv_err_name(status));
  }
  child_running_ = true;
  return {};
}

// The child is the one to stop: a signal to us is passed on, and its exit ends the hop.
void StdioHop::start_signals() {
  for (int signum : {SIGTERM, SIGINT, SIGHUP}) {
    auto* handle = new uv_signal_t;
    uv_signal_init(loop_, handle);
    handle->data = this;
    ++open_handles_;
    uv_signal_start(handle, &StdioHop::on_signal_cb, signum);
    signals_.push_back(handle);
  }
}

// ---- Forwarding -------------------------------------------------------------------------

void StdioHop::start_reading(Flow& flow) {
  if (flow.eof || flow.side.paused() || finished_) return;
  if (flow.in_file >= 0) {
    read_file(flow);
    return;
  }
  if (flow.side.start_reading() != 0) on_input_end(flow);
}

void StdioHop::read_file(Flow& flow) {
  if (flow.file_read_pending) return;
  PooledBuffer* buffer = pool_.acquire();
  if (buffer == nullptr) {
    on_input_end(flow);
    return;
  }
  uv_buf_t buf = uv_buf_init(buffer->data(), static_cast<unsigned>(pool_.buffer_bytes()));
  flow.read_req.data = &flow;
  flow.file_buffer = buffer;
  flow.file_read_pending = true;
  int status =
      uv_fs_read(loop_, &flow.read_req, flow.in_file, &buf, 1, -1, &StdioHop::on_file_read_cb);
  if (status != 0) {
    flow.file_read_pending = false;
    pool_.release(buffer);
    on_input_end(flow);
  }
}

// The tap sees the bytes before they are written on: a message is recorded before its
// last byte reaches the other side.
void StdioHop::on_input(Flow& flow, PooledBuffer* buffer, size_t length) {
  tap_.on_bytes(flow.direction, std::string_view(buffer->data(), length));
  if (flow.out_file >= 0) {
    for (size_t done = 0; done < length;) {
      ssize_t wrote = ::write(flow.out_file, buffer->data() + done, length - done);
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote <= 0) break;  // the reader went away: keep capturing, drop the bytes
      done += static_cast<size_t>(wrote);
    }
  }
  if (flow.side.output() == nullptr) {
    pool_.release(buffer);
    return;
  }
  // A reader that went away (EPIPE) gets nothing more; capture goes on regardless.
  if (flow.side.write(buffer, length) != 0) {
    close_output(flow);
    return;
  }
  update_reading(flow);
}

void StdioHop::on_written(ForwardingSide& side, int status) {
  Flow& flow = &side == &to_child_.side ? to_child_ : to_host_;
  if (status != 0) close_output(flow);
  if (flow.ending && side.queued_bytes() == 0) close_output(flow);
  update_reading(flow);
  maybe_finish();
}

// Reading pauses while the destination's queue is above the high watermark and resumes at
// or below the low one, as in a proxied connection.
void StdioHop::update_reading(Flow& flow) {
  if (flow.eof || finished_) return;
  switch (flow.side.update_reading()) {
    case ForwardingSide::Reading::Resumed:
      if (flow.in_file >= 0) read_file(flow);
      break;
    case ForwardingSide::Reading::Failed:
      on_input_end(flow);
      break;
    case ForwardingSide::Reading::Paused:
    case ForwardingSide::Reading::Unchanged:
      break;
  }
}

void StdioHop::on_input_end(Flow& flow) {
  if (flow.eof) return;
  flow.eof = true;
  flow.side.source_ended();
  tap_.on_end(flow.direction);
  if (uv_stream_t* in = flow.side.source()) {
    flow.side.set_source(nullptr, nullptr, nullptr);
    close_handle(base::as_handle(in));
  }
  end_output(flow);
  maybe_finish();
}

// Closing the write end is how the reader learns of the end (the child's stdin sees EOF);
// queued bytes go out first.
void StdioHop::end_output(Flow& flow) {
  flow.ending = true;
  if (flow.side.queued_bytes() == 0) close_output(flow);
}

void StdioHop::close_output(Flow& flow) {
  uv_stream_t* out = flow.side.output();
  if (out == nullptr) return;
  flow.side.set_output(nullptr);
  close_handle(base::as_handle(out));
}

void StdioHop::on_child_exit(int64_t status, int term_signal) {
  child_running_ = false;
  exit_code_ = term_signal != 0 ? 128 + term_signal : static_cast<int>(status);
  base::log_info("stdio: child exited", {{"exit_status", status}, {"signal", term_signal}});
  // Its input has no reader any more: stop taking the host's.
  if (!to_child_.eof) on_input_end(to_child_);
  if (finished_) return;
  grace_timer_ = new uv_timer_t;
  uv_timer_init(loop_, grace_timer_);
  grace_timer_->data = this;
  ++open_handles_;
  uv_timer_start(grace_timer_, &StdioHop::on_grace_timeout, options_.exit_grace_ms, 0);
  maybe_finish();
}

// Done once the child exited and everything it wrote reached our output.
void StdioHop::maybe_finish() {
  if (finished_ || child_running_ || !to_host_.eof) return;
  if (to_host_.side.output() != nullptr && to_host_.side.queued_bytes() > 0) return;
  finish();
}

void StdioHop::finish() {
  if (finished_) return;
  finished_ = true;
  for (Flow* flow : {&to_child_, &to_host_}) {
    if (!flow->eof) {
      flow->eof = true;
      tap_.on_end(flow->direction);
    }
    if (uv_stream_t* in = flow->side.source()) close_handle(base::as_handle(in));
    close_output(*flow);
    flow->side.detach();
  }
  for (uv_signal_t* handle : signals_) close_handle(base::as_handle(handle));
  signals_.clear();
  if (grace_timer_ != nullptr) close_handle(base::as_handle(std::exchange(grace_timer_, nullptr)));
  if (process_ != nullptr) close_handle(base::as_handle(std::exchange(process_, nullptr)));
  tap_.on_close();
}

// ---- Handles ----------------------------------------------------------------------------

void StdioHop::close_handle(uv_handle_t* handle) {
  if (!uv_is_closing(handle)) uv_close(handle, &StdioHop::on_closed_cb);
}

// Streams point at their flow, every other handle at the hop.
StdioHop& StdioHop::hop_of(uv_handle_t* handle) {
  if (handle->type == UV_NAMED_PIPE || handle->type == UV_TTY) {
    return *static_cast<Flow*>(handle->data)->hop;
  }
  return *static_cast<StdioHop*>(handle->data);
}

void StdioHop::on_closed_cb(uv_handle_t* handle) {
  StdioHop& self = hop_of(handle);
  switch (handle->type) {
    case UV_NAMED_PIPE:
      delete reinterpret_cast<uv_pipe_t*>(handle);
      break;
    case UV_TTY:
      delete reinterpret_cast<uv_tty_t*>(handle);
      break;
    case UV_PROCESS:
      delete reinterpret_cast<uv_process_t*>(handle);
      break;
    case UV_SIGNAL:
      delete reinterpret_cast<uv_signal_t*>(handle);
      break;
    case UV_TIMER:
      delete reinterpret_cast<uv_timer_t*>(handle);
      break;
    default:
      assert(false && "a handle type the hop never opens");
  }
  --self.open_handles_;
}

void StdioHop::on_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  BufferPool& pool = hop_of(handle).pool_;
  PooledBuffer* buffer = pool.acquire();
  *buf = buffer == nullptr
             ? uv_buf_init(nullptr, 0)
             : uv_buf_init(buffer->data(), static_cast<unsigned>(pool.buffer_bytes()));
}

void StdioHop::on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Flow& flow = *static_cast<Flow*>(stream->data);
  StdioHop& self = *flow.hop;
  PooledBuffer* buffer = buf->base != nullptr ? PooledBuffer::from_data(buf->base) : nullptr;
  if (nread > 0) {
    self.on_input(flow, buffer, static_cast<size_t>(nread));
    return;
  }
  if (buffer != nullptr) self.pool_.release(buffer);
  if (nread < 0) self.on_input_end(flow);  // EOF, or the pipe broke: the same end
}

void StdioHop::on_file_read_cb(uv_fs_t* req) {
  Flow& flow = *static_cast<Flow*>(req->data);
  StdioHop& self = *flow.hop;
  PooledBuffer* buffer = std::exchange(flow.file_buffer, nullptr);
  ssize_t result = req->result;
  uv_fs_req_cleanup(req);
  flow.file_read_pending = false;
  if (result > 0 && !flow.eof) {
    self.on_input(flow, buffer, static_cast<size_t>(result));
    self.start_reading(flow);
    return;
  }
  self.pool_.release(buffer);
  self.on_input_end(flow);
}

void StdioHop::on_exit_cb(uv_process_t* process, int64_t status, int term_signal) {
  static_cast<StdioHop*>(process->data)->on_child_exit(status, term_signal);
}

void StdioHop::on_signal_cb(uv_signal_t* handle, int signum) {
  auto* self = static_cast<StdioHop*>(handle->data);
  if (self->child_running_ && self->process_ != nullptr) uv_process_kill(self->process_, signum);
}

void StdioHop::on_grace_timeout(uv_timer_t* timer) {
  base::log_warn("stdio: the child's stdout stayed open after it exited; not waiting longer");
  static_cast<StdioHop*>(timer->data)->finish();
}

}  // namespace mcptap::proxy

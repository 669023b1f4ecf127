// `mcptap stdio`: a child's stdin and stdout forwarded unchanged, each direction tapped.
#include "cli/stdio_command.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "base/log.h"
#include "capture/connection_capture.h"
#include "capture/message_pipeline.h"
#include "capture/redactor.h"
#include "cli/commands.h"
#include "cli/config_loader.h"
#include "cli/pg_url.h"
#include "proxy/buffer_pool.h"
#include "sink/sink.h"
#include "sink/spool.h"
#include "sink/spool_segment.h"

namespace mcptap::cli {
namespace {

using proxy::BufferPool;
using proxy::PooledBuffer;

// After the child exited, how long its stdout may stay open (held by a grandchild) before
// the hop stops waiting for the rest of its output.
constexpr uint64_t kExitGraceMs = 2000;

// One direction of the hop: bytes read from `in`, tapped, then written to `out`. The host
// side may be a pipe, a socket or a terminal (streams), or a regular file (read with fs
// requests, written with blocking writes: a file never stalls for long).
struct Flow {
  capture::Direction direction = capture::Direction::ClientToServer;
  uv_stream_t* in = nullptr;   // null once closed, or when reading a file
  uv_stream_t* out = nullptr;  // null once closed, or when writing a file
  int in_file = -1;            // a regular file read with uv_fs_read
  int out_file = -1;           // a regular file written with write(2)
  uv_fs_t read_req;
  bool file_read_pending = false;
  size_t queued_bytes = 0;  // pool memory pinned by writes queued to `out`
  bool paused = false;      // reading stopped: `out` is above the high watermark
  bool eof = false;         // nothing more comes from `in`
  bool ending = false;      // `out` closes once its queue drained
};

class StdioHop {
 public:
  StdioHop(uv_loop_t* loop, capture::StreamTap& tap, const proxy::FlowLimits& limits)
      : loop_(loop), tap_(tap), limits_(limits), pool_(limits.read_buffer_bytes) {
    loop_->data = this;
    to_child_.direction = capture::Direction::ClientToServer;
    to_host_.direction = capture::Direction::ServerToClient;
  }
  StdioHop(const StdioHop&) = delete;
  StdioHop& operator=(const StdioHop&) = delete;

  // Spawns the child and starts forwarding. On failure *error says why and every handle
  // is already closing (run the loop to let them go).
  bool start(const std::vector<std::string>& command, std::string* error);
  // 128 + N when the child died of signal N; 127 when it could not be started.
  int exit_code() const { return exit_code_; }

 private:
  bool open_host_side();
  uv_stream_t* open_std_stream(int fd, bool readable);
  bool spawn_child(const std::vector<std::string>& command, std::string* error);
  void start_signals();

  void start_reading(Flow& flow);
  void read_file(Flow& flow);
  void on_input(Flow& flow, PooledBuffer* buffer, size_t length);
  void on_input_end(Flow& flow);
  void on_write_done(Flow& flow, PooledBuffer* buffer, int status);
  void update_reading(Flow& flow);
  void end_output(Flow& flow);
  void on_child_exit(int64_t status, int term_signal);
  void maybe_finish();
  void finish();

  void close_stream(uv_stream_t*& stream);
  void close_handle(uv_handle_t* handle);
  void on_handle_closed() { --open_handles_; }

  static StdioHop& of(uv_handle_t* handle) { return *static_cast<StdioHop*>(handle->loop->data); }
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_file_read_cb(uv_fs_t* req);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_exit_cb(uv_process_t* process, int64_t status, int term_signal);
  static void on_signal_cb(uv_signal_t* handle, int signum);
  static void on_grace_timeout(uv_timer_t* timer);
  static void on_closed_cb(uv_handle_t* handle);

  uv_loop_t* loop_;
  capture::StreamTap& tap_;
  proxy::FlowLimits limits_;
  BufferPool pool_;
  Flow to_child_;  // our stdin -> the child's stdin
  Flow to_host_;   // the child's stdout -> our stdout
  uv_process_t* process_ = nullptr;
  std::vector<uv_signal_t*> signals_;
  uv_timer_t* grace_timer_ = nullptr;
  bool child_running_ = false;
  bool finished_ = false;
  int exit_code_ = 127;
  int open_handles_ = 0;
};

// ---- Start-up ---------------------------------------------------------------------------

bool StdioHop::start(const std::vector<std::string>& command, std::string* error) {
  if (!open_host_side()) {
    *error = "cannot use stdin/stdout";
    finish();
    return false;
  }
  if (!spawn_child(command, error)) {
    finish();
    return false;
  }
  start_signals();
  start_reading(to_child_);
  start_reading(to_host_);
  return true;
}

// A pipe, socket or terminal becomes a stream; a regular file (or /dev/null) is read and
// written through the file descriptor; a closed stdin is an immediate end of input.
bool StdioHop::open_host_side() {
  uv_handle_type in_type = uv_guess_handle(STDIN_FILENO);
  if (in_type == UV_FILE) {
    to_child_.in_file = STDIN_FILENO;
  } else if (in_type == UV_UNKNOWN_HANDLE) {
    to_child_.eof = true;
  } else if ((to_child_.in = open_std_stream(STDIN_FILENO, true)) == nullptr) {
    return false;
  }
  uv_handle_type out_type = uv_guess_handle(STDOUT_FILENO);
  if (out_type == UV_FILE || out_type == UV_UNKNOWN_HANDLE) {
    to_host_.out_file = STDOUT_FILENO;
    return true;
  }
  to_host_.out = open_std_stream(STDOUT_FILENO, false);
  return to_host_.out != nullptr;
}

uv_stream_t* StdioHop::open_std_stream(int fd, bool readable) {
  uv_handle_t* handle = nullptr;
  int status = 0;
  if (uv_guess_handle(fd) == UV_TTY) {
    auto* tty = new uv_tty_t;
    status = uv_tty_init(loop_, tty, fd, readable ? 1 : 0);
    if (status != 0) {
      delete tty;  // uv_tty_init leaves nothing to close when it fails
      return nullptr;
    }
    handle = reinterpret_cast<uv_handle_t*>(tty);
  } else {
    auto* pipe = new uv_pipe_t;
    uv_pipe_init(loop_, pipe, 0);
    handle = reinterpret_cast<uv_handle_t*>(pipe);
    status = uv_pipe_open(pipe, fd);
  }
  ++open_handles_;
  if (status != 0) {
    base::log_error("stdio: cannot open descriptor", {{"fd", fd}, {"error", uv_err_name(status)}});
    close_handle(handle);
    return nullptr;
  }
  return reinterpret_cast<uv_stream_t*>(handle);
}

bool StdioHop::spawn_child(const std::vector<std::string>& command, std::string* error) {
  auto* child_in = new uv_pipe_t;
  auto* child_out = new uv_pipe_t;
  uv_pipe_init(loop_, child_in, 0);
  uv_pipe_init(loop_, child_out, 0);
  open_handles_ += 2;
  to_child_.out = reinterpret_cast<uv_stream_t*>(child_in);
  to_host_.in = reinterpret_cast<uv_stream_t*>(child_out);

  std::vector<char*> argv;
  for (const std::string& word : command) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  uv_stdio_container_t stdio[3];
  stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = to_child_.out;
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = to_host_.in;
  stdio[2].flags = UV_INHERIT_FD;  // the child's log lines go where ours go
  stdio[2].data.fd = STDERR_FILENO;
  uv_process_options_t options{};
  options.file = argv[0];
  options.args = argv.data();
  options.exit_cb = &StdioHop::on_exit_cb;
  options.stdio_count = 3;
  options.stdio = stdio;

  process_ = new uv_process_t;
  ++open_handles_;
  int status = uv_spawn(loop_, process_, &options);
  if (status != 0) {
    *error = "cannot run " + command.front() + ": " + uv_strerror(status);
    return false;  // finish() closes the process handle too, as libuv requires
  }
  child_running_ = true;
  return true;
}

// The child is the one to stop: a signal to us is passed on, and its exit ends the hop.
void StdioHop::start_signals() {
  for (int signum : {SIGTERM, SIGINT, SIGHUP}) {
    auto* handle = new uv_signal_t;
    uv_signal_init(loop_, handle);
    ++open_handles_;
    uv_signal_start(handle, &StdioHop::on_signal_cb, signum);
    signals_.push_back(handle);
  }
}

// ---- Forwarding -------------------------------------------------------------------------

void StdioHop::start_reading(Flow& flow) {
  if (flow.eof || flow.paused || finished_) return;
  if (flow.in_file >= 0) {
    read_file(flow);
    return;
  }
  if (flow.in == nullptr) return;
  flow.in->data = &flow;
  int status = uv_read_start(flow.in, &StdioHop::on_alloc, &StdioHop::on_read_cb);
  if (status != 0) on_input_end(flow);
}

void StdioHop::read_file(Flow& flow) {
  if (flow.file_read_pending) return;
  PooledBuffer* buffer = pool_.acquire();
  if (buffer == nullptr) {
    on_input_end(flow);
    return;
  }
  uv_buf_t buf = uv_buf_init(buffer->data(), static_cast<unsigned>(pool_.buffer_bytes()));
  flow.read_req.data = buffer;
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
  if (flow.out == nullptr) {
    pool_.release(buffer);
    return;
  }
  buffer->length = length;
  buffer->write_req.data = &flow;
  uv_buf_t bytes = uv_buf_init(buffer->data(), static_cast<unsigned>(length));
  int status = uv_write(&buffer->write_req, flow.out, &bytes, 1, &StdioHop::on_write_cb);
  if (status != 0) {
    pool_.release(buffer);  // never queued: its callback will not run
    close_stream(flow.out);
    return;
  }
  flow.queued_bytes += pool_.buffer_bytes();
  update_reading(flow);
}

void StdioHop::on_write_done(Flow& flow, PooledBuffer* buffer, int status) {
  assert(flow.queued_bytes >= pool_.buffer_bytes());
  flow.queued_bytes -= pool_.buffer_bytes();
  pool_.release(buffer);
  // A reader that went away (EPIPE) gets nothing more; capture goes on regardless.
  if (status != 0 && flow.out != nullptr) close_stream(flow.out);
  if (flow.ending && flow.queued_bytes == 0) close_stream(flow.out);
  update_reading(flow);
  maybe_finish();
}

// Reading pauses while the destination's queue is above the high watermark and resumes at
// or below the low one, as in a proxied connection.
void StdioHop::update_reading(Flow& flow) {
  if (flow.eof || finished_) return;
  if (!flow.paused && flow.queued_bytes > limits_.high_watermark_bytes) {
    flow.paused = true;
    if (flow.in != nullptr) uv_read_stop(flow.in);
  } else if (flow.paused && flow.queued_bytes <= limits_.low_watermark_bytes) {
    flow.paused = false;
    start_reading(flow);
  }
}

void StdioHop::on_input_end(Flow& flow) {
  if (flow.eof) return;
  flow.eof = true;
  tap_.on_end(flow.direction);
  close_stream(flow.in);
  end_output(flow);
  maybe_finish();
}

// Closing the write end is how the reader learns of the end (the child's stdin sees EOF);
// queued bytes go out first.
void StdioHop::end_output(Flow& flow) {
  flow.ending = true;
  if (flow.queued_bytes == 0) close_stream(flow.out);
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
  ++open_handles_;
  uv_timer_start(grace_timer_, &StdioHop::on_grace_timeout, kExitGraceMs, 0);
  maybe_finish();
}

// Done once the child exited and everything it wrote reached our stdout.
void StdioHop::maybe_finish() {
  if (finished_ || child_running_ || !to_host_.eof) return;
  if (to_host_.out != nullptr && to_host_.queued_bytes > 0) return;
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
    close_stream(flow->in);
    close_stream(flow->out);
  }
  for (uv_signal_t* handle : signals_) close_handle(reinterpret_cast<uv_handle_t*>(handle));
  signals_.clear();
  if (grace_timer_ != nullptr)
    close_handle(reinterpret_cast<uv_handle_t*>(std::exchange(grace_timer_, nullptr)));
  if (process_ != nullptr)
    close_handle(reinterpret_cast<uv_handle_t*>(std::exchange(process_, nullptr)));
  tap_.on_close();
}

// ---- Handles ----------------------------------------------------------------------------

void StdioHop::close_stream(uv_stream_t*& stream) {
  if (stream == nullptr) return;
  close_handle(reinterpret_cast<uv_handle_t*>(std::exchange(stream, nullptr)));
}

void StdioHop::close_handle(uv_handle_t* handle) {
  if (!uv_is_closing(handle)) uv_close(handle, &StdioHop::on_closed_cb);
}

void StdioHop::on_closed_cb(uv_handle_t* handle) {
  StdioHop& self = of(handle);
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
  self.on_handle_closed();
}

void StdioHop::on_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  StdioHop& self = of(handle);
  PooledBuffer* buffer = self.pool_.acquire();
  *buf = buffer == nullptr
             ? uv_buf_init(nullptr, 0)
             : uv_buf_init(buffer->data(), static_cast<unsigned>(self.pool_.buffer_bytes()));
}

void StdioHop::on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  StdioHop& self = of(reinterpret_cast<uv_handle_t*>(stream));
  Flow& flow = *static_cast<Flow*>(stream->data);
  PooledBuffer* buffer = buf->base != nullptr ? PooledBuffer::from_data(buf->base) : nullptr;
  if (nread > 0) {
    self.on_input(flow, buffer, static_cast<size_t>(nread));
    return;
  }
  if (buffer != nullptr) self.pool_.release(buffer);
  if (nread < 0) self.on_input_end(flow);  // EOF, or the pipe broke: the same end
}

void StdioHop::on_file_read_cb(uv_fs_t* req) {
  StdioHop& self = *static_cast<StdioHop*>(req->loop->data);
  Flow& flow = self.to_child_;
  auto* buffer = static_cast<PooledBuffer*>(req->data);
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

void StdioHop::on_write_cb(uv_write_t* req, int status) {
  auto* flow = static_cast<Flow*>(req->data);
  StdioHop& self = *static_cast<StdioHop*>(req->handle->loop->data);
  self.on_write_done(*flow, reinterpret_cast<PooledBuffer*>(req), status);
}

void StdioHop::on_exit_cb(uv_process_t* process, int64_t status, int term_signal) {
  of(reinterpret_cast<uv_handle_t*>(process)).on_child_exit(status, term_signal);
}

void StdioHop::on_signal_cb(uv_signal_t* handle, int signum) {
  StdioHop& self = of(reinterpret_cast<uv_handle_t*>(handle));
  if (self.child_running_ && self.process_ != nullptr) uv_process_kill(self.process_, signum);
}

void StdioHop::on_grace_timeout(uv_timer_t* timer) {
  StdioHop& self = of(reinterpret_cast<uv_handle_t*>(timer));
  base::log_warn("stdio: the child's stdout stayed open after it exited; not waiting longer");
  self.finish();
}

// ---- The command ------------------------------------------------------------------------

std::string new_connection_id() {
  std::random_device random;
  char text[17];
  std::snprintf(text, sizeof(text), "%08x%08x", random(), random());
  return text;
}

// The hop takes sink, capture and redact settings from the file; its route name need not
// be one of the file's routes (when it is, that route's capture flag applies).
bool load_stdio_config(const StdioArgs& args, Config* config, bool* capture_enabled) {
  try {
    if (!args.config_path.empty()) *config = load_config_file(args.config_path);
  } catch (const ConfigError& error) {
    print_error(error.what());
    return false;
  }
  if (args.config_path.empty()) {
    // With --config the loader has checked the URL; without it, the environment's is checked here.
    if (check_pg_url_option("stdio", "") != kExitOk) return false;
    if (const char* url = std::getenv("MCPTAP_PG_URL"); url && *url)
      config->sink.postgres_url = url;
  }
  if (config->sink.postgres_url.empty()) {
    print_error("sink.postgres: missing (set it in --config or MCPTAP_PG_URL)");
    return false;
  }
  for (const proxy::RouteConfig& route : config->proxy.routes) {
    if (route.name != args.route) continue;
    *capture_enabled = route.capture;
    config->capture.budget = route.limits.capture_budget;  // the route's own, or capture.*
  }
  // The route's spools live beside the sidecar's: spool -> spool-stdio-ROUTE/ (see
  // RouteSpools below for the process's own directory in there).
  while (config->sink.spool_dir.size() > 1 && config->sink.spool_dir.back() == '/') {
    config->sink.spool_dir.pop_back();
  }
  config->sink.spool_dir += "-stdio-" + args.route;
  return true;
}

// ---- The route's spools -----------------------------------------------------------------
//
// A spool belongs to one process (it is locked), and an MCP host may start several hops with
// the same route at once. So every stdio process spools into a directory of its own,
// <spool_dir>-stdio-<route>/<pid>-<random>, removed again at exit once PostgreSQL has
// everything in it. A directory whose process is gone (killed, or stopped before PostgreSQL
// took everything) is adopted by the route's next stdio process: shipped by a sink of its
// own while the hop runs (and after, within the hop's drain time), and removed once
// delivered; what is not delivered by then stays for the next one. A spool that an older
// mcptap left directly in the route directory is adopted the same way. Directories are
// created, probed, adopted and removed under the route directory's stdio.lock, so a spool
// is never taken for abandoned between its creation and its own lock, nor removed while
// another process probes it.

using Clock = std::chrono::steady_clock;

constexpr const char* kRouteLockName = "stdio.lock";
constexpr const char* kSpoolLockName = "lock";  // the spool's own (sink/spool.cpp)
// An adopted spool that is fully delivered before the hop ends stops within this.
constexpr auto kAdoptedStopMs = std::chrono::milliseconds(5000);
constexpr auto kAdoptedPollInterval = std::chrono::milliseconds(50);

std::chrono::milliseconds time_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

// The route directory's lock, held for a moment by each stdio process of the route while it
// creates, adopts or removes a spool. Taken without blocking and retried for a while: a
// holder that keeps it longer (hung, or not an mcptap at all) gives a clear error instead
// of a hang. Creates the route directory first, private like every spool directory.
constexpr auto kRouteLockWait = std::chrono::milliseconds(3000);
constexpr auto kRouteLockRetry = std::chrono::milliseconds(10);

class RouteLock {
 public:
  explicit RouteLock(const std::string& root) {
    sink::SpoolProblem problem = sink::prepare_private_directory(root);
    if (!problem.empty()) {
      error_ = "stdio spool directory " + root + ": " + problem.text();
      return;
    }
    const std::string path = root + "/" + kRouteLockName;
    const Clock::time_point give_up = Clock::now() + kRouteLockWait;
    while ((fd_ = sink::open_lock_file(path, &problem)) < 0 && problem.locked &&
           Clock::now() < give_up) {
      std::this_thread::sleep_for(kRouteLockRetry);
    }
    if (fd_ >= 0) return;
    if (problem.locked) {
      problem.reason += " for over " + std::to_string(kRouteLockWait.count() / 1000) + " s";
      problem.fix =
          "every mcptap stdio of the route takes it for a moment; stop that process if "
          "it hangs, or use another --route";
    }
    error_ = path + ": " + problem.text();
  }
  ~RouteLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }
  RouteLock(const RouteLock&) = delete;
  RouteLock& operator=(const RouteLock&) = delete;
  bool held() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

// A process's spool directory: <pid>-<8 hex digits>. Nothing else in the route directory is
// ever adopted, let alone removed.
bool is_process_spool_name(const std::string& name) {
  const size_t dash = name.find('-');
  if (dash == 0 || dash == std::string::npos || name.size() - dash - 1 != 8) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (i < dash ? !std::isdigit(c) : i > dash && !std::isxdigit(c)) return false;
  }
  return true;
}

bool is_spool_file(const std::string& name) {
  return sink::segment_seq_of(name).has_value() || name == sink::kCheckpointFileName ||
         name == std::string(sink::kCheckpointFileName) + ".tmp";
}

// Under the route lock: true when no process holds the spool's lock (its owner is gone).
bool spool_abandoned(const std::string& dir) {
  const std::string path = dir + "/" + kSpoolLockName;
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    // No lock file: a process that died between creating the directory and locking it.
    std::error_code error;
    return errno == ENOENT && std::filesystem::is_directory(dir, error);
  }
  const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return free;
}

// Under the route lock, by the process holding the spool's lock, once everything in it is
// in PostgreSQL. The route directory itself (an older mcptap's spool) keeps its other files.
void remove_spool(const std::string& root, const std::string& dir) {
  std::error_code error;
  if (dir != root) {
    std::filesystem::remove_all(dir, error);
  } else {
    for (const auto& entry : std::filesystem::directory_iterator(root, error)) {
      if (entry.is_regular_file(error) && is_spool_file(entry.path().filename().string())) {
        std::filesystem::remove(entry.path(), error);
      }
    }
  }
  if (error) {
    base::log_warn("stdio: cannot remove a delivered spool",
                   {{"spool_dir", dir}, {"error", error.message()}});
  }
}

// Ships the spools other stdio processes of the route left behind, one at a time, from a
// thread of its own.
class SpoolAdopter {
 public:
  SpoolAdopter(const sink::SinkOptions& options, std::string root, std::string own_dir)
      : options_(options), root_(std::move(root)), own_dir_(std::move(own_dir)) {}
  ~SpoolAdopter() { stop(Clock::now()); }
  SpoolAdopter(const SpoolAdopter&) = delete;
  SpoolAdopter& operator=(const SpoolAdopter&) = delete;

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  // Adoptions go on until `deadline` (the hop's drain time), then stop; what is not
  // delivered by then stays on disk for the route's next stdio process.
  void stop(Clock::time_point deadline) {
    {
      std::lock_guard lock(mutex_);
      if (!stopping_) deadline_ = deadline;
      stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    while (!out_of_time()) {
      std::string dir;
      std::unique_ptr<sink::Sink> sink = adopt_next(&dir);
      if (!sink) return;
      ship(*sink, dir);
    }
  }

  bool out_of_time_locked() const { return stopping_ && Clock::now() >= deadline_; }
  bool out_of_time() {
    std::lock_guard lock(mutex_);
    return out_of_time_locked();
  }

  // Under the route lock: the next abandoned spool, opened (and so locked) by a new sink.
  std::unique_ptr<sink::Sink> adopt_next(std::string* dir) {
    RouteLock lock(root_);
    if (!lock.held()) {
      base::log_warn("stdio: not adopting left spools now", {{"error", lock.error()}});
      return nullptr;
    }
    std::vector<std::string> candidates;
    std::error_code error;
    bool root_has_spool = false;
    for (const auto& entry : std::filesystem::directory_iterator(root_, error)) {
      const std::string name = entry.path().filename().string();
      if (entry.is_directory(error)) {
        if (is_process_spool_name(name) && entry.path().string() != own_dir_) {
          candidates.push_back(entry.path().string());
        }
      } else if (is_spool_file(name)) {
        root_has_spool = true;
      }
    }
    if (root_has_spool) candidates.push_back(root_);
    std::sort(candidates.begin(), candidates.end());
    for (const std::string& candidate : candidates) {
      if (!tried_.insert(candidate).second || !spool_abandoned(candidate)) continue;
      sink::SinkOptions options = options_;
      options.spool_dir = candidate;
      *dir = candidate;
      return std::make_unique<sink::Sink>(options);
    }
    return nullptr;
  }

  void ship(sink::Sink& sink, const std::string& dir) {
    const sink::SinkStats& stats = sink.stats();
    const bool usable = stats.spool_usable.load();
    const uint64_t records = stats.spool_records.load();
    if (usable && records > 0) {
      base::log_info("stdio: shipping a spool another stdio process of the route left",
                     {{"spool_dir", dir}, {"records", records}});
      sink.start();
      std::unique_lock lock(mutex_);
      while (!out_of_time_locked() && stats.spool_records.load() > 0) {
        changed_.wait_for(lock, kAdoptedPollInterval);
      }
    }
    Clock::time_point deadline;
    {
      std::lock_guard lock(mutex_);
      deadline = stopping_ ? deadline_ : Clock::now() + kAdoptedStopMs;
    }
    const bool delivered = sink.stop(time_left(deadline)) && usable;
    if (delivered) {
      RouteLock lock(root_);
      // Still locked by `sink`: nobody adopts it meanwhile. Without the route lock it stays
      // (delivered, so its next adopter finds nothing to ship).
      if (lock.held()) remove_spool(root_, dir);
    }
    if (records > 0 || !usable) {
      base::log_line(delivered ? base::LogLevel::Info : base::LogLevel::Warn,
                     delivered ? "stdio: adopted spool delivered and removed"
                               : "stdio: adopted spool not fully delivered; it stays for the "
                                 "route's next stdio process",
                     {{"spool_dir", dir},
                      {"written_records", stats.written_records.load()},
                      {"pending_records", stats.spool_records.load()}});
    }
  }

  const sink::SinkOptions options_;
  const std::string root_;
  const std::string own_dir_;
  std::set<std::string> tried_;  // each spool is adopted at most once per process
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  Clock::time_point deadline_{};
  std::thread thread_;
};

// The terminal or pipe we were given goes back to blocking mode for whoever shares it.
void restore_blocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

// The log goes to --log-file, else to the configuration's stdio.log_file, else nowhere:
// the child's stderr is what the MCP host shows its user. False when the file cannot be
// opened, after one line on stderr.
bool open_stdio_log(const StdioArgs& args, const StdioConfig& stdio) {
  const bool from_flag = !args.log_file.empty();
  const std::string& path = from_flag ? args.log_file : stdio.log_file;
  base::set_min_log_level(stdio.log_level);
  if (path.empty()) return true;
  std::string error;
  if (base::log_to_file(path, &error)) return true;
  print_error(std::string(from_flag ? "--log-file " : "stdio.log_file ") + path +
              ": cannot open: " + error +
              " (name a file in a directory that exists and is writable)");
  return false;
}

}  // namespace

void add_stdio_options(CLI::App& sub, StdioArgs& args) {
  sub.add_option("--route,-r", args.route, "route name the captured messages are recorded under")
      ->required()
      ->check([](const std::string& name) -> std::string {
        bool ok = !name.empty() && name.size() <= 63;
        for (char c : name)
          ok = ok &&
               (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
        return ok ? "" : "use 1-63 letters, digits, '-', '_' or '.'";
      });
  sub.add_option("--config,-c", args.config_path,
                 "JSON configuration file (sink, capture, redact, stdio)")
      ->check(CLI::ExistingFile);
  sub.add_option("--log-file", args.log_file,
                 "append mcptap's log here (created 0600); default: stdio.log_file, else no "
                 "log, and stderr carries only the child's output and fatal errors");
  sub.add_option("command", args.command, "the MCP server or relay to run, after --")->required();
  sub.footer(
      "Each process spools into SPOOL_DIR-stdio-ROUTE/PID-RANDOM (SPOOL_DIR: sink.spool_dir), so\n"
      "any number may run with the same route; a spool left undelivered (PostgreSQL down, or\n"
      "the process killed) is shipped and removed by the route's next stdio process.\n"
      "stderr is the child's: mcptap's log goes to --log-file (or stdio.log_file) only.\n"
      "Example: mcptap stdio --route hop --config mcptap.json -- node relay.js --port 3");
}

int stdio_command(const StdioArgs& args) {
  base::log_to_nowhere();  // until a log file is open: stderr is the child's
  Config config;
  bool capture_enabled = true;
  if (!load_stdio_config(args, &config, &capture_enabled)) return kExitUsage;
  if (!open_stdio_log(args, config.stdio)) return kExitFailure;
  std::signal(SIGPIPE, SIG_IGN);

  // This process's own spool, created and locked under the route lock.
  const std::string root = config.sink.spool_dir;
  config.sink.spool_dir =
      root + "/" + std::to_string(::getpid()) + "-" + new_connection_id().substr(0, 8);
  auto creating = std::make_unique<RouteLock>(root);
  if (!creating->held()) {
    print_error(creating->error());
    return kExitFailure;
  }
  sink::Sink sink(config.sink);
  // Never start the child believing it is captured when the spool cannot take anything.
  if (std::string problem = sink.start_problem(); !problem.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(config.sink.spool_dir, ignored);  // this process's, and empty
    print_error("stdio spool directory " + sink.spool_dir() + ": " + problem);
    return kExitFailure;
  }
  creating.reset();
  sink.start();
  SpoolAdopter adopter(config.sink, root, config.sink.spool_dir);
  adopter.start();
  capture::Redactor redactor(config.redact);
  capture::MessagePipeline pipeline(args.route, config.capture, redactor, sink);
  pipeline.set_enabled(capture_enabled);
  capture::ConnectionCapture tap(pipeline, new_connection_id());
  tap.start_ndjson(capture::Transport::Stdio);

  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = kExitFailure;
  {
    StdioHop hop(&loop, tap, config.proxy.flow);
    std::string error;
    bool started = hop.start(args.command, &error);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (started) {
      exit_code = hop.exit_code();
    } else {
      print_error(error);
      exit_code = 127;
    }
  }
  int closed = uv_loop_close(&loop);
  assert(closed == 0 && "the hop left a handle open");
  (void)closed;
  restore_blocking(STDIN_FILENO);
  restore_blocking(STDOUT_FILENO);

  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(config.sink.shutdown_flush_timeout_ms);
  bool flushed = sink.stop(time_left(deadline));
  adopter.stop(deadline);
  const sink::SinkStats& stats = sink.stats();
  if (flushed && stats.spool_usable.load()) {
    RouteLock lock(root);
    if (lock.held()) remove_spool(root, config.sink.spool_dir);  // still locked by `sink`
  }
  base::log_info("stdio: stopped", {{"route", args.route},
                                    {"exit_code", exit_code},
                                    {"written_records", stats.written_records.load()},
                                    {"dropped_records", stats.dropped_records.load()},
                                    {"flushed", flushed}});
  return exit_code;
}

}  // namespace mcptap::cli

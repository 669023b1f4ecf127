// `mcptap stdio`: a child's stdin and stdout forwarded unchanged, each direction tapped.
#include "cli/stdio_command.h"

#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include "base/log.h"
#include "base/random.h"
#include "capture/connection_capture.h"
#include "capture/message_pipeline.h"
#include "capture/redactor.h"
#include "cli/commands.h"
#include "cli/config_loader.h"
#include "cli/pg_url.h"
#include "proxy/stdio_hop.h"
#include "sink/sink.h"
#include "sink/spool_adopter.h"
#include "sink/spool_directory.h"

namespace mcptap::cli {
namespace {

using Clock = std::chrono::steady_clock;

// ---- The command ------------------------------------------------------------------------

std::string new_connection_id() {
  uint32_t halves[2];
  base::random_bytes(halves, sizeof(halves));
  char text[17];
  std::snprintf(text, sizeof(text), "%08x%08x", halves[0], halves[1]);
  return text;
}

// The hop takes sink, capture and redact settings from the file; its route name need not
// be one of the file's routes (when it is, that route's capture flag applies).
bool load_stdio_config(const StdioArgs& args, Config* config, bool* capture_enabled) {
  if (!args.config_path.empty()) {
    base::Result<Config> loaded = load_config_file(args.config_path);
    if (!loaded) {
      print_error(loaded.error().message);
      return false;
    }
    *config = std::move(loaded).value();
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
  // The route's spools live beside the sidecar's (see sink::StdioSpools).
  config->sink.spool_dir = sink::StdioSpools::for_route(config->sink.spool_dir, args.route).root();
  return true;
}

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
  base::Status opened = base::log_to_file(path);
  if (opened) return true;
  print_error(std::string(from_flag ? "--log-file " : "stdio.log_file ") + path +
              ": cannot open: " + opened.error().message +
              " (name a file in a directory that exists and is writable)");
  return false;
}

std::chrono::milliseconds time_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

// Runs the hop on a loop of its own until the child exited and its output is out; the
// exit code is the child's (127 when it could not be started).
int run_hop(const std::vector<std::string>& command, capture::StreamTap& tap,
            const proxy::FlowLimits& limits) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 127;
  {
    proxy::StdioHop hop(&loop, tap, limits);
    base::Status started = hop.start(command);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (started) {
      exit_code = hop.exit_code();
    } else {
      print_error(started.error().message);
    }
  }
  int closed = uv_loop_close(&loop);
  assert(closed == 0 && "the hop left a handle open");
  (void)closed;
  restore_blocking(STDIN_FILENO);
  restore_blocking(STDOUT_FILENO);
  return exit_code;
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
  const sink::StdioSpools spools(config.sink.spool_dir);
  config.sink.spool_dir = spools.new_process_dir();
  std::optional<sink::Sink> sink;
  {
    base::Result<sink::HeldLock> creating = spools.lock();
    if (!creating) {
      print_error(creating.error().message);
      return kExitFailure;
    }
    sink.emplace(config.sink);
    // Never start the child believing it is captured when the spool cannot take anything.
    if (base::Status usable = sink->start_status(); !usable) {
      spools.remove(config.sink.spool_dir);  // this process's, and empty
      print_error("stdio spool directory " + sink->spool_dir() + ": " + usable.error().message);
      return kExitFailure;
    }
  }
  sink->start();
  sink::SpoolAdopter adopter(config.sink, spools, config.sink.spool_dir);
  adopter.start();
  capture::Redactor redactor(config.redact);
  capture::MessagePipeline pipeline(args.route, config.capture, redactor, *sink);
  pipeline.set_enabled(capture_enabled);
  capture::ConnectionCapture tap(pipeline, new_connection_id());
  tap.start_ndjson(capture::Transport::Stdio);

  const int exit_code = run_hop(args.command, tap, config.proxy.flow);

  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(config.sink.shutdown_flush_timeout_ms);
  bool flushed = sink->stop(time_left(deadline));
  adopter.stop(deadline);
  const sink::SinkStats& stats = sink->stats();
  if (flushed && stats.spool_usable.load()) {
    // Still locked by `sink`: nobody adopts it meanwhile.
    if (base::Result<sink::HeldLock> lock = spools.lock()) spools.remove(config.sink.spool_dir);
  }
  base::log_info("stdio: stopped", {{"route", args.route},
                                    {"exit_code", exit_code},
                                    {"written_records", stats.written_records.load()},
                                    {"dropped_records", stats.dropped_records.load()},
                                    {"flushed", flushed}});
  return exit_code;
}

}  // namespace mcptap::cli

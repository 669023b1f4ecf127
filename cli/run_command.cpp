// `mcptap run`: the sidecar in the foreground until SIGTERM/SIGINT has drained it.
#include <csignal>
#include <cstdio>

#include "base/log.h"
#include "cli/commands.h"
#include "cli/config_loader.h"
#include "cli/sink_status.h"
#include "cli/terminal_text.h"
#include "proxy/proxy_server.h"
#include "sink/record_tail.h"
#include "sink/sink.h"

namespace mcptap::cli {

// Messages quote peers and captured data (an admin API's error body, a method name, a
// PostgreSQL error citing a value): written out visibly so they cannot drive the terminal.
void print_error(const std::string& message) {
  std::string_view text = message;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  std::fprintf(stderr, "mcptap: %s\n", printable(text).c_str());
}

int run_command(const RunArgs& args) {
  base::Result<Config> loaded = load_config_file(args.config_path);
  if (!loaded) {
    print_error(loaded.error().message);
    return kExitUsage;
  }
  Config config = std::move(loaded).value();
  if (config.sink.postgres_url.empty()) {
    print_error(args.config_path + ": sink.postgres: missing (or set MCPTAP_PG_URL)");
    return kExitUsage;
  }
  // A peer that vanishes must surface as a write error on that socket, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Likewise a file-size limit on the spool must fail that write (counted as a drop).
  std::signal(SIGXFSZ, SIG_IGN);

  sink::Sink sink(config.sink);
  // A spool that cannot be used would mean forwarding while capturing nothing: refuse to
  // start, as for a port already in use.
  if (base::Status usable = sink.start_status(); !usable) {
    print_error("sink.spool_dir " + sink.spool_dir() + ": " + usable.error().message);
    return kExitFailure;
  }
  sink.start();
  capture::Redactor redactor(config.redact);
  SinkStatus sink_status(sink);
  // The tail shows records as the sink's column table describes them.
  config.proxy.admin.tail_line = sink::tail_line;
  proxy::ProxyServer server(config.proxy, config.capture, redactor, sink, &sink_status);
  server.set_reload_source(
      [path = args.config_path, &config]() -> std::optional<proxy::ProxyOptions> {
        base::Result<Config> reloaded = load_config_file(path);
        if (!reloaded) {
          base::log_warn("reload: configuration rejected; the running one stays",
                         {{"error", reloaded.error().message}});
          return std::nullopt;
        }
        {
          Config& fresh = *reloaded;
          // Routes and their capture reload live; the rest is read once at start.
          if (fresh.sink.postgres_url != config.sink.postgres_url ||
              fresh.sink.spool_dir != config.sink.spool_dir ||
              fresh.admin.listen != config.admin.listen) {
            base::log_warn("reload: sink and admin settings take effect at the next start");
          }
          fresh.proxy.admin = config.proxy.admin;
          return fresh.proxy;
        }
      });
  if (base::Status started = server.start(); !started) {
    print_error(started.error().message);
    sink.stop(std::chrono::milliseconds(0));
    return kExitFailure;
  }
  server.run();
  // Connections are drained; what they captured goes on to PostgreSQL within its own
  // deadline. Whatever is left stays in the spool (the sink logs how much, and where).
  bool flushed = sink.stop(std::chrono::milliseconds(config.sink.shutdown_flush_timeout_ms));
  const sink::SinkStats& stats = sink.stats();
  base::log_info("stopped", {{"written_records", stats.written_records.load()},
                             {"dropped_records", stats.dropped_records.load()},
                             {"unflushed_records", stats.spool_records.load()},
                             {"flushed", flushed}});
  return kExitOk;
}

}  // namespace mcptap::cli

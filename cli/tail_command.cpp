// `mcptap tail`: captured messages, live from the admin API, one line each until interrupted.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "cli/admin_client.h"
#include "cli/client_commands.h"
#include "cli/table_format.h"
#include "cli/terminal_text.h"

namespace mcptap::cli {
namespace {

volatile std::sig_atomic_t interrupted = 0;

void note_interrupt(int) {
  interrupted = 1;
}

// SIGINT and SIGTERM end the tail cleanly (exit 0). No SA_RESTART, so a blocked wait returns
// at once and the stream loop notices; the previous handlers come back on destruction.
class InterruptHandlers {
 public:
  InterruptHandlers() {
    interrupted = 0;
    struct sigaction action {};
    action.sa_handler = &note_interrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~InterruptHandlers() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  InterruptHandlers(const InterruptHandlers&) = delete;
  InterruptHandlers& operator=(const InterruptHandlers&) = delete;

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

std::string tail_target(const TailArgs& args) {
  std::string query;
  if (!args.route.empty()) query += "route=" + percent_encode(args.route);
  if (!args.method.empty()) {
    query += (query.empty() ? "" : "&") + std::string("method=") + percent_encode(args.method);
  }
  return query.empty() ? "/tail" : "/tail?" + query;
}

// Prints one streamed line; a line that is not JSON is reported and skipped, since one bad
// line should not end a live view.
bool print_message_line(std::string_view line, bool as_json) {
  if (line.empty()) return true;
  if (as_json) {
    // The server's line, with the DEL and C1 controls JSON leaves raw escaped.
    std::string shown = printable_json(line);
    std::fwrite(shown.data(), 1, shown.size(), stdout);
    std::fputc('\n', stdout);
  } else {
    nlohmann::json message = nlohmann::json::parse(line, nullptr, false);
    if (message.is_object()) {
      std::puts(format_tail_line(message).c_str());
    } else {
      print_error("tail: skipped a line that is not a JSON object: " +
                  std::string(line.substr(0, 80)));
    }
  }
  std::fflush(stdout);  // a live view, often piped: every line goes out as it comes
  return true;
}

}  // namespace

void add_tail_options(CLI::App& sub, TailArgs& args) {
  sub.add_option("--route", args.route, "only this route");
  sub.add_option("--method", args.method, "only this method (requests and their responses)");
  sub.add_flag("--json", args.json, "print the admin API's NDJSON lines as they come");
  add_admin_options(sub, args.admin);
  sub.footer("Times are UTC. Runs until interrupted (exit 0) or the server ends the stream (1).");
}

int tail_command(const TailArgs& args) {
  return run_client_command("tail", [&] {
    AdminClient client = make_admin_client(args.admin);
    InterruptHandlers handlers;
    StreamOutcome outcome;
    try {
      outcome = client.stream_lines(
          tail_target(args),
          [&](std::string_view line) { return print_message_line(line, args.json); },
          [] { return interrupted != 0; });
    } catch (const AdminError&) {
      // An interrupt during the connect cuts its wait short; that is the user leaving.
      if (interrupted) return kExitOk;
      throw;
    }
    if (outcome.stopped) return kExitOk;
    if (outcome.status < 200 || outcome.status >= 300) {
      throw AdminError(client.describe_failure(outcome.status, outcome.error_body));
    }
    throw AdminError("admin API at " + client.address() + " ended the stream");
  });
}

}  // namespace mcptap::cli

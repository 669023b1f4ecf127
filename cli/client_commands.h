// The client subcommands (routes, capture, status, tail, query, diff): arguments and entry points.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"

namespace CLI {
class App;
}

namespace mcptap::sink {
class PgConnection;
}

namespace mcptap::cli {

// A failure a subcommand reports as one line and ends with this exit code
// (kExitFailure or kExitUsage).
class CommandError : public std::runtime_error {
 public:
  CommandError(const std::string& message, int exit_code)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Runs a subcommand's body and turns any exception into one line on stderr,
// "mcptap: <command>: <what>", and the matching exit code.
template <typename Body>
int run_client_command(std::string_view command, Body&& body) {
  try {
    return body();
  } catch (const CommandError& error) {
    print_error(std::string(command) + ": " + error.what());
    return error.exit_code();
  } catch (const std::exception& error) {
    print_error(std::string(command) + ": " + error.what());
    return kExitFailure;
  }
}

// Where the admin API is. --admin wins; else the config's admin.listen; else
// 127.0.0.1:9901. The bearer token comes from the env var named by the config's
// admin.token_env (default MCPTAP_ADMIN_TOKEN).
struct AdminArgs {
  std::string admin_address;  // --admin host:port
  std::string config_path;    // --config FILE
};
void add_admin_options(CLI::App& sub, AdminArgs& args);

// `mcptap routes`: the routes with their capture state and counters.
struct RoutesArgs {
  AdminArgs admin;
  bool json = false;  // print the admin API's JSON as received
};
void add_routes_options(CLI::App& sub, RoutesArgs& args);
int routes_command(const RoutesArgs& args);

// `mcptap capture on|off ROUTE`: switch capture of one route at runtime.
struct CaptureArgs {
  AdminArgs admin;
  std::string state;  // "on" or "off"
  std::string route;
  std::optional<double> sample;                     // --sample 0..1
  std::optional<std::vector<std::string>> methods;  // --methods a,b; "*" alone: all methods
};
void add_capture_options(CLI::App& sub, CaptureArgs& args);
int capture_command(const CaptureArgs& args);

// `mcptap status`: sink queue, spool, lag, drops, and the per-route table.
struct StatusArgs {
  AdminArgs admin;
  bool json = false;
};
void add_status_options(CLI::App& sub, StatusArgs& args);
int status_command(const StatusArgs& args);

// `mcptap tail`: captured messages, live, one line each. Exits 0 on SIGINT/SIGTERM and 1
// when the server ends the stream.
struct TailArgs {
  AdminArgs admin;
  std::string route;   // empty: every route
  std::string method;  // empty: every method
  bool json = false;   // pass the server's NDJSON lines through
};
void add_tail_options(CLI::App& sub, TailArgs& args);
int tail_command(const TailArgs& args);

// `mcptap query`: captured messages from PostgreSQL, as a timeline or as JSON lines.
struct QueryArgs {
  std::string pg_url;  // --pg, else env MCPTAP_PG_URL
  std::string route;
  std::string method;
  std::string correlation_id;
  std::string operation_id;
  std::string session_id;
  std::string since;  // "30s", "15m", "2h", "7d" (or combined: "1h30m")
  int64_t limit = 100;
  bool json = false;
  std::string trace_id;               // --trace: follow one tools/call across hops (cli/trace.h)
  int64_t trace_window_seconds = 10;  // --window
};
void add_query_options(CLI::App& sub, QueryArgs& args);
int query_command(const QueryArgs& args);

// `mcptap diff ID1 ID2`: structural diff of two captured payloads. Exits 0 whether or not
// they differ (it prints "identical" when they do not); 1 when a message is missing or has
// no JSON payload; 2 for a malformed id.
struct DiffArgs {
  std::string pg_url;
  std::string first_id;
  std::string second_id;
};
void add_diff_options(CLI::App& sub, DiffArgs& args);
int diff_command(const DiffArgs& args);

// ---- The query and diff commands' pieces, separate so tests can run them one by one. ----

// --pg, else env MCPTAP_PG_URL; a CommandError (exit 2) when neither is set.
std::string resolve_pg_url(const std::string& flag);
// A connected PgConnection; a CommandError (exit 1) saying why not, on one line.
sink::PgConnection connect_database(const std::string& url);

// Seconds in "30s", "15m", "2h", "7d", "1h30m"; nullopt for anything else or for zero.
std::optional<int64_t> parse_duration_seconds(std::string_view text);

// Whether text is a UUID in its canonical 8-4-4-4-12 hex form.
bool is_uuid_text(std::string_view text);

struct MessageFilter {
  std::string route;
  std::string method;
  std::string correlation_id;  // canonical UUID text
  // Canonical UUID text: the rows of one operation (operation_id), or for rows stored
  // without an operation id, of the exchange with this correlation id.
  std::string operation_id;
  std::string session_id;
  std::optional<int64_t> since_seconds;
  // The newest `limit` operations among the matching messages, shown oldest first. An
  // operation is every row sharing its key, COALESCE(operation_id, correlation_id): a
  // request with its answer and the notifications that refer to it, the retries of a
  // multi round-trip request, a task's polls; or a message that refers to nothing.
  int64_t limit = 100;
};

// SQL condition on a row of mcptap.messages: a tool failure (a response whose result has
// "isError": true), as recorded in meta.tool_error or, for rows stored without it, as the
// payload says.
inline constexpr const char* kToolErrorSql =
    "COALESCE(kind = 'response' AND (meta @> '{\"tool_error\": true}'"
    " OR payload->'result'->'isError' = 'true'::jsonb), false)";

// One row of mcptap.messages, typed for the timeline. Optional columns are nullopt when NULL.
struct MessageRow {
  std::string id;
  std::string captured_at;  // UTC, "2026-11-23T10:00:00.123456Z"
  std::string route;
  std::string connection_id;
  std::string session_id;
  std::string transport;
  std::string direction;
  std::string kind;
  std::optional<std::string> jsonrpc_id;  // JSON text: 1 and "1" differ
  std::optional<std::string> method;
  std::optional<std::string> correlation_id;
  std::optional<int64_t> latency_us;
  int64_t payload_bytes = 0;
  bool truncated = false;
  bool redacted = false;
  std::optional<std::string> error_summary;    // errors: "-32601 Method not found", with
                                               // meta.error_name: "-32020 HeaderMismatch ..."
  bool tool_error = false;                     // a response whose result.isError is true
  std::optional<std::string> tool_error_text;  // its first text content, when it has one
  // What the timeline shows of operations, read from the row (not the whole meta):
  std::optional<std::string> operation_id;
  int64_t captured_at_us = 0;                  // captured_at as Unix microseconds
  std::optional<std::string> operation;        // meta.operation as JSON text (final answers)
  std::optional<std::string> result_type;      // meta.result_type: complete, input_required...
  std::optional<std::string> operation_link;   // meta.operation_link: request_state, task...
  std::optional<std::string> http_status;      // meta.http.status, on error rows only
  std::optional<std::string> http_excerpt;     // the start of meta.http.body_excerpt
  std::optional<std::string> header_mismatch;  // JSON array of meta.header_mismatch[].header
  std::optional<std::string> input_keys;       // input_required answers: JSON array of the keys
  std::optional<std::string> name;             // a request's params.name or params.uri
  std::optional<std::string> task_id;  // a task's id: task answers, tasks/* requests, status
  // Every column as read back (sink/record_columns.h), in table order; payload and meta are
  // null unless fetched with_payloads.
  std::vector<std::optional<std::string>> columns;
};

// Runs the filtered SELECT (every value a parameter). Payloads and meta are fetched only
// when asked for, since a timeline does not show them. Throws CommandError.
std::vector<MessageRow> fetch_messages(sink::PgConnection& connection, const MessageFilter& filter,
                                       bool with_payloads);

// One JSON object per row, every column, in the table's column order.
std::string format_json_lines(const std::vector<MessageRow>& rows);

// The structural diff of two stored payloads, one change a line, or "identical\n"; first a
// line "tool error: the first message, not the second" (or "the second message, not the
// first", or "both messages") when a side is a tool failure.
// Throws CommandError when a message is missing or has no JSON payload.
std::string diff_stored_payloads(sink::PgConnection& connection, const std::string& first_id,
                                 const std::string& second_id);

}  // namespace mcptap::cli

// `mcptap query`: captured messages from PostgreSQL as a request/response timeline or JSON lines.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "cli/client_commands.h"
#include "cli/pg_url.h"
#include "cli/query_timeline.h"
#include "cli/terminal_text.h"
#include "cli/trace.h"
#include "sink/pg_connection.h"
#include "sink/record_columns.h"

namespace mcptap::cli {
namespace {

// The first text content of a tool failure's result, no longer than a timeline needs.
constexpr const char* kToolErrorTextSql =
    "(SELECT left(item->>'text', 240) FROM jsonb_array_elements(CASE WHEN"
    " jsonb_typeof(payload->'result'->'content') = 'array' THEN payload->'result'->'content'"
    " END) WITH ORDINALITY AS content(item, position)"
    " WHERE item->>'type' = 'text' ORDER BY position LIMIT 1)";

// The keys an input_required answer asks for (result.inputRequests), as a JSON array: the
// first 17, so that a line of 16 can say there are more.
constexpr const char* kInputKeysSql =
    "CASE WHEN meta->>'result_type' = 'input_required' THEN (SELECT jsonb_agg(left(key, 64))"
    " FROM (SELECT key FROM jsonb_object_keys(CASE WHEN jsonb_typeof(payload->'result'"
    "->'inputRequests') = 'object' THEN payload->'result'->'inputRequests' END) AS key"
    " LIMIT 17) AS keys)::text END";

// A task's id: in a task answer to tools/call (2026 flat, 2025 nested), in the answers and
// requests of tasks/* and in task status notifications. Other payloads are not read: a
// response can be large.
constexpr const char* kTaskIdSql =
    "left(CASE WHEN kind = 'response' AND (method = 'tools/call' OR method LIKE 'tasks/%')"
    " THEN COALESCE(payload->'result'->>'taskId', payload->'result'->'task'->>'taskId')"
    " WHEN (kind = 'request' AND method LIKE 'tasks/%') OR (kind = 'notification' AND"
    " method LIKE 'notifications/tasks%') THEN payload->'params'->>'taskId' END,"
    " 120)";

// What the timeline derives from a row, after the table's columns, in this order. The meta
// keys are read one by one: meta itself is large and the timeline does not show it.
enum DerivedColumn {
  kErrorSummary,   // an error's code, name (meta.error_name) and message
  kToolError,      // whether it is a tool failure
  kToolErrorText,  // that failure's text
  kOperationId,
  kCapturedAtUs,
  kOperationMeta,
  kResultType,
  kOperationLink,
  kHttpStatus,
  kHttpExcerpt,
  kHeaderMismatch,
  kInputKeys,
  kRequestName,
  kTaskId,
};

std::string derived_columns() {
  return std::string(
             ", CASE WHEN kind = 'error' THEN NULLIF(concat_ws(' ', payload->'error'->>'code',"
             " left(meta->>'error_name', 64), payload->'error'->>'message'), '') END, ") +
         kToolErrorSql + ", CASE WHEN " + kToolErrorSql + " THEN " + kToolErrorTextSql +
         " END, operation_id::text, (extract(epoch FROM captured_at) * 1000000)::bigint,"
         " (meta->'operation')::text, left(meta->>'result_type', 32),"
         " left(meta->>'operation_link', 32),"
         " CASE WHEN kind = 'error' THEN left(meta->'http'->>'status', 8) END,"
         " CASE WHEN kind = 'error' THEN left(meta->'http'->>'body_excerpt', 240) END,"
         " CASE WHEN meta ? 'header_mismatch' THEN"
         " jsonb_path_query_array(meta, 'lax $.header_mismatch[*].header')::text END, " +
         kInputKeysSql +
         ", CASE WHEN kind = 'request' AND method IN ('tools/call', 'prompts/get',"
         " 'resources/read') THEN left(COALESCE(payload->'params'->>'name',"
         " payload->'params'->>'uri'), 120) END, " +
         kTaskIdSql;
}

// Every column of the table (sink/record_columns.h), then the derived ones.
std::string row_columns(bool with_payloads) {
  return sink::record_select_list(with_payloads) + derived_columns();
}

std::optional<std::string> optional_text(const PGresult* result, int row, int column) {
  if (PQgetisnull(result, row, column)) return std::nullopt;
  return std::string(PQgetvalue(result, row, column));
}

MessageRow read_row(const PGresult* result, int row) {
  MessageRow message;
  message.columns = sink::read_column_texts(result, row);
  auto column = [&](std::string_view name) -> const std::optional<std::string>& {
    return message.columns[sink::column_index(name)];
  };
  auto text = [&](std::string_view name) { return column(name).value_or(""); };
  message.id = text("id");
  message.captured_at = text("captured_at");
  message.route = text("route");
  message.connection_id = text("connection_id");
  message.session_id = text("session_id");
  message.transport = text("transport");
  message.direction = text("direction");
  message.kind = text("kind");
  message.jsonrpc_id = column("jsonrpc_id");
  message.method = column("method");
  message.correlation_id = column("correlation_id");
  if (auto latency = column("latency_us")) message.latency_us = std::stoll(*latency);
  message.payload_bytes = std::stoll(text("payload_bytes"));
  message.truncated = text("truncated") == "t";
  message.redacted = text("redacted") == "t";
  auto derived = [&](DerivedColumn which) {
    return optional_text(result, row, static_cast<int>(sink::kRecordColumnCount) + which);
  };
  message.error_summary = derived(kErrorSummary);
  message.tool_error = derived(kToolError) == "t";
  message.tool_error_text = derived(kToolErrorText);
  message.operation_id = derived(kOperationId);
  message.captured_at_us = std::stoll(derived(kCapturedAtUs).value_or("0"));
  message.operation = derived(kOperationMeta);
  message.result_type = derived(kResultType);
  message.operation_link = derived(kOperationLink);
  message.http_status = derived(kHttpStatus);
  message.http_excerpt = derived(kHttpExcerpt);
  message.header_mismatch = derived(kHeaderMismatch);
  message.input_keys = derived(kInputKeys);
  message.name = derived(kRequestName);
  message.task_id = derived(kTaskId);
  return message;
}

// WHERE conditions with their parameters; every value travels as a parameter.
class Conditions {
 public:
  // Adds the clause `<before>$n<after>`, with value as parameter n, unless value is empty.
  void add(const std::string& value, const std::string& before, const std::string& after = "") {
    if (value.empty()) return;
    params_.push_back(value);
    clauses_.push_back(before + "$" + std::to_string(params_.size()) + after);
  }
  void add_clause(std::string clause) { clauses_.push_back(std::move(clause)); }
  std::string placeholder_for(const std::string& value) {
    params_.push_back(value);
    return "$" + std::to_string(params_.size());
  }
  // Every clause joined with AND; "true" when there is none.
  std::string all() const {
    std::string sql;
    for (const std::string& clause : clauses_) sql += (sql.empty() ? "" : " AND ") + clause;
    return sql.empty() ? "true" : sql;
  }
  const std::vector<std::string>& params() const { return params_; }

 private:
  std::vector<std::string> clauses_;
  std::vector<std::string> params_;
};

std::string select_sql(const MessageFilter& filter, bool with_payloads, Conditions& conditions) {
  conditions.add(filter.route, "route = ");
  // Responses and errors carry their request's method, so this keeps the pairs together.
  conditions.add(filter.method, "method = ");
  conditions.add(filter.correlation_id, "correlation_id = ", "::uuid");
  if (!filter.operation_id.empty()) {
    // Rows stored before operation ids existed are the exchange of their correlation id.
    std::string id = conditions.placeholder_for(filter.operation_id);
    conditions.add_clause("(operation_id = " + id + "::uuid OR (operation_id IS NULL AND" +
                          " correlation_id = " + id + "::uuid))");
  }
  conditions.add(filter.session_id, "session_id = ");
  if (filter.since_seconds) {
    conditions.add(std::to_string(*filter.since_seconds), "captured_at >= now() - ",
                   "::bigint * interval '1 second'");
  }
  const std::string matching = conditions.all();
  const std::string limit = conditions.placeholder_for(std::to_string(filter.limit));
  // The limit counts operations, so a timeline never starts with an answer whose request was
  // cut off, nor with the retry of a request. A row's operation is
  // COALESCE(operation_id, correlation_id): rows stored before operation ids existed are
  // the exchange of their correlation id, as a new request alone is. An operation starts at
  // its first matching row: a row with neither id, or one with no earlier matching row of
  // its operation (found through the operation_id and correlation_id indexes; the
  // COALESCE is spelled out so that they apply). The newest starts win, found newest first;
  // then every matching row of their operations, looked up start by start through the
  // same indexes (a condition on the whole table instead would read all its rows).
  // Unqualified names in `matching` refer to the innermost table: m, then e.
  return "WITH starts AS (SELECT m.id, COALESCE(m.operation_id, m.correlation_id) AS operation"
         " FROM mcptap.messages m WHERE " +
         matching +
         " AND (COALESCE(m.operation_id, m.correlation_id) IS NULL OR NOT EXISTS (SELECT 1"
         " FROM mcptap.messages e WHERE (e.operation_id = COALESCE(m.operation_id,"
         " m.correlation_id) OR (e.operation_id IS NULL AND e.correlation_id ="
         " COALESCE(m.operation_id, m.correlation_id)))"
         " AND (e.captured_at, e.id) < (m.captured_at, m.id) AND " +
         matching + "))" + " ORDER BY m.captured_at DESC, m.id DESC LIMIT " + limit +
         "::bigint) SELECT " + row_columns(with_payloads) + " FROM mcptap.messages WHERE " +
         matching +
         " AND id IN (SELECT r.id FROM starts s CROSS JOIN LATERAL (SELECT e.id"
         " FROM mcptap.messages e WHERE e.id = s.id OR e.operation_id = s.operation"
         " OR (e.operation_id IS NULL AND e.correlation_id = s.operation)) r)"
         " ORDER BY captured_at, id";
}

// libpq's messages span lines ("...failed: Connection refused\n\tIs the server running...");
// errors here are one line.
std::string joined_lines(const std::string& message) {
  std::string line;
  for (char c : message) {
    bool blank = c == '\n' || c == '\t' || c == '\r' || c == ' ';
    if (blank && (line.empty() || line.back() == ' ')) continue;
    line += blank ? ' ' : c;
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

// A statement's error: its first line; the rest quotes the SQL back.
std::string first_line(const std::string& message) {
  return joined_lines(message.substr(0, message.find('\n')));
}

MessageFilter filter_from(const QueryArgs& args) {
  MessageFilter filter;
  filter.route = args.route;
  filter.method = args.method;
  filter.session_id = args.session_id;
  if (!args.correlation_id.empty() && !is_uuid_text(args.correlation_id)) {
    throw CommandError("--correlation: expected a UUID, got \"" + args.correlation_id + "\"",
                       kExitUsage);
  }
  filter.correlation_id = args.correlation_id;
  if (!args.operation_id.empty() && !is_uuid_text(args.operation_id)) {
    throw CommandError("--operation: expected a UUID, got \"" + args.operation_id + "\"",
                       kExitUsage);
  }
  filter.operation_id = args.operation_id;
  if (!args.since.empty()) {
    filter.since_seconds = parse_duration_seconds(args.since);
    if (!filter.since_seconds) {
      throw CommandError(
          "--since: expected a duration like 30s, 15m, 2h or 7d, got \"" + args.since + "\"",
          kExitUsage);
    }
  }
  if (args.limit < 1) throw CommandError("--limit: expected at least 1", kExitUsage);
  filter.limit = args.limit;
  return filter;
}

}  // namespace

std::optional<int64_t> parse_duration_seconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t position = 0;
  while (position < text.size()) {
    size_t digits_end = position;
    while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9') {
      ++digits_end;
    }
    // Nine digits of days is already past any retention; more would risk overflow.
    if (digits_end == position || digits_end - position > 9 || digits_end == text.size()) {
      return std::nullopt;
    }
    int64_t amount = std::stoll(std::string(text.substr(position, digits_end - position)));
    switch (text[digits_end]) {
      case 's':
        total += amount;
        break;
      case 'm':
        total += amount * 60;
        break;
      case 'h':
        total += amount * 3600;
        break;
      case 'd':
        total += amount * 86400;
        break;
      default:
        return std::nullopt;
    }
    position = digits_end + 1;
  }
  if (total == 0) return std::nullopt;
  return total;
}

bool is_uuid_text(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (dash_position ? c != '-' : !hex) return false;
  }
  return true;
}

std::string resolve_pg_url(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("MCPTAP_PG_URL"); env && *env) return env;
  throw CommandError("no database: pass --pg URL or set MCPTAP_PG_URL", kExitUsage);
}

sink::PgConnection connect_database(const std::string& url) {
  sink::PgConnection connection(url);
  if (!connection.ok()) {
    throw CommandError("cannot connect to PostgreSQL: " + joined_lines(connection.error()),
                       kExitFailure);
  }
  return connection;
}

std::vector<MessageRow> fetch_messages(sink::PgConnection& connection, const MessageFilter& filter,
                                       bool with_payloads) {
  Conditions conditions;
  std::string sql = select_sql(filter, with_payloads, conditions);
  auto result = connection.run(sql, conditions.params(), sink::ErrorText::Full);
  if (!result)
    throw CommandError("query failed: " + first_line(result.error().message), kExitFailure);
  std::vector<MessageRow> rows;
  int count = PQntuples(result->get());
  rows.reserve(static_cast<size_t>(count));
  for (int row = 0; row < count; ++row) rows.push_back(read_row(result->get(), row));
  return rows;
}

std::string format_json_lines(const std::vector<MessageRow>& rows) {
  std::string text;
  for (const MessageRow& row : rows) {
    text += sink::record_json(row.columns)
                .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    text += '\n';
  }
  return text;
}

void add_query_options(CLI::App& sub, QueryArgs& args) {
  sub.add_option("--pg", args.pg_url, "PostgreSQL URL (default: env MCPTAP_PG_URL)");
  sub.add_option("--route", args.route, "only this route");
  sub.add_option("--method", args.method, "only this method (requests and their responses)");
  sub.add_option("--correlation", args.correlation_id,
                 "only this correlation id (a request, its reply, its notifications)");
  sub.add_option("--operation", args.operation_id,
                 "only this operation id: its requests (retries, a task's polls), their "
                 "answers and notifications");
  sub.add_option("--session", args.session_id, "only this session id");
  sub.add_option("--since", args.since, "only the last DURATION: 30s, 15m, 2h, 7d");
  sub.add_option("--limit", args.limit,
                 "the newest N operations: a request with its answer and notifications (and "
                 "its retries or a task's polls), or a lone message (default 100)")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000}));
  sub.add_flag("--json", args.json, "one JSON object per message, every column");
  sub.add_option("--trace", args.trace_id,
                 "follow this tools/call (or its answer) to the same call on other routes");
  sub.add_option("--window", args.trace_window_seconds,
                 "with --trace: seconds either side to look for the call (default 10)")
      ->check(CLI::Range(int64_t{1}, int64_t{86400}));
  sub.footer(
      "Times are UTC. A request's progress and cancel notifications, then its response or "
      "error, are shown right under it. A tool failure (result.isError) reads \"tool error\". "
      "An operation of several requests (multi round-trip retries, a task's polls) is shown "
      "under one line with its round trips, total time and the input asked.");
}

int query_command(const QueryArgs& args) {
  if (int status = check_pg_url_option("query", args.pg_url); status != kExitOk) return status;
  if (!args.trace_id.empty()) {
    return trace_command(
        TraceArgs{args.pg_url, args.trace_id, args.trace_window_seconds, args.json});
  }
  return run_client_command("query", [&] {
    MessageFilter filter = filter_from(args);
    sink::PgConnection connection = connect_database(resolve_pg_url(args.pg_url));
    std::vector<MessageRow> rows = fetch_messages(connection, filter, args.json);
    // The timeline's cells are written out by TextTable; JSON escapes what it leaves raw.
    std::string output =
        args.json ? printable_json(format_json_lines(rows)) : format_timeline(rows);
    std::fputs(output.c_str(), stdout);
    return kExitOk;
  });
}

}  // namespace mcptap::cli

// `mcptap query`: captured messages from PostgreSQL as a request/response timeline or JSON lines.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>

#include "cli/client_commands.h"
#include "cli/pg_url.h"
#include "cli/table_format.h"
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

// Every column of the table (sink/record_columns.h), then what the timeline derives from
// a row: an error's code and message, whether it is a tool failure, and that failure's text.
std::string row_columns(bool with_payloads) {
  return sink::record_select_list(with_payloads) +
         ", CASE WHEN kind = 'error' THEN NULLIF(concat_ws(' ', payload->'error'->>'code',"
         " payload->'error'->>'message'), '') END, " +
         kToolErrorSql + ", CASE WHEN " + kToolErrorSql + " THEN " + kToolErrorTextSql + " END";
}

// Error messages can be long; a timeline line should stay readable.
constexpr size_t kMaxErrorSummaryChars = 200;
// A tool failure's text is the tool's own prose, often long: its start says enough.
constexpr size_t kMaxToolErrorChars = 60;

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
  const int derived = static_cast<int>(sink::kRecordColumnCount);
  message.error_summary = optional_text(result, row, derived);
  message.tool_error = optional_text(result, row, derived + 1) == "t";
  message.tool_error_text = optional_text(result, row, derived + 2);
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
  conditions.add(filter.session_id, "session_id = ");
  if (filter.since_seconds) {
    conditions.add(std::to_string(*filter.since_seconds), "captured_at >= now() - ",
                   "::bigint * interval '1 second'");
  }
  const std::string matching = conditions.all();
  const std::string limit = conditions.placeholder_for(std::to_string(filter.limit));
  // The limit counts exchanges, so a timeline never starts with an answer whose request was
  // cut off. An exchange starts at its first matching row: a row with no correlation id, or
  // one with no earlier matching row of its correlation id (found through its index). The
  // newest starts win, found newest first; then every matching row of their exchanges.
  // Unqualified names in `matching` refer to the innermost table: m, then e.
  return "WITH starts AS (SELECT m.id, m.correlation_id FROM mcptap.messages m WHERE " + matching +
         " AND (m.correlation_id IS NULL OR NOT EXISTS (SELECT 1 FROM mcptap.messages e"
         " WHERE e.correlation_id = m.correlation_id"
         " AND (e.captured_at, e.id) < (m.captured_at, m.id) AND " +
         matching + "))" + " ORDER BY m.captured_at DESC, m.id DESC LIMIT " + limit +
         "::bigint) SELECT " + row_columns(with_payloads) + " FROM mcptap.messages WHERE " +
         matching +
         " AND (id IN (SELECT id FROM starts)"
         " OR correlation_id IN (SELECT correlation_id FROM starts))"
         " ORDER BY captured_at, id";
}

bool is_reply(const MessageRow& row) {
  return row.kind == "response" || row.kind == "error";
}

// For each request's row index, the rows printed under it: the notifications that refer to
// it (progress, cancelled), then its answer, each group in time order; and which rows are
// printed that way.
struct Pairing {
  std::map<size_t, std::vector<size_t>> under_request;
  std::vector<bool> shown_under_request;
};

Pairing pair_with_requests(const std::vector<MessageRow>& rows) {
  std::map<std::string, size_t> request_by_correlation;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].kind == "request" && rows[i].correlation_id) {
      request_by_correlation.emplace(*rows[i].correlation_id, i);
    }
  }
  Pairing pairing;
  pairing.shown_under_request.assign(rows.size(), false);
  // Two passes over the rows, in time order: the notifications, then the answers.
  for (bool answers : {false, true}) {
    for (size_t i = 0; i < rows.size(); ++i) {
      const MessageRow& row = rows[i];
      if (is_reply(row) != answers || !row.correlation_id) continue;
      if (!answers && row.kind != "notification") continue;
      auto request = request_by_correlation.find(*row.correlation_id);
      if (request == request_by_correlation.end()) continue;
      pairing.under_request[request->second].push_back(i);
      pairing.shown_under_request[i] = true;
    }
  }
  return pairing;
}

// At most max_chars characters of UTF-8 text, "..." marking a cut.
std::string cut_text(const std::string& text, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars++ == max_chars) return text.substr(0, i) + "...";
  }
  return text;
}

// A tool's text on one line: its line breaks and tabs read as spaces.
std::string one_line(std::string_view text) {
  std::string line;
  for (char c : text) {
    bool blank = c == '\n' || c == '\r' || c == '\t';
    if (blank && !line.empty() && line.back() == ' ') continue;
    line += blank ? ' ' : c;
  }
  return line;
}

std::string detail_of(const MessageRow& row) {
  std::string detail;
  if (row.error_summary) {
    // Cut between characters: half of one would show as escaped bytes.
    detail = "error: " + cut_text(*row.error_summary, kMaxErrorSummaryChars);
  } else if (row.tool_error) {
    // A failed tool call is a successful JSON-RPC response: only its result says so.
    detail = "tool error";
    if (row.tool_error_text && !row.tool_error_text->empty()) {
      detail += ": " + cut_text(one_line(*row.tool_error_text), kMaxToolErrorChars);
    }
  }
  if (row.truncated) detail += std::string(detail.empty() ? "" : "  ") + "[truncated]";
  return detail;
}

void add_timeline_row(TextTable& table, const MessageRow& row, bool under_request) {
  std::string time =
      under_request ? "  ↳ " + time_of_day(row.captured_at) : date_and_time(row.captured_at);
  std::string latency =
      is_reply(row) && row.latency_us ? format_latency(*row.latency_us) : std::string();
  table.add_row({time, row.route, direction_arrow(row.direction), row.kind,
                 row.method.value_or("-"), row.jsonrpc_id ? "id=" + *row.jsonrpc_id : "", latency,
                 detail_of(row)});
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

std::string format_timeline(const std::vector<MessageRow>& rows) {
  if (rows.empty()) return "no messages match\n";
  Pairing pairing = pair_with_requests(rows);
  TextTable table({{"TIME"},
                   {"ROUTE"},
                   {"DIR"},
                   {"KIND"},
                   {"METHOD"},
                   {"ID"},
                   {"LATENCY", TextTable::Align::Right},
                   {"DETAIL"}},
                  false);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (pairing.shown_under_request[i]) continue;
    add_timeline_row(table, rows[i], false);
    auto under = pairing.under_request.find(i);
    if (under == pairing.under_request.end()) continue;
    for (size_t child : under->second) add_timeline_row(table, rows[child], true);
  }
  return table.render();
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
  sub.add_option("--session", args.session_id, "only this session id");
  sub.add_option("--since", args.since, "only the last DURATION: 30s, 15m, 2h, 7d");
  sub.add_option("--limit", args.limit,
                 "the newest N exchanges: a request with its answer and notifications, or a "
                 "lone message (default 100)")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000}));
  sub.add_flag("--json", args.json, "one JSON object per message, every column");
  sub.add_option("--trace", args.trace_id,
                 "follow this tools/call (or its answer) to the same call on other routes");
  sub.add_option("--window", args.trace_window_seconds,
                 "with --trace: seconds either side to look for the call (default 10)")
      ->check(CLI::Range(int64_t{1}, int64_t{86400}));
  sub.footer(
      "Times are UTC. A request's progress and cancel notifications, then its response or "
      "error, are shown right under it. A tool failure (result.isError) reads \"tool error\".");
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

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

// Error messages can be long; a timeline line should stay readable.
constexpr size_t kMaxErrorSummaryChars = 200;
// A tool failure's text is the tool's own prose, often long: its start says enough.
constexpr size_t kMaxToolErrorChars = 60;
// An HTTP error page (HTML, mostly): its start names the fault.
constexpr size_t kMaxHttpExcerptChars = 60;
// A tool name, an input key, a header name: wire strings, kept short on a line.
constexpr size_t kMaxNameChars = 60;
// The inputs an operation's header names; more read as "…".
constexpr size_t kMaxAskedInputs = 8;

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

bool is_reply(const MessageRow& row) {
  return row.kind == "response" || row.kind == "error";
}

// The operation a row belongs to: its operation id, or, for a row stored without one, the
// exchange of its correlation id.
const std::optional<std::string>& operation_key(const MessageRow& row) {
  return row.operation_id ? row.operation_id : row.correlation_id;
}

// The rows of each operation that has several requests among the rows (the retries of a
// multi round-trip request, a task's polls), by operation key, in time order. An operation
// of one request prints as an exchange.
std::map<std::string, std::vector<size_t>> operations_of_several_requests(
    const std::vector<MessageRow>& rows) {
  std::map<std::string, std::vector<size_t>> operations;
  std::map<std::string, int> requests;
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::optional<std::string>& key = operation_key(rows[i]);
    if (!key) continue;
    operations[*key].push_back(i);
    if (rows[i].kind == "request") ++requests[*key];
  }
  for (auto it = operations.begin(); it != operations.end();) {
    it = requests[it->first] >= 2 ? std::next(it) : operations.erase(it);
  }
  return operations;
}

// For each request's row index, the rows printed under it: the notifications that refer to
// it (progress, cancelled), then its answer, each group in time order; and which rows are
// printed that way.
struct Pairing {
  std::map<size_t, std::vector<size_t>> under_request;
  std::vector<bool> shown_under_request;
};

// A row refers to the request of its correlation id. A row with none, of an operation of
// one request, refers to that request (a subscription's notifications, say): the request
// started the operation, so its correlation id is the operation id.
Pairing pair_with_requests(const std::vector<MessageRow>& rows,
                           const std::map<std::string, std::vector<size_t>>& several) {
  std::map<std::string, size_t> request_by_correlation;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].kind == "request" && rows[i].correlation_id) {
      request_by_correlation.emplace(*rows[i].correlation_id, i);
    }
  }
  auto request_of = [&](const MessageRow& row) {
    if (row.correlation_id) return request_by_correlation.find(*row.correlation_id);
    if (row.operation_id && several.count(*row.operation_id) == 0) {
      return request_by_correlation.find(*row.operation_id);
    }
    return request_by_correlation.end();
  };
  Pairing pairing;
  pairing.shown_under_request.assign(rows.size(), false);
  // Two passes over the rows, in time order: the notifications, then the answers.
  for (bool answers : {false, true}) {
    for (size_t i = 0; i < rows.size(); ++i) {
      const MessageRow& row = rows[i];
      if (is_reply(row) != answers) continue;
      if (!answers && row.kind != "notification") continue;
      auto request = request_of(row);
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

// The strings of a JSON array read back from a derived column, joined with ", "; "…" after
// the first max_items.
std::string joined_strings(const std::optional<std::string>& json_text, size_t max_items = 16) {
  if (!json_text) return "";
  nlohmann::json array = nlohmann::json::parse(*json_text, nullptr, false);
  std::string joined;
  if (!array.is_array()) return joined;
  size_t items = 0;
  for (const nlohmann::json& item : array) {
    if (!item.is_string()) continue;
    if (items++ == max_items) return joined + ", …";
    joined += (joined.empty() ? "" : ", ") + cut_text(item.get<std::string>(), kMaxNameChars);
  }
  return joined;
}

// What a row's operation meta says about it, as the last words of its line.
std::vector<std::string> operation_details(const MessageRow& row) {
  std::vector<std::string> parts;
  if (row.operation_link) {
    const std::string& link = *row.operation_link;
    if (link == "request_state" || link == "heuristic") {
      parts.push_back("retry (" + link + ")");
    } else if (link == "task" && row.task_id) {
      parts.push_back("task " + short_id(*row.task_id));
    } else {
      parts.push_back(cut_text(link, kMaxNameChars));
    }
  }
  if (row.result_type == "input_required") {
    std::string keys = joined_strings(row.input_keys);
    parts.push_back(keys.empty() ? "input required" : "input required: " + keys);
  } else if (row.result_type == "task") {
    parts.push_back(row.task_id ? "task " + short_id(*row.task_id) : "task");
  } else if (row.result_type == "complete" && row.operation) {
    // Only the final answer of an operation of several requests says so: a plain answer
    // is complete anyway.
    parts.push_back("complete");
  }
  std::string headers = joined_strings(row.header_mismatch);
  if (!headers.empty()) parts.push_back("header mismatch: " + headers);
  return parts;
}

std::string detail_of(const MessageRow& row) {
  std::vector<std::string> parts;
  if (row.error_summary) {
    // Cut between characters: half of one would show as escaped bytes.
    parts.push_back("error: " + cut_text(*row.error_summary, kMaxErrorSummaryChars));
  } else if (row.http_status) {
    // An HTTP error answer whose body is no JSON-RPC error: a 401 from an auth layer, a
    // gateway's 502 page. Its start says what it is.
    std::string http = "HTTP " + *row.http_status;
    if (row.http_excerpt && !row.http_excerpt->empty()) {
      http += ": " + cut_text(one_line(*row.http_excerpt), kMaxHttpExcerptChars);
    }
    parts.push_back(http);
  } else if (row.tool_error) {
    // A failed tool call is a successful JSON-RPC response: only its result says so.
    std::string detail = "tool error";
    if (row.tool_error_text && !row.tool_error_text->empty()) {
      detail += ": " + cut_text(one_line(*row.tool_error_text), kMaxToolErrorChars);
    }
    parts.push_back(detail);
  }
  for (std::string& part : operation_details(row)) parts.push_back(std::move(part));
  if (row.truncated) parts.push_back("[truncated]");
  std::string detail;
  for (const std::string& part : parts) detail += (detail.empty() ? "" : "  ") + part;
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

// The inputs of meta.operation ({"inputs": [{"key", "method"}], "inputs_truncated"}).
void read_inputs(const nlohmann::json& operation, OperationHeader& header) {
  auto inputs = operation.find("inputs");
  if (inputs == operation.end() || !inputs->is_array()) return;
  header.inputs.clear();
  header.inputs_truncated = false;
  for (const nlohmann::json& input : *inputs) {
    if (!input.is_object() || !input.contains("key") || !input["key"].is_string()) continue;
    std::string method = input.value("method", nlohmann::json()).is_string()
                             ? input["method"].get<std::string>()
                             : std::string();
    if (header.inputs.size() == kMaxAskedInputs) {
      header.inputs_truncated = true;
      return;
    }
    header.inputs.push_back({cut_text(input["key"].get<std::string>(), kMaxNameChars),
                             cut_text(method, kMaxNameChars)});
  }
  auto truncated = operation.find("inputs_truncated");
  header.inputs_truncated = truncated != operation.end() && *truncated == true;
}

// The header of an operation of several requests, from its rows: meta.operation of its
// final answer when it has one, else what the rows themselves show (an operation still
// running, or one whose final answer the filters left out).
void add_operation_header(TextTable& table, const std::vector<MessageRow>& rows,
                          const std::vector<size_t>& members) {
  const MessageRow& first = rows[members.front()];
  const MessageRow* request = nullptr;
  OperationHeader header;
  std::optional<int64_t> elapsed_us;
  for (size_t i : members) {
    const MessageRow& row = rows[i];
    if (row.kind == "request") {
      if (!request) request = &row;
      ++header.round_trips;
      if (header.name.empty() && row.name) header.name = cut_text(*row.name, kMaxNameChars);
    }
    if (header.task_id.empty() && row.task_id) header.task_id = *row.task_id;
    if (row.input_keys) {
      nlohmann::json keys = nlohmann::json::parse(*row.input_keys, nullptr, false);
      for (const nlohmann::json& key : keys.is_array() ? keys : nlohmann::json::array()) {
        if (!key.is_string()) continue;
        std::string text = cut_text(key.get<std::string>(), kMaxNameChars);
        bool seen = false;
        for (const auto& input : header.inputs) seen = seen || input.key == text;
        if (seen) continue;
        if (header.inputs.size() == kMaxAskedInputs) {
          header.inputs_truncated = true;
        } else {
          header.inputs.push_back({text, ""});
        }
      }
    }
  }
  for (size_t i : members) {
    if (!rows[i].operation) continue;
    nlohmann::json operation = nlohmann::json::parse(*rows[i].operation, nullptr, false);
    if (!operation.is_object()) continue;
    if (auto trips = operation.find("round_trips");
        trips != operation.end() && trips->is_number_integer()) {
      header.round_trips = std::max(header.round_trips, trips->get<int64_t>());
    }
    if (auto elapsed = operation.find("elapsed_us");
        elapsed != operation.end() && elapsed->is_number_integer()) {
      elapsed_us = elapsed->get<int64_t>();
    }
    read_inputs(operation, header);
  }
  if (!elapsed_us) elapsed_us = rows[members.back()].captured_at_us - first.captured_at_us;
  const MessageRow& shown = request ? *request : first;
  table.add_row({date_and_time(first.captured_at), shown.route, "", "operation",
                 shown.method.value_or("-"), "", format_elapsed(*elapsed_us),
                 format_operation_detail(header)});
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

std::string format_timeline(const std::vector<MessageRow>& rows) {
  if (rows.empty()) return "no messages match\n";
  std::map<std::string, std::vector<size_t>> several = operations_of_several_requests(rows);
  Pairing pairing = pair_with_requests(rows, several);
  TextTable table({{"TIME"},
                   {"ROUTE"},
                   {"DIR"},
                   {"KIND"},
                   {"METHOD"},
                   {"ID"},
                   {"LATENCY", TextTable::Align::Right},
                   {"DETAIL"}},
                  false);
  // A row and what is printed under it: its notifications and answer, if it is a request.
  auto add_with_replies = [&](size_t i, bool in_operation) {
    add_timeline_row(table, rows[i], in_operation);
    auto under = pairing.under_request.find(i);
    if (under == pairing.under_request.end()) return;
    for (size_t child : under->second) add_timeline_row(table, rows[child], true);
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::optional<std::string>& key = operation_key(rows[i]);
    auto operation = key ? several.find(*key) : several.end();
    if (operation != several.end()) {
      // The operation prints whole at its first row: a header, then its rows under it.
      if (operation->second.front() != i) continue;
      add_operation_header(table, rows, operation->second);
      for (size_t member : operation->second) {
        if (!pairing.shown_under_request[member]) add_with_replies(member, true);
      }
      continue;
    }
    if (pairing.shown_under_request[i]) continue;
    add_with_replies(i, false);
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

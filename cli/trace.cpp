// Cross-hop view of one tool call: the same tool and arguments seen on other routes nearby.
#include "cli/trace.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "base/json_text.h"
#include "cli/commands.h"
#include "cli/json_diff.h"
#include "cli/terminal_text.h"
#include "sink/pg_connection.h"
#include "sink/record_columns.h"

namespace mcptap::cli {
namespace {

// Every column (sink/record_columns.h), then captured_at as the server prints it (shown, and
// sent back as a timestamptz parameter) and as seconds, for offsets between hops.
const std::string& select_columns() {
  static const std::string sql = "SELECT " + sink::record_select_list() +
                                 ", captured_at::text, extract(epoch FROM captured_at)::float8"
                                 " FROM mcptap.messages ";
  return sql;
}

class TraceError : public std::runtime_error {
 public:
  TraceError(const std::string& message, int code) : std::runtime_error(message), exit_code(code) {}
  int exit_code;
};

TraceMessage read_message(const PGresult* result, int row) {
  sink::ColumnTexts columns = sink::read_column_texts(result, row);
  auto column = [&](std::string_view name) -> const std::optional<std::string>& {
    return columns[sink::column_index(name)];
  };
  auto text = [&](std::string_view name) { return column(name).value_or(""); };
  const int derived = static_cast<int>(sink::kRecordColumnCount);
  TraceMessage message;
  message.id = text("id");
  message.captured_at = PQgetvalue(result, row, derived);
  message.epoch_seconds = std::strtod(PQgetvalue(result, row, derived + 1), nullptr);
  message.route = text("route");
  message.transport = text("transport");
  message.kind = text("kind");
  message.method = text("method");
  message.correlation_id = column("correlation_id");
  if (auto latency = column("latency_us"))
    message.latency_us = std::strtoll(latency->c_str(), nullptr, 10);
  if (auto payload = column("payload"))
    message.payload = nlohmann::json::parse(*payload, nullptr, false);
  return message;
}

std::vector<TraceMessage> fetch(sink::PgConnection& db, const std::string& where,
                                const std::vector<std::string>& params) {
  auto result = db.run(select_columns() + where, params, sink::ErrorText::Full);
  if (!result) throw TraceError("query failed: " + result.error().message, kExitFailure);
  std::vector<TraceMessage> rows;
  for (int row = 0; row < PQntuples(result->get()); ++row) {
    rows.push_back(read_message(result->get(), row));
  }
  return rows;
}

std::optional<TraceMessage> reply_to(sink::PgConnection& db, const TraceMessage& request) {
  if (!request.correlation_id) return std::nullopt;
  auto rows = fetch(
      db, "WHERE correlation_id = $1::uuid AND kind IN ('response', 'error') ORDER BY id LIMIT 1",
      {*request.correlation_id});
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

// The traced message may be the call itself or its answer: either way the trace starts at
// the request.
TraceMessage find_request(sink::PgConnection& db, const std::string& id) {
  auto rows = fetch(db, "WHERE id = $1::uuid", {id});
  if (rows.empty()) throw TraceError("no message " + id, kExitFailure);
  TraceMessage message = rows.front();
  if (message.kind != "request" && message.correlation_id) {
    auto requests =
        fetch(db, "WHERE correlation_id = $1::uuid AND kind = 'request' ORDER BY id LIMIT 1",
              {*message.correlation_id});
    if (!requests.empty()) message = requests.front();
  }
  if (message.kind != "request" || message.method != "tools/call") {
    throw TraceError("message " + id + " is not a tools/call request or its answer", kExitFailure);
  }
  return message;
}

// Same params.name and params.arguments (jsonb equality: key order does not matter), on
// another route, within the window either side; nearest in time first.
std::vector<TraceMessage> find_matching_calls(sink::PgConnection& db, const TraceMessage& origin,
                                              int64_t window_seconds) {
  const nlohmann::json& params = origin.payload.is_object()
                                     ? origin.payload.value("params", nlohmann::json())
                                     : nlohmann::json();
  if (!params.is_object() || !params.contains("name")) return {};
  nlohmann::json arguments = params.value("arguments", nlohmann::json::object());
  return fetch(db,
               "WHERE kind = 'request' AND method = 'tools/call' AND route <> $1"
               " AND captured_at BETWEEN $2::timestamptz - make_interval(secs => $3::int)"
               "                     AND $2::timestamptz + make_interval(secs => $3::int)"
               " AND payload->'params'->'name' = $4::jsonb"
               " AND coalesce(payload->'params'->'arguments', '{}'::jsonb) = $5::jsonb"
               " ORDER BY abs(extract(epoch FROM captured_at - $2::timestamptz)), id LIMIT 20",
               {origin.route, origin.captured_at, std::to_string(window_seconds),
                base::json_text(params["name"]), base::json_text(arguments)});
}

// A failed tool call is a successful JSON-RPC response: only result.isError says so.
bool is_tool_error(const nlohmann::json& payload) {
  if (!payload.is_object()) return false;
  auto result = payload.find("result");
  if (result == payload.end() || !result->is_object()) return false;
  auto is_error = result->find("isError");
  return is_error != result->end() && is_error->is_boolean() && is_error->get<bool>();
}

std::string describe(const TraceMessage& message) {
  std::string line = message.kind + " " + message.id + "  route " + message.route + " (" +
                     message.transport + ")  " + message.captured_at;
  if (message.latency_us) line += "  latency " + std::to_string(*message.latency_us / 1000) + " ms";
  if (message.kind == "response" && is_tool_error(message.payload)) line += "  tool error";
  return line;
}

// Every line of the human view goes out through here: routes, tool names, JSON keys and
// values are captured data, and none of their controls may reach the terminal raw.
void print_line(std::ostringstream& out, const std::string& line) {
  out << printable(line) << "\n";
}

void print_payload(std::ostringstream& out, const nlohmann::json& payload,
                   const std::string& indent) {
  out << indent << printable_json(base::json_text(payload)) << "\n";
}

void print_call(std::ostringstream& out, const TraceCall& call, const std::string& indent) {
  print_line(out, indent + describe(call.request));
  print_payload(out, call.request.payload, indent + "  ");
  if (call.reply) {
    print_line(out, indent + describe(*call.reply));
    print_payload(out, call.reply->payload, indent + "  ");
  } else {
    print_line(out, indent + "(no answer captured)");
  }
}

// One change a line; a key holding a line break stays on its change's line.
void print_diff(std::ostringstream& out, const std::vector<JsonChange>& changes,
                const std::string& indent) {
  if (changes.empty()) print_line(out, indent + "identical");
  for (const JsonChange& change : changes) print_line(out, indent + format_change(change));
}

// The columns a trace shows, named as in the table; keys in the order trace --json has
// always printed them.
nlohmann::ordered_json message_json(const TraceMessage& message) {
  nlohmann::ordered_json out = {{"id", message.id},          {"captured_at", message.captured_at},
                                {"route", message.route},    {"transport", message.transport},
                                {"kind", message.kind},      {"method", message.method},
                                {"payload", message.payload}};
  out["correlation_id"] =
      message.correlation_id ? nlohmann::ordered_json(*message.correlation_id) : nullptr;
  out["latency_us"] = message.latency_us ? nlohmann::ordered_json(*message.latency_us) : nullptr;
  return out;
}

nlohmann::ordered_json changes_json(const std::vector<JsonChange>& changes) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const JsonChange& change : changes) out.push_back(format_change(change));
  return out;
}

}  // namespace

std::string format_trace(const Trace& trace) {
  std::ostringstream out;
  const TraceCall& origin = trace.origin;
  std::string tool = origin.request.payload.is_object()
                         ? origin.request.payload["params"].value("name", std::string("?"))
                         : "?";
  print_line(out, "tools/call \"" + tool + "\" traced from route " + origin.request.route);
  print_call(out, origin, "  ");
  if (trace.matches.empty()) {
    out << "\nno call with the same tool and arguments on another route within "
        << trace.window_seconds << " s\n";
  }
  for (const TraceCall& match : trace.matches) {
    char offset[32];
    std::snprintf(offset, sizeof(offset), "%+.3f s",
                  match.request.epoch_seconds - origin.request.epoch_seconds);
    out << "\n";
    print_line(out, "same call on route " + match.request.route + " (" + match.request.transport +
                        "), " + offset);
    print_call(out, match, "  ");
    print_line(out, "  request: " + origin.request.route + " -> " + match.request.route);
    print_diff(out, diff_json(origin.request.payload, match.request.payload), "    ");
    if (origin.reply && match.reply) {
      print_line(out, "  answer: " + origin.request.route + " -> " + match.request.route);
      print_diff(out, diff_json(origin.reply->payload, match.reply->payload), "    ");
    }
  }
  return out.str();
}

nlohmann::ordered_json trace_as_json(const Trace& trace) {
  auto call_json = [](const TraceCall& call) {
    nlohmann::ordered_json out = {{"request", message_json(call.request)}};
    out["reply"] = call.reply ? message_json(*call.reply) : nlohmann::ordered_json(nullptr);
    return out;
  };
  nlohmann::ordered_json out = {{"origin", call_json(trace.origin)},
                                {"window_seconds", trace.window_seconds}};
  nlohmann::ordered_json matches = nlohmann::ordered_json::array();
  for (const TraceCall& match : trace.matches) {
    nlohmann::ordered_json entry = call_json(match);
    entry["offset_seconds"] = match.request.epoch_seconds - trace.origin.request.epoch_seconds;
    entry["request_diff"] =
        changes_json(diff_json(trace.origin.request.payload, match.request.payload));
    if (trace.origin.reply && match.reply) {
      entry["reply_diff"] =
          changes_json(diff_json(trace.origin.reply->payload, match.reply->payload));
    }
    matches.push_back(std::move(entry));
  }
  out["matches"] = std::move(matches);
  return out;
}

int trace_command(const TraceArgs& args) {
  try {
    if (args.message_id.size() != 36 || args.message_id[8] != '-') {
      throw TraceError("--trace: expected a message id (a UUID), got \"" + args.message_id + "\"",
                       kExitUsage);
    }
    std::string url = args.pg_url;
    if (url.empty()) {
      if (const char* env = std::getenv("MCPTAP_PG_URL"); env && *env) url = env;
    }
    if (url.empty())
      throw TraceError("no database: pass --pg URL or set MCPTAP_PG_URL", kExitUsage);
    sink::PgConnection db(url);
    if (!db.ok()) throw TraceError("cannot connect to PostgreSQL: " + db.error(), kExitFailure);
    Trace trace;
    trace.window_seconds = args.window_seconds;
    trace.origin.request = find_request(db, args.message_id);
    trace.origin.reply = reply_to(db, trace.origin.request);
    for (TraceMessage& request :
         find_matching_calls(db, trace.origin.request, args.window_seconds)) {
      TraceCall call{std::move(request), std::nullopt};
      call.reply = reply_to(db, call.request);
      trace.matches.push_back(std::move(call));
    }
    std::string text =
        args.json ? printable_json(trace_as_json(trace).dump(2)) + "\n" : format_trace(trace);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  } catch (const TraceError& error) {
    std::string message = error.what();
    for (char& c : message) c = c == '\n' ? ' ' : c;  // libpq's messages span lines
    print_error(message);
    return error.exit_code;
  }
}

}  // namespace mcptap::cli

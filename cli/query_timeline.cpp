// The timeline of `mcptap query`: rows grouped into operations and exchanges, one line each,
// an operation of several requests under a header line.
#include "cli/query_timeline.h"

#include <map>
#include <nlohmann/json.hpp>
#include <string_view>

#include "cli/table_format.h"

namespace mcptap::cli {
namespace {

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

}  // namespace

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

}  // namespace mcptap::cli

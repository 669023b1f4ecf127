// Human output of the client subcommands: aligned tables, sizes, durations, admin API views.
#include "cli/table_format.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>

#include "base/json_text.h"
#include "cli/terminal_text.h"

namespace mcptap::cli {
namespace {

using nlohmann::json;

std::string trim_trailing_spaces(std::string text) {
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

// A field of an admin API object as text: integers as digits, "?" when absent or mistyped.
std::string integer_text(const json& object, const char* key) {
  if (!object.is_object()) return "?";
  auto it = object.find(key);
  if (it == object.end()) return "?";
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  if (it->is_number_unsigned()) return std::to_string(it->get<uint64_t>());
  if (it->is_number_float()) return std::to_string(std::llround(it->get<double>()));
  return "?";
}

std::string string_text(const json& object, const char* key) {
  if (!object.is_object()) return "?";
  auto it = object.find(key);
  if (it == object.end()) return "?";
  if (it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

const json* number_field(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? &*it : nullptr;
}

std::string bytes_text(const json& object, const char* key) {
  const json* value = number_field(object, key);
  return value ? human_bytes(value->get<int64_t>()) : "?";
}

std::string seconds_text(const json& object, const char* key) {
  const json* value = number_field(object, key);
  return value ? human_duration(value->get<double>()) : "?";
}

bool bool_field(const json& object, const char* key) {
  if (!object.is_object()) return false;
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string joined;
  for (const std::string& part : parts) {
    if (!joined.empty()) joined += separator;
    joined += part;
  }
  return joined;
}

// Fixed-format number without trailing noise: 0.25 → "0.25", 0.5 → "0.5".
std::string short_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", value);
  return text;
}

// A large count with three significant digits: 950 → "950", 1080000 → "1.08M".
std::string human_count(double value) {
  static const char* const kSuffixes[] = {"", "k", "M", "G", "T"};
  size_t suffix = 0;
  while (value >= 999.5 && suffix + 1 < std::size(kSuffixes)) {
    value /= 1000;
    ++suffix;
  }
  char text[32];
  std::snprintf(text, sizeof text, suffix == 0 ? "%.0f%s" : "%.3g%s", value, kSuffixes[suffix]);
  return text;
}

// "20 msg/s, 1.0 MiB/s", or "unlimited" when the route has no capture budget.
std::string budget_text(const json& route) {
  auto budget = route.find("capture_budget");
  if (budget == route.end() || !budget->is_object()) return "?";
  std::vector<std::string> parts;
  const json* messages = number_field(*budget, "max_messages_per_second");
  if (messages && messages->get<double>() > 0) {
    parts.push_back(short_number(messages->get<double>()) + " msg/s");
  }
  const json* bytes = number_field(*budget, "max_bytes_per_second");
  if (bytes && bytes->get<double>() > 0) {
    parts.push_back(human_bytes(std::llround(bytes->get<double>())) + "/s");
  }
  return parts.empty() ? "unlimited" : join(parts, ", ");
}

// What each route captures now (rows and bytes per second over the server's window), what
// that comes to per day, and the budget that caps it.
std::string format_capture_rates(const json& routes) {
  using Align = TextTable::Align;
  TextTable table({{"ROUTE"},
                   {"ROWS/S", Align::Right},
                   {"BYTES/S", Align::Right},
                   {"ROWS/DAY", Align::Right},
                   {"GB/DAY", Align::Right},
                   {"BUDGET"},
                   {"SKIPPED", Align::Right}});
  double window_s = 0;
  for (const json& route : routes) {
    auto rate = route.find("capture_rate");
    if (rate == route.end() || !rate->is_object()) continue;
    const json* rows = number_field(*rate, "rows_per_second");
    const json* bytes = number_field(*rate, "bytes_per_second");
    const json* rows_per_day = number_field(*rate, "rows_per_day");
    const json* gb_per_day = number_field(*rate, "gb_per_day");
    if (const json* window = number_field(*rate, "window_s")) window_s = window->get<double>();
    char rows_text[32] = "?";
    char gb_text[32] = "?";
    if (rows) std::snprintf(rows_text, sizeof rows_text, "%.1f", rows->get<double>());
    if (gb_per_day) std::snprintf(gb_text, sizeof gb_text, "%.3g", gb_per_day->get<double>());
    table.add_row({string_text(route, "name"), rows_text,
                   bytes ? human_bytes(std::llround(bytes->get<double>())) : "?",
                   rows_per_day ? human_count(rows_per_day->get<double>()) : "?", gb_text,
                   budget_text(route), integer_text(route, "capture_budget_skipped")});
  }
  if (table.empty()) return "";
  return "\ncapture over the last " + human_duration(window_s) +
         " (GB/DAY: payload bytes, 10^9):\n" + table.render();
}

}  // namespace

TextTable::TextTable(std::vector<Column> columns, bool show_header)
    : columns_(std::move(columns)), show_header_(show_header) {}

void TextTable::add_row(std::vector<std::string> cells) {
  assert(cells.size() <= columns_.size());
  cells.resize(columns_.size());
  // Cells hold captured data and server fields: written out, and measured as written.
  for (std::string& cell : cells) cell = printable(cell);
  rows_.push_back(std::move(cells));
}

std::vector<size_t> TextTable::column_widths() const {
  std::vector<size_t> widths(columns_.size(), 0);
  for (size_t column = 0; column < columns_.size(); ++column) {
    if (show_header_) widths[column] = display_width(columns_[column].title);
    for (const auto& row : rows_) {
      widths[column] = std::max(widths[column], display_width(row[column]));
    }
  }
  return widths;
}

std::string TextTable::render_row(const std::vector<std::string>& cells,
                                  const std::vector<size_t>& widths) const {
  std::string line;
  for (size_t column = 0; column < columns_.size(); ++column) {
    if (column > 0) line += "  ";
    line += columns_[column].align == Align::Right ? pad_left(cells[column], widths[column])
                                                   : pad_right(cells[column], widths[column]);
  }
  return trim_trailing_spaces(std::move(line)) + "\n";
}

std::string TextTable::render() const {
  std::vector<size_t> widths = column_widths();
  std::string text;
  if (show_header_) {
    std::vector<std::string> titles;
    for (const Column& column : columns_) titles.push_back(column.title);
    text += render_row(titles, widths);
  }
  for (const auto& row : rows_) text += render_row(row, widths);
  return text;
}

size_t display_width(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string pad_right(std::string_view text, size_t width) {
  size_t used = display_width(text);
  return std::string(text) + std::string(used < width ? width - used : 0, ' ');
}

std::string pad_left(std::string_view text, size_t width) {
  size_t used = display_width(text);
  return std::string(used < width ? width - used : 0, ' ') + std::string(text);
}

std::string human_bytes(int64_t bytes) {
  if (bytes < 0) {
    // INT64_MIN has no positive counterpart; one byte less reads the same in PiB.
    std::string text = human_bytes(bytes == INT64_MIN ? INT64_MAX : -bytes);
    text.insert(text.begin(), '-');
    return text;
  }
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  // Move up a unit once the rounded figure would read 1024 of this one.
  while (value >= 1023.5 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  if (value < 9.95) {
    std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  } else {
    std::snprintf(text, sizeof text, "%.0f %s", value, kUnits[unit]);
  }
  return text;
}

std::string format_latency(int64_t micros) {
  double millis = static_cast<double>(micros) / 1000.0;
  char text[32];
  if (millis < 9.995) {
    std::snprintf(text, sizeof text, "%.2f ms", millis);
  } else if (millis < 99.95) {
    std::snprintf(text, sizeof text, "%.1f ms", millis);
  } else {
    std::snprintf(text, sizeof text, "%.0f ms", millis);
  }
  return text;
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  char text[32];
  if (seconds < 1) {
    std::snprintf(text, sizeof text, "%.0fms", seconds * 1000);
    return text;
  }
  if (seconds < 9.95) {
    std::snprintf(text, sizeof text, "%.1fs", seconds);
    return text;
  }
  auto whole = static_cast<int64_t>(std::llround(seconds));
  if (whole < 60) return std::to_string(whole) + "s";
  if (whole < 3600) return std::to_string(whole / 60) + "m " + std::to_string(whole % 60) + "s";
  if (whole < 86400) {
    return std::to_string(whole / 3600) + "h " + std::to_string(whole % 3600 / 60) + "m";
  }
  return std::to_string(whole / 86400) + "d " + std::to_string(whole % 86400 / 3600) + "h";
}

std::string format_elapsed(int64_t micros) {
  if (micros < 1'000'000) return format_latency(micros);
  double seconds = static_cast<double>(micros) / 1e6;
  if (seconds >= 99.95) return human_duration(seconds);
  char text[32];
  std::snprintf(text, sizeof text, seconds < 9.995 ? "%.2f s" : "%.1f s", seconds);
  return text;
}

std::string short_id(std::string_view id, size_t chars) {
  size_t seen = 0;
  for (size_t i = 0; i < id.size(); ++i) {
    if ((static_cast<unsigned char>(id[i]) & 0xC0) == 0x80) continue;
    if (seen++ == chars) return std::string(id.substr(0, i)) + "…";
  }
  return std::string(id);
}

std::string format_operation_detail(const OperationHeader& header) {
  std::vector<std::string> parts;
  if (!header.name.empty()) parts.push_back(header.name);
  parts.push_back(std::to_string(header.round_trips) + " round trips");
  if (!header.inputs.empty()) {
    std::vector<std::string> asked;
    for (const OperationHeader::Input& input : header.inputs) {
      asked.push_back(input.method.empty() ? input.key : input.key + " (" + input.method + ")");
    }
    if (header.inputs_truncated) asked.push_back("…");
    parts.push_back("asked: " + join(asked, ", "));
  }
  if (!header.task_id.empty()) parts.push_back("task " + short_id(header.task_id));
  return join(parts, "  ");
}

std::string time_of_day(std::string_view iso_timestamp) {
  size_t separator = iso_timestamp.find_first_of("T ");
  if (separator == std::string_view::npos || iso_timestamp.size() < separator + 9) {
    return std::string(iso_timestamp);
  }
  std::string_view rest = iso_timestamp.substr(separator + 1);
  std::string clock(rest.substr(0, 8));  // HH:MM:SS
  std::string millis;
  if (rest.size() > 8 && rest[8] == '.') {
    for (size_t i = 9; i < rest.size() && millis.size() < 3; ++i) {
      if (rest[i] < '0' || rest[i] > '9') break;
      millis += rest[i];
    }
  }
  millis.resize(3, '0');
  return clock + "." + millis;
}

std::string date_and_time(std::string_view iso_timestamp) {
  size_t separator = iso_timestamp.find_first_of("T ");
  if (separator == std::string_view::npos) return std::string(iso_timestamp);
  return std::string(iso_timestamp.substr(0, separator)) + " " + time_of_day(iso_timestamp);
}

std::string direction_arrow(std::string_view direction) {
  if (direction == "client_to_server") return "→";
  if (direction == "server_to_client") return "←";
  return "?";
}

std::string format_capture_state(const json& route) {
  if (!route.is_object() || !route.contains("capture")) return "?";
  if (!bool_field(route, "capture")) return "off";
  std::string state = "on";
  if (const json* sample = number_field(route, "sample"); sample && sample->get<double>() < 1.0) {
    state += " sample=" + short_number(sample->get<double>());
  }
  auto methods = route.find("methods");
  if (methods != route.end() && methods->is_array() && !methods->empty()) {
    std::vector<std::string> names;
    for (const json& method : *methods) {
      names.push_back(method.is_string() ? method.get<std::string>() : base::json_text(method));
    }
    state += " methods=" + join(names, ",");
  }
  return state;
}

std::string format_routes_table(const json& routes) {
  if (!routes.is_array() || routes.empty()) return "no routes\n";
  using Align = TextTable::Align;
  TextTable table({{"ROUTE"},
                   {"LISTEN"},
                   {"UPSTREAM"},
                   {"CAPTURE"},
                   {"OPEN", Align::Right},
                   {"CAPTURED", Align::Right},
                   {"DROPPED", Align::Right}});
  for (const json& route : routes) {
    table.add_row(
        {string_text(route, "name"), string_text(route, "listen"), string_text(route, "upstream"),
         format_capture_state(route), integer_text(route, "connections_open"),
         integer_text(route, "messages_captured"), integer_text(route, "messages_dropped")});
  }
  return table.render();
}

std::string format_status(const json& status) {
  std::string readiness = bool_field(status, "ready") ? "ready" : "not ready";
  std::string text = printable("mcptap " + string_text(status, "version") + ", up " +
                               seconds_text(status, "uptime_s") + ", " + readiness) +
                     "\n";
  const json& sink = status.is_object() && status.contains("sink") ? status["sink"] : json();
  TextTable summary({{""}, {""}}, false);
  summary.add_row({"postgres", std::string(bool_field(sink, "postgres_up") ? "up" : "down") +
                                   ", lag " + seconds_text(sink, "lag_seconds")});
  summary.add_row({"queue", integer_text(sink, "queued_records") + " records, " +
                                bytes_text(sink, "queued_bytes")});
  summary.add_row({"spool", integer_text(sink, "spool_records") + " records, " +
                                bytes_text(sink, "spool_bytes")});
  summary.add_row({"records", "written " + integer_text(sink, "written_records") + ", dropped " +
                                  integer_text(sink, "dropped_records") + ", rejected " +
                                  integer_text(sink, "rejected_records")});
  summary.add_row({"batches", "committed " + integer_text(sink, "batches_committed") + ", failed " +
                                  integer_text(sink, "batches_failed")});
  text += summary.render();
  const json& routes = status.is_object() && status.contains("routes") ? status["routes"] : json();
  text += '\n';
  text += format_routes_table(routes);
  if (routes.is_array()) text += format_capture_rates(routes);
  return text;
}

std::string format_tail_line(const json& message) {
  // Every field is captured data or comes from the server: written out before padding.
  auto shown = [&](const char* key) { return printable(string_text(message, key)); };
  std::string kind = string_text(message, "kind");
  std::string id = shown("jsonrpc_id");
  std::string line = printable(time_of_day(string_text(message, "captured_at"))) + "  " +
                     pad_right(shown("route"), 12) + "  " +
                     direction_arrow(string_text(message, "direction")) + "  " +
                     pad_right(printable(kind), 12) + "  " + pad_right(shown("method"), 24) + "  " +
                     pad_right(id == "-" ? id : "id=" + id, 10) + "  " +
                     pad_left(bytes_text(message, "payload_bytes"), 9);
  const json* latency = number_field(message, "latency_us");
  if (latency && (kind == "response" || kind == "error")) {
    line += "  " + pad_left(format_latency(latency->get<int64_t>()), 9);
  }
  // A failed tool call is a successful JSON-RPC response: say so, as an error would.
  if (bool_field(message, "tool_error")) line += "  tool error";
  if (bool_field(message, "truncated")) line += "  [truncated]";
  if (bool_field(message, "redacted")) line += "  [redacted]";
  return trim_trailing_spaces(std::move(line));
}

void print_json_body(const std::string& body) {
  std::fputs(body.c_str(), stdout);
  if (body.empty() || body.back() != '\n') std::fputc('\n', stdout);
}

}  // namespace mcptap::cli

// Human output of the client subcommands: aligned tables, sizes, durations, admin API views.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace mcptap::cli {

// Columns separated by two spaces, each as wide as its widest cell (counted in characters,
// so an arrow is one column wide), no trailing spaces.
class TextTable {
 public:
  enum class Align { Left, Right };
  struct Column {
    std::string title;
    Align align = Align::Left;
  };

  explicit TextTable(std::vector<Column> columns, bool show_header = true);
  // Missing trailing cells are blank. More cells than columns is a programming error.
  // Each cell is shown through printable() (cli/terminal_text.h), its width counted on
  // that text: a control in captured data neither acts on the terminal nor skews columns.
  void add_row(std::vector<std::string> cells);
  std::string render() const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<size_t> column_widths() const;
  std::string render_row(const std::vector<std::string>& cells,
                         const std::vector<size_t>& widths) const;

  std::vector<Column> columns_;
  bool show_header_;
  std::vector<std::vector<std::string>> rows_;
};

// Characters in UTF-8 text (continuation bytes do not count).
size_t display_width(std::string_view text);
std::string pad_right(std::string_view text, size_t width);
std::string pad_left(std::string_view text, size_t width);

// 512 → "512 B", 1536 → "1.5 KiB", 15 MiB → "15 MiB".
std::string human_bytes(int64_t bytes);
// A latency in milliseconds with about three significant digits: "0.85 ms", "12.3 ms",
// "1530 ms".
std::string format_latency(int64_t micros);
// An uptime or lag: "40ms", "2.5s", "45s", "2m 5s", "3h 4m", "2d 3h".
std::string human_duration(double seconds);
// An operation's total time, from its first request to its final answer: "60.0 ms" below
// a second, "2.41 s" below 100 seconds, then "2m 5s", "3h 4m" (tasks can run for hours).
std::string format_elapsed(int64_t micros);
// The first `chars` characters of an id, "…" marking a cut: "786512e2…".
std::string short_id(std::string_view id, size_t chars = 8);

// What the header line of an operation of several requests says after its method.
struct OperationHeader {
  std::string name;  // the request's params.name or params.uri; "" when unknown
  int64_t round_trips = 0;
  struct Input {
    std::string key;
    std::string method;  // "" when unknown
  };
  std::vector<Input> inputs;  // what the server asked for along the way
  bool inputs_truncated = false;
  std::string task_id;  // "" when not a task
};
// "get_weather  3 round trips  asked: github_login (elicitation/create), city  task 786512e2…"
std::string format_operation_detail(const OperationHeader& header);

// "2026-11-23T10:00:00.123456Z" → "10:00:00.123"; other text is returned unchanged.
std::string time_of_day(std::string_view iso_timestamp);
// "2026-11-23T10:00:00.123456Z" → "2026-11-23 10:00:00.123".
std::string date_and_time(std::string_view iso_timestamp);
// "→" for client_to_server, "←" for server_to_client, "?" otherwise.
std::string direction_arrow(std::string_view direction);

// Views of the admin API's JSON. Absent or mistyped fields show as "?" rather than failing:
// a newer or older server should still produce a readable table.
std::string format_capture_state(const nlohmann::json& route);  // "on sample=0.25 methods=a,b"
std::string format_routes_table(const nlohmann::json& routes);
std::string format_status(const nlohmann::json& status);
// One line of `mcptap tail`; a tool failure (the line's "tool_error": true) ends with
// "tool error".
std::string format_tail_line(const nlohmann::json& message);

// Prints a JSON body as the admin API sent it (`--json`), ending with a newline.
void print_json_body(const std::string& body);

}  // namespace mcptap::cli

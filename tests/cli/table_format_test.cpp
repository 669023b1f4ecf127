// Tests for cli/table_format: alignment, sizes, durations and the admin API views.
#include "cli/table_format.h"

#include <gtest/gtest.h>

namespace mcptap::cli {
namespace {

using nlohmann::json;

TEST(TextTable, AlignsColumnsToTheWidestCell) {
  TextTable table({{"NAME"}, {"COUNT", TextTable::Align::Right}, {"NOTE"}});
  table.add_row({"gates", "7", "x"});
  table.add_row({"a", "12345", ""});
  EXPECT_EQ(table.render(),
            "NAME   COUNT  NOTE\n"
            "gates      7  x\n"
            "a      12345\n");
}

TEST(TextTable, CountsCharactersNotBytes) {
  TextTable table({{"D"}, {"K"}}, false);
  table.add_row({"→", "request"});
  table.add_row({"ab", "response"});
  EXPECT_EQ(table.render(),
            "→   request\n"
            "ab  response\n");
  EXPECT_EQ(display_width("→←↳"), 3u);
  EXPECT_EQ(pad_left("←", 3), "  ←");
}

TEST(TextTable, MissingCellsAreBlank) {
  TextTable table({{"A"}, {"B"}});
  table.add_row({"x"});
  EXPECT_EQ(table.render(), "A  B\nx\n");
}

// A cell from captured data shows its controls written out, and the columns line up on
// the text as shown: the escape sequence neither runs nor skews the widths.
TEST(TextTable, WritesOutControlsAndMeasuresTheWrittenText) {
  TextTable table({{"METHOD"}, {"ID", TextTable::Align::Right}});
  table.add_row({"a\x1b]52;c;eA==\x07", "1"});
  table.add_row(
      {"\xC2\x9b"
       "2J\x7f",
       "22"});
  table.add_row({"line\nbreak", "3"});
  EXPECT_EQ(table.render(),
            "METHOD               ID\n"
            R"(a\x1b]52;c;eA==\x07)"
            "   1\n"
            R"(\u009b2J\x7f)"
            "         22\n"
            R"(line\nbreak)"
            "           3\n");
}

TEST(HumanBytes, PicksAUnitWithAboutThreeDigits) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1024), "1.0 KiB");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(15 * 1024), "15 KiB");
  EXPECT_EQ(human_bytes(1048575), "1.0 MiB");  // would round to 1024 KiB
  EXPECT_EQ(human_bytes(int64_t{3} << 30), "3.0 GiB");
  EXPECT_EQ(human_bytes(-2048), "-2.0 KiB");
  EXPECT_EQ(human_bytes(INT64_MIN), "-8192 PiB");  // no overflow negating it
}

TEST(Durations, LatencyInMilliseconds) {
  EXPECT_EQ(format_latency(850), "0.85 ms");
  EXPECT_EQ(format_latency(0), "0.00 ms");
  EXPECT_EQ(format_latency(12345), "12.3 ms");
  EXPECT_EQ(format_latency(1530000), "1530 ms");
}

TEST(Durations, HumanDurationScalesItsUnits) {
  EXPECT_EQ(human_duration(0.04), "40ms");
  EXPECT_EQ(human_duration(2.5), "2.5s");
  EXPECT_EQ(human_duration(45), "45s");
  EXPECT_EQ(human_duration(125), "2m 5s");
  EXPECT_EQ(human_duration(3 * 3600 + 4 * 60 + 59), "3h 4m");
  EXPECT_EQ(human_duration(2 * 86400 + 3 * 3600), "2d 3h");
  EXPECT_EQ(human_duration(-1), "?");
}

TEST(Durations, AnOperationsTotalTime) {
  EXPECT_EQ(format_elapsed(60'000), "60.0 ms");
  EXPECT_EQ(format_elapsed(2'410'000), "2.41 s");
  EXPECT_EQ(format_elapsed(45'300'000), "45.3 s");
  EXPECT_EQ(format_elapsed(125'000'000), "2m 5s");
  EXPECT_EQ(format_elapsed(3 * 3600 * 1'000'000LL), "3h 0m");
}

TEST(Operations, ShortIdsAndTheHeaderDetail) {
  EXPECT_EQ(short_id("786512e2-5a1c-4c55-a0d4-d2b4c1f00b2e"), "786512e2…");
  EXPECT_EQ(short_id("t-1"), "t-1");
  EXPECT_EQ(short_id("ééééééééé"), "éééééééé…");  // characters, not bytes
  OperationHeader header;
  header.round_trips = 2;
  EXPECT_EQ(format_operation_detail(header), "2 round trips");
  header.name = "get_weather";
  header.inputs = {{"github_login", "elicitation/create"}, {"city", ""}};
  header.inputs_truncated = true;
  header.task_id = "786512e2-5a1c";
  EXPECT_EQ(format_operation_detail(header),
            "get_weather  2 round trips  asked: github_login (elicitation/create), city, …  "
            "task 786512e2…");
}

TEST(Timestamps, TimeOfDayKeepsMilliseconds) {
  EXPECT_EQ(time_of_day("2026-11-23T10:00:00.123456Z"), "10:00:00.123");
  EXPECT_EQ(time_of_day("2026-11-23T10:00:00.1Z"), "10:00:00.100");
  EXPECT_EQ(time_of_day("2026-11-23T10:00:00Z"), "10:00:00.000");
  EXPECT_EQ(date_and_time("2026-11-23T10:00:00.123456Z"), "2026-11-23 10:00:00.123");
  EXPECT_EQ(time_of_day("garbage"), "garbage");
}

TEST(AdminViews, CaptureStateNamesSampleAndMethods) {
  EXPECT_EQ(format_capture_state(json{{"capture", false}, {"sample", 0.5}}), "off");
  EXPECT_EQ(format_capture_state(json{{"capture", true}, {"sample", 1.0}}), "on");
  EXPECT_EQ(format_capture_state(
                json{{"capture", true}, {"sample", 0.25}, {"methods", {"tools/call", "ping"}}}),
            "on sample=0.25 methods=tools/call,ping");
  EXPECT_EQ(format_capture_state(json::object()), "?");
}

json route(const std::string& name, bool capture, int open, int captured) {
  return {{"name", name},
          {"listen", "0.0.0.0:9001"},
          {"upstream", "gates:8001"},
          {"capture", capture},
          {"sample", 1.0},
          {"methods", json::array()},
          {"connections_open", open},
          {"messages_captured", captured},
          {"messages_dropped", 0}};
}

struct Rate {
  double rows_per_second, bytes_per_second, rows_per_day, gb_per_day;
};
struct Budget {
  int max_messages_per_second, max_bytes_per_second;
};

// A route as /status shows it: its capture rate over a 10 s window, its budget and skips.
json with_capture_rate(json route, Rate rate, Budget budget, int skipped) {
  route["capture_rate"] = {{"window_s", 10},
                           {"rows_per_second", rate.rows_per_second},
                           {"bytes_per_second", rate.bytes_per_second},
                           {"rows_per_day", rate.rows_per_day},
                           {"gb_per_day", rate.gb_per_day}};
  route["capture_budget"] = {{"max_messages_per_second", budget.max_messages_per_second},
                             {"max_bytes_per_second", budget.max_bytes_per_second}};
  route["capture_budget_skipped"] = skipped;
  return route;
}

TEST(AdminViews, RoutesTable) {
  json routes = {route("gates", true, 3, 1200), route("dewey", false, 0, 7)};
  EXPECT_EQ(format_routes_table(routes),
            "ROUTE  LISTEN        UPSTREAM    CAPTURE  OPEN  CAPTURED  DROPPED\n"
            "gates  0.0.0.0:9001  gates:8001  on          3      1200        0\n"
            "dewey  0.0.0.0:9001  gates:8001  off         0         7        0\n");
  EXPECT_EQ(format_routes_table(json::array()), "no routes\n");
}

TEST(AdminViews, MissingCountersShowAsQuestionMarks) {
  json routes = {{{"name", "gates"}, {"capture", true}}};
  EXPECT_EQ(format_routes_table(routes),
            "ROUTE  LISTEN  UPSTREAM  CAPTURE  OPEN  CAPTURED  DROPPED\n"
            "gates  ?       ?         on          ?         ?        ?\n");
}

TEST(AdminViews, StatusSummary) {
  json status = {{"version", "0.1.0"},
                 {"uptime_s", 125},
                 {"ready", true},
                 {"sink",
                  {{"queued_records", 12},
                   {"queued_bytes", 4096},
                   {"spool_bytes", 0},
                   {"spool_records", 0},
                   {"written_records", 12345},
                   {"dropped_records", 1},
                   {"rejected_records", 2},
                   {"batches_committed", 120},
                   {"batches_failed", 3},
                   {"postgres_up", true},
                   {"lag_seconds", 0.2}}},
                 {"routes", {route("gates", true, 1, 2)}}};
  EXPECT_EQ(format_status(status),
            "mcptap 0.1.0, up 2m 5s, ready\n"
            "postgres  up, lag 200ms\n"
            "queue     12 records, 4.0 KiB\n"
            "spool     0 records, 0 B\n"
            "records   written 12345, dropped 1, rejected 2\n"
            "batches   committed 120, failed 3\n"
            "\n"
            "ROUTE  LISTEN        UPSTREAM    CAPTURE  OPEN  CAPTURED  DROPPED\n"
            "gates  0.0.0.0:9001  gates:8001  on          1         2        0\n");
}

TEST(AdminViews, StatusShowsCaptureRatesPerDayAndTheBudget) {
  json gates = with_capture_rate(route("gates", true, 1, 2), {12.5, 3174.4, 1080000, 0.2742681},
                                 {20, 1048576}, 30);
  json dewey = with_capture_rate(route("dewey", true, 0, 0), {0, 0, 0, 0}, {0, 0}, 0);
  json status = {
      {"version", "0.1.0"}, {"uptime_s", 5}, {"ready", true}, {"routes", {gates, dewey}}};
  std::string text = format_status(status);
  std::string rates = text.substr(text.find("capture over"));
  EXPECT_EQ(rates,
            "capture over the last 10s (GB/DAY: payload bytes, 10^9):\n"
            "ROUTE  ROWS/S  BYTES/S  ROWS/DAY  GB/DAY  BUDGET               SKIPPED\n"
            "gates    12.5  3.1 KiB     1.08M   0.274  20 msg/s, 1.0 MiB/s       30\n"
            "dewey     0.0      0 B         0       0  unlimited                  0\n");
}

TEST(AdminViews, TailLineForARequestAndAResponse) {
  json request = {{"captured_at", "2026-11-23T10:00:00.123456Z"},
                  {"route", "gates"},
                  {"direction", "client_to_server"},
                  {"kind", "request"},
                  {"jsonrpc_id", "1"},
                  {"method", "tools/call"},
                  {"latency_us", nullptr},
                  {"payload_bytes", 1536},
                  {"truncated", false},
                  {"redacted", true}};
  EXPECT_EQ(format_tail_line(request),
            "10:00:00.123  gates         →  request       tools/call                "
            "id=1          1.5 KiB  [redacted]");
  json response = request;
  response["direction"] = "server_to_client";
  response["kind"] = "response";
  response["latency_us"] = 12345;
  response["payload_bytes"] = 80;
  response["redacted"] = false;
  EXPECT_EQ(format_tail_line(response),
            "10:00:00.123  gates         ←  response      tools/call                "
            "id=1             80 B    12.3 ms");
  json notification = {{"captured_at", "2026-11-23T10:00:01Z"},
                       {"route", "gates"},
                       {"direction", "server_to_client"},
                       {"kind", "notification"},
                       {"jsonrpc_id", nullptr},
                       {"method", "notifications/progress"},
                       {"payload_bytes", 10}};
  EXPECT_EQ(format_tail_line(notification),
            "10:00:01.000  gates         ←  notification  notifications/progress    -         "
            "       10 B");
}

TEST(AdminViews, TailLineAndStatusWriteOutControls) {
  json message = {{"captured_at", "2026-11-23T10:00:00.123456Z"},
                  {"route", "gates"},
                  {"direction", "client_to_server"},
                  {"kind", "request"},
                  {"jsonrpc_id", "\"\x1b[2J\""},
                  {"method", "m\x1b]52;c;eA==\x07\xC2\x9b\x7f"},
                  {"payload_bytes", 10}};
  EXPECT_EQ(format_tail_line(message),
            "10:00:00.123  gates         →  request       "
            R"(m\x1b]52;c;eA==\x07\u009b\x7f  id="\x1b[2J"       10 B)");
  std::string status = format_status({{"version", "1\x1b[2J"}, {"ready", true}});
  EXPECT_EQ(status.substr(0, status.find('\n')), R"(mcptap 1\x1b[2J, up ?, ready)");
}

TEST(AdminViews, TailLineForAToolFailureSaysSo) {
  json failure = {{"captured_at", "2026-11-23T10:00:00.123456Z"},
                  {"route", "gates"},
                  {"direction", "server_to_client"},
                  {"kind", "response"},
                  {"jsonrpc_id", "4"},
                  {"method", "tools/call"},
                  {"latency_us", 2100},
                  {"payload_bytes", 90},
                  {"truncated", false},
                  {"redacted", false},
                  {"tool_error", true}};
  EXPECT_EQ(format_tail_line(failure),
            "10:00:00.123  gates         ←  response      tools/call                "
            "id=4             90 B    2.10 ms  tool error");
  failure["tool_error"] = false;
  EXPECT_EQ(format_tail_line(failure).find("tool error"), std::string::npos);
  failure.erase("tool_error");  // an older server's line
  EXPECT_EQ(format_tail_line(failure).find("tool error"), std::string::npos);
}

}  // namespace
}  // namespace mcptap::cli

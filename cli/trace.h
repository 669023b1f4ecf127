// `mcptap query --trace ID`: one tool call followed across hops (stdio hop -> relay -> backend).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mcptap::cli {

// One captured message as the trace shows it.
struct TraceMessage {
  std::string id;
  std::string captured_at;  // as PostgreSQL prints timestamptz
  double epoch_seconds = 0;
  std::string route;
  std::string transport;
  std::string kind;
  std::string method;
  std::optional<std::string> correlation_id;
  std::optional<int64_t> latency_us;
  nlohmann::json payload;  // null when the row had none
};

// A tools/call request with its response or error, when one was captured.
struct TraceCall {
  TraceMessage request;
  std::optional<TraceMessage> reply;
};

// The traced call and the calls on other routes with the same tool name and arguments
// within the window, nearest first.
struct Trace {
  TraceCall origin;
  std::vector<TraceCall> matches;
  int64_t window_seconds = 0;
};

// Both messages of every hop and a structural diff (cli/json_diff.h) of each matched
// request and reply against the traced one.
std::string format_trace(const Trace& trace);
nlohmann::ordered_json trace_as_json(const Trace& trace);

struct TraceArgs {
  std::string pg_url;      // --pg, else MCPTAP_PG_URL
  std::string message_id;  // the request, its response or error
  int64_t window_seconds = 10;
  bool json = false;
};
// Exit codes: 0 (a trace printed, with or without matches), 1 (no such message, not a
// tools/call, or the database failed), 2 (a malformed id or no database given).
int trace_command(const TraceArgs& args);

}  // namespace mcptap::cli

// The timeline of `mcptap query`: the rows it read, grouped by operation, as a text table.
#pragma once

#include <string>
#include <vector>

#include "cli/client_commands.h"

namespace mcptap::cli {

// One line per message; the notifications that refer to a request (progress, cancelled)
// and then its response or error are printed indented under that request when it is among
// the rows, the answer with its latency. A tool failure's answer ends with
// "tool error: <its first text content>". An operation of several requests (the retries of
// a multi round-trip request, a task's polls) gets a header line: its method and name, its
// round trips, its total time and the input asked; then its requests, each with its
// notifications and answer, all indented under it. Rows say what an operation needs to be
// read: "input required: key", "retry (request_state)", "HTTP 401: <body>".
std::string format_timeline(const std::vector<MessageRow>& rows);

}  // namespace mcptap::cli

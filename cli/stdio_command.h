// `mcptap stdio`: runs an MCP server (or a relay) as a child process and captures its stdio.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace mcptap::cli {

// mcptap stdio --route NAME [--config FILE] [--log-file PATH] -- COMMAND ARGS...
// stdin and stdout pass through unchanged; both directions are recorded as NDJSON with
// transport `stdio`. The child's exit code becomes mcptap's (128 + N when it died of
// signal N); SIGTERM, SIGINT and SIGHUP are forwarded to it. stderr is the child's: mcptap
// writes there only a fatal error, one line; its log goes to the log file, if any.
struct StdioArgs {
  std::string route;
  std::string config_path;  // optional: sink, capture, redact and stdio settings
  std::string log_file;     // optional: overrides the configuration's stdio.log_file
  std::vector<std::string> command;
};
void add_stdio_options(CLI::App& sub, StdioArgs& args);
int stdio_command(const StdioArgs& args);

}  // namespace mcptap::cli

// `mcptap status`: sink queue, spool, lag and drops, then the per-route table.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/admin_client.h"
#include "cli/client_commands.h"
#include "cli/table_format.h"
#include "cli/terminal_text.h"

namespace mcptap::cli {

namespace {

// The first thing `status` prints when capture is degraded, so that nobody reads the rest
// believing they capture: "CAPTURE DEGRADED: spool write errors since 12:03:04 UTC: No
// space left on device; 37 records dropped". Empty otherwise.
std::string degraded_line(const nlohmann::json& status) {
  const nlohmann::json* sink = status.contains("sink") ? &status["sink"] : nullptr;
  if (!sink || !sink->is_object() || !sink->contains("capture")) return "";
  const nlohmann::json& capture = (*sink)["capture"];
  if (!capture.is_object() || capture.value("state", "") != "degraded") return "";
  const std::string since = capture.value("since", "");  // 2024-06-01T12:03:04Z
  std::string line = "CAPTURE DEGRADED: " + capture.value("cause", std::string("spool problem"));
  if (since.size() >= 19) line += " since " + since.substr(11, 8) + " UTC";
  line += ": " + capture.value("error", std::string("unknown"));
  if (capture.contains("dropped_records") && capture["dropped_records"].is_number()) {
    line += "; " + capture["dropped_records"].dump() + " records dropped";
  }
  return printable(line) + "\n";  // the server's words: shown, not obeyed
}

}  // namespace

void add_status_options(CLI::App& sub, StatusArgs& args) {
  add_admin_options(sub, args.admin);
  sub.add_flag("--json", args.json, "print the admin API's JSON instead of a summary");
}

int status_command(const StatusArgs& args) {
  return run_client_command("status", [&] {
    AdminClient client = make_admin_client(args.admin);
    AdminResponse response = client.get("/status");
    nlohmann::json status = parse_admin_json(client, response, "/status");
    if (!status.is_object()) {
      throw AdminError("admin API at " + client.address() + " sent /status that is not an object");
    }
    if (args.json) {
      print_json_body(printable_json(response.body));
    } else {
      std::fputs((degraded_line(status) + format_status(status)).c_str(), stdout);
    }
    return kExitOk;
  });
}

}  // namespace mcptap::cli

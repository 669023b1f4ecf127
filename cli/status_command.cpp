// `mcptap status`: sink queue, spool, lag and drops, then the per-route table.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/admin_client.h"
#include "cli/client_commands.h"
#include "cli/table_format.h"
#include "cli/terminal_text.h"

namespace mcptap::cli {

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
      std::fputs(format_status(status).c_str(), stdout);
    }
    return kExitOk;
  });
}

}  // namespace mcptap::cli

// `mcptap routes`: the routes, their capture state and counters, from the admin API.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/admin_client.h"
#include "cli/client_commands.h"
#include "cli/table_format.h"
#include "cli/terminal_text.h"

namespace mcptap::cli {

void add_routes_options(CLI::App& sub, RoutesArgs& args) {
  add_admin_options(sub, args.admin);
  sub.add_flag("--json", args.json, "print the admin API's JSON instead of a table");
}

int routes_command(const RoutesArgs& args) {
  return run_client_command("routes", [&] {
    AdminClient client = make_admin_client(args.admin);
    AdminResponse response = client.get("/routes");
    nlohmann::json routes = parse_admin_json(client, response, "/routes");
    if (!routes.is_array()) {
      throw AdminError("admin API at " + client.address() + " sent /routes that is not an array");
    }
    if (args.json) {
      print_json_body(printable_json(response.body));
    } else {
      std::fputs(format_routes_table(routes).c_str(), stdout);
    }
    return kExitOk;
  });
}

}  // namespace mcptap::cli

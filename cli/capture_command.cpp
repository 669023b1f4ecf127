// `mcptap capture on|off ROUTE`: switch capture of one route at runtime through the admin API.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "base/json_text.h"
#include "cli/admin_client.h"
#include "cli/client_commands.h"
#include "cli/table_format.h"
#include "cli/terminal_text.h"

namespace mcptap::cli {
namespace {

// The methods to send: "*" alone means every method, which the API spells as [].
nlohmann::json methods_to_send(const std::vector<std::string>& given) {
  nlohmann::json methods = nlohmann::json::array();
  bool wildcard = false;
  for (const std::string& method : given) {
    if (method == "*") {
      wildcard = true;
    } else if (!method.empty()) {
      methods.push_back(method);
    }
  }
  if (wildcard && !methods.empty()) {
    throw CommandError("--methods: '*' means every method and cannot be combined with names",
                       kExitUsage);
  }
  return methods;
}

nlohmann::json request_body(const CaptureArgs& args) {
  if (args.state != "on" && args.state != "off") {
    throw CommandError("expected on or off, got \"" + args.state + "\"", kExitUsage);
  }
  nlohmann::json body = {{"enabled", args.state == "on"}};
  if (args.sample) {
    if (*args.sample < 0.0 || *args.sample > 1.0) {
      throw CommandError("--sample: expected a fraction from 0 to 1", kExitUsage);
    }
    body["sample"] = *args.sample;
  }
  if (args.methods) body["methods"] = methods_to_send(*args.methods);
  return body;
}

// 404 and 401 are the user's to fix outside this command (exit 1); a 400 means the command
// line asked for something the server will not take (exit 2).
[[noreturn]] void fail_for_status(const AdminClient& client, const CaptureArgs& args,
                                  const AdminResponse& response) {
  if (response.status == 404) {
    throw CommandError(
        "no route named \"" + args.route + "\" at the admin API at " + client.address(),
        kExitFailure);
  }
  int exit_code = response.status == 400 ? kExitUsage : kExitFailure;
  throw CommandError(client.describe_failure(response.status, response.body), exit_code);
}

}  // namespace

void add_capture_options(CLI::App& sub, CaptureArgs& args) {
  sub.add_option("state", args.state, "on or off")->required()->check(CLI::IsMember({"on", "off"}));
  sub.add_option("route", args.route, "route name")->required();
  sub.add_option_function<double>(
         "--sample", [&args](const double& sample) { args.sample = sample; },
         "capture this fraction of messages, 0 to 1")
      ->check(CLI::Range(0.0, 1.0));
  sub.add_option_function<std::vector<std::string>>(
         "--methods", [&args](const std::vector<std::string>& methods) { args.methods = methods; },
         "capture only these methods, comma-separated ('*' for every method)")
      ->delimiter(',');
  add_admin_options(sub, args.admin);
}

int capture_command(const CaptureArgs& args) {
  return run_client_command("capture", [&] {
    std::string body = base::json_text(request_body(args));
    AdminClient client = make_admin_client(args.admin);
    AdminResponse response =
        client.post_json("/routes/" + percent_encode(args.route) + "/capture", body);
    if (response.status != 200) fail_for_status(client, args, response);
    nlohmann::json route = parse_admin_json(client, response, "the capture switch");
    std::string name = args.route;
    if (route.is_object() && route.contains("name") && route["name"].is_string()) {
      name = route["name"].get<std::string>();
    }
    // The name and the method list come back from the server: shown, not obeyed.
    std::printf("%s\n", printable(name + ": capture " + format_capture_state(route)).c_str());
    return kExitOk;
  });
}

}  // namespace mcptap::cli

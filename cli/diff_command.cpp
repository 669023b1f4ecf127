// `mcptap diff ID1 ID2`: the structural difference between two captured payloads.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/client_commands.h"
#include "cli/json_diff.h"
#include "cli/pg_url.h"
#include "sink/pg_connection.h"

namespace mcptap::cli {
namespace {

// Both ids are checked before either is looked up, so a typo is a usage error either way.
void require_message_ids(const std::string& first_id, const std::string& second_id) {
  for (const std::string* id : {&first_id, &second_id}) {
    if (!is_uuid_text(*id)) {
      throw CommandError("not a message id (expected a UUID): \"" + *id + "\"", kExitUsage);
    }
  }
}

nlohmann::json load_payload(sink::PgConnection& connection, const std::string& id) {
  std::string error;
  sink::PgResult result = connection.exec(
      "SELECT payload::text, truncated FROM mcptap.messages WHERE id = $1::uuid LIMIT 1", {id},
      &error);
  if (!error.empty() || !result) {
    throw CommandError("query failed: " + error.substr(0, error.find('\n')), kExitFailure);
  }
  if (PQntuples(result.get()) == 0) throw CommandError("no message with id " + id, kExitFailure);
  if (PQgetisnull(result.get(), 0, 0)) {
    bool truncated = std::string(PQgetvalue(result.get(), 0, 1)) == "t";
    throw CommandError("message " + id + " has no JSON payload to compare (" +
                           (truncated ? "it was truncated at capture" : "it was not valid JSON") +
                           ")",
                       kExitFailure);
  }
  return nlohmann::json::parse(PQgetvalue(result.get(), 0, 0));
}

}  // namespace

std::string diff_stored_payloads(sink::PgConnection& connection, const std::string& first_id,
                                 const std::string& second_id) {
  require_message_ids(first_id, second_id);
  nlohmann::json before = load_payload(connection, first_id);
  nlohmann::json after = load_payload(connection, second_id);
  return format_diff(diff_json(before, after));
}

void add_diff_options(CLI::App& sub, DiffArgs& args) {
  sub.add_option("id1", args.first_id, "row id (uuid) of the first message")->required();
  sub.add_option("id2", args.second_id, "row id (uuid) of the second message")->required();
  sub.add_option("--pg", args.pg_url, "PostgreSQL URL (default: env MCPTAP_PG_URL)");
  sub.footer(
      "Prints one line per difference (~ changed, + added, - removed) or \"identical\"; exits 0 "
      "either way.");
}

int diff_command(const DiffArgs& args) {
  if (int status = check_pg_url_option("diff", args.pg_url); status != kExitOk) return status;
  return run_client_command("diff", [&] {
    require_message_ids(args.first_id, args.second_id);  // before connecting
    sink::PgConnection connection = connect_database(resolve_pg_url(args.pg_url));
    std::fputs(diff_stored_payloads(connection, args.first_id, args.second_id).c_str(), stdout);
    return kExitOk;
  });
}

}  // namespace mcptap::cli

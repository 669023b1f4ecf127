// `mcptap diff ID1 ID2`: the structural difference between two captured payloads.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/client_commands.h"
#include "cli/json_diff.h"
#include "cli/pg_url.h"
#include "cli/terminal_text.h"
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

struct StoredMessage {
  nlohmann::json payload;
  bool tool_error = false;
};

StoredMessage load_message(sink::PgConnection& connection, const std::string& id) {
  auto fetched = connection.run(std::string("SELECT payload::text, truncated, ") + kToolErrorSql +
                                    " FROM mcptap.messages WHERE id = $1::uuid LIMIT 1",
                                {id}, sink::ErrorText::Full);
  if (!fetched) {
    const std::string& error = fetched.error().message;
    throw CommandError("query failed: " + error.substr(0, error.find('\n')), kExitFailure);
  }
  const sink::PgResult& result = *fetched;
  if (PQntuples(result.get()) == 0) throw CommandError("no message with id " + id, kExitFailure);
  if (PQgetisnull(result.get(), 0, 0)) {
    bool truncated = std::string(PQgetvalue(result.get(), 0, 1)) == "t";
    throw CommandError("message " + id + " has no JSON payload to compare (" +
                           (truncated ? "it was truncated at capture" : "it was not valid JSON") +
                           ")",
                       kExitFailure);
  }
  return {nlohmann::json::parse(PQgetvalue(result.get(), 0, 0)),
          std::string(PQgetvalue(result.get(), 0, 2)) == "t"};
}

// A tool failure's payload differs from a success's only in a flag and some text: a first
// line says which side failed, before the differences.
std::string tool_error_header(const StoredMessage& first, const StoredMessage& second) {
  if (first.tool_error && second.tool_error) return "tool error: both messages\n";
  if (first.tool_error) return "tool error: the first message, not the second\n";
  if (second.tool_error) return "tool error: the second message, not the first\n";
  return "";
}

}  // namespace

std::string diff_stored_payloads(sink::PgConnection& connection, const std::string& first_id,
                                 const std::string& second_id) {
  require_message_ids(first_id, second_id);
  StoredMessage before = load_message(connection, first_id);
  StoredMessage after = load_message(connection, second_id);
  std::vector<JsonChange> changes = diff_json(before.payload, after.payload);
  if (changes.empty()) return tool_error_header(before, after) + "identical\n";
  // Keys and values are captured data: each change is written out on its own line, so
  // neither a control nor a line break in a key reaches the terminal.
  std::string text = tool_error_header(before, after);
  for (const JsonChange& change : changes) text += printable(format_change(change)) + "\n";
  return text;
}

void add_diff_options(CLI::App& sub, DiffArgs& args) {
  sub.add_option("id1", args.first_id, "row id (uuid) of the first message")->required();
  sub.add_option("id2", args.second_id, "row id (uuid) of the second message")->required();
  sub.add_option("--pg", args.pg_url, "PostgreSQL URL (default: env MCPTAP_PG_URL)");
  sub.footer(
      "Prints one line per difference (~ changed, + added, - removed) or \"identical\", after "
      "a first line naming the side that is a tool error (result.isError), if any; exits 0 "
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

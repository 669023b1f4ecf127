// The mcptap binary: command-line parsing and dispatch to the subcommands.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/client_commands.h"
#include "cli/commands.h"
#include "cli/stdio_command.h"

namespace {

using namespace mcptap::cli;

int run_app(int argc, char** argv) {
  CLI::App app{"mcptap: transparent MCP capture sidecar"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mcptap ") + MCPTAP_VERSION);

  RunArgs run_args;
  CLI::App* run = app.add_subcommand("run", "Run the sidecar in the foreground");
  run->add_option("--config,-c", run_args.config_path, "JSON configuration file")
      ->required()
      ->check(CLI::ExistingFile);

  MigrateArgs migrate_args;
  CLI::App* migrate = app.add_subcommand("migrate", "Create or upgrade the PostgreSQL schema");
  migrate->add_option("--pg", migrate_args.pg_url, "PostgreSQL URL (default: env MCPTAP_PG_URL)");
  migrate->add_option("--config,-c", migrate_args.config_path, "take sink.postgres from this file")
      ->check(CLI::ExistingFile);
  migrate
      ->add_option("--days-ahead", migrate_args.partitions_ahead_days,
                   "daily partitions to create ahead of today")
      ->check(CLI::Range(0, 60));

  RoutesArgs routes_args;
  CLI::App* routes = app.add_subcommand("routes", "List routes, their capture state and counters");
  add_routes_options(*routes, routes_args);

  CaptureArgs capture_args;
  CLI::App* capture = app.add_subcommand("capture", "Switch capture of one route at runtime");
  add_capture_options(*capture, capture_args);

  StatusArgs status_args;
  CLI::App* status = app.add_subcommand("status", "Queue depth, spool, sink lag, drops, routes");
  add_status_options(*status, status_args);

  TailArgs tail_args;
  CLI::App* tail = app.add_subcommand("tail", "Live captured messages, one line each");
  add_tail_options(*tail, tail_args);

  QueryArgs query_args;
  CLI::App* query = app.add_subcommand(
      "query", "Read captured conversations from PostgreSQL; --trace ID follows a tool call");
  add_query_options(*query, query_args);

  DiffArgs diff_args;
  CLI::App* diff = app.add_subcommand("diff", "Structural diff of two captured messages");
  add_diff_options(*diff, diff_args);

  StdioArgs stdio_args;
  CLI::App* stdio =
      app.add_subcommand("stdio", "Run an MCP server as a child and capture its stdio");
  add_stdio_options(*stdio, stdio_args);

  CaInitArgs ca_init_args;
  CLI::App* ca = app.add_subcommand("ca", "Local CA for TLS interception");
  ca->require_subcommand(1);
  CLI::App* ca_init =
      ca->add_subcommand("init", "Create a local CA (ca.crt, ca.key) and print how to use it");
  add_ca_init_options(*ca_init, ca_init_args);

  CLI::App* version = app.add_subcommand("version", "Print the version");

  app.footer(
      "Usage by subcommand (each prints its options with --help). Details: man mcptap once\n"
      "installed, or man ./deploy/mcptap.1 in the source tree.\n"
      "  mcptap run --config FILE\n"
      "  mcptap stdio --route NAME [--config FILE] [--log-file PATH] -- COMMAND [ARGS...]\n"
      "  mcptap routes [--json] [--admin HOST:PORT] [--config FILE]\n"
      "  mcptap capture on|off ROUTE [--sample FRACTION] [--methods LIST] [--admin HOST:PORT]\n"
      "                [--config FILE]\n"
      "  mcptap status [--json] [--admin HOST:PORT] [--config FILE]\n"
      "  mcptap tail [--route NAME] [--method METHOD] [--json] [--admin HOST:PORT]\n"
      "             [--config FILE]\n"
      "  mcptap query [--route NAME] [--method METHOD] [--correlation ID] [--operation ID]\n"
      "               [--session ID] [--since DURATION] [--limit N] [--json] [--pg URL]\n"
      "  mcptap query --trace ID [--window SECONDS] [--json] [--pg URL]\n"
      "      follow a tools/call (ID: its row id, or its answer's) to the same call on\n"
      "      other routes within the window, and diff the hops\n"
      "  mcptap diff ID1 ID2 [--pg URL]\n"
      "  mcptap migrate [--pg URL] [--config FILE] [--days-ahead N]\n"
      "  mcptap ca init --out DIR [--days N]\n"
      "      a local CA for listen_tls.intercept (ca.crt, ca.key 0600; never overwrites;\n"
      "      valid 3650 days unless --days says)\n"
      "  mcptap version\n"
      "Environment: MCPTAP_PG_URL (the database), MCPTAP_ADMIN_TOKEN (the admin token).");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version_request) {
    return app.exit(version_request);
  } catch (const CLI::ParseError& error) {
    // One clear line, not CLI11's multi-line usage dump.
    print_error(error.what() + std::string(" (see mcptap --help)"));
    return kExitUsage;
  }
  if (*run) return run_command(run_args);
  if (*migrate) return migrate_command(migrate_args);
  if (*routes) return routes_command(routes_args);
  if (*capture) return capture_command(capture_args);
  if (*status) return status_command(status_args);
  if (*tail) return tail_command(tail_args);
  if (*query) return query_command(query_args);
  if (*diff) return diff_command(diff_args);
  if (*stdio) return stdio_command(stdio_args);
  if (*ca_init) return ca_init_command(ca_init_args);
  if (*version) {
    std::printf("mcptap %s\n", MCPTAP_VERSION);
    return kExitOk;
  }
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_app(argc, argv);
  } catch (const std::exception& error) {
    print_error(error.what());
    return kExitFailure;
  }
}

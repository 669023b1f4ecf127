// `mcptap migrate`: create or upgrade the schema, as the owner role, ahead of `run`.
#include <cstdlib>

#include "cli/commands.h"
#include "cli/config_loader.h"
#include "cli/pg_url.h"
#include "sink/pg_connection.h"
#include "sink/schema.h"

namespace mcptap::cli {

int migrate_command(const MigrateArgs& args) {
  if (int status = check_pg_url_option("migrate", args.pg_url); status != kExitOk) return status;
  std::string url = args.pg_url;
  if (url.empty()) {
    if (const char* env = std::getenv("MCPTAP_PG_URL"); env && *env) url = env;
  }
  if (url.empty() && !args.config_path.empty()) {
    base::Result<Config> loaded = load_config_file(args.config_path);
    if (!loaded) {
      print_error(loaded.error().message);
      return kExitUsage;
    }
    url = loaded->sink.postgres_url;
  }
  if (url.empty()) {
    print_error("migrate: no database: pass --pg URL or set MCPTAP_PG_URL");
    return kExitUsage;
  }
  sink::PgConnection connection(url);
  if (!connection.ok()) {
    print_error("migrate: cannot connect: " + connection.error());
    return kExitFailure;
  }
  if (base::Status migrated = sink::migrate(connection, args.partitions_ahead_days); !migrated) {
    print_error("migrate: " + sink::describe(migrated.error()));
    return kExitFailure;
  }
  std::printf("schema mcptap is up to date\n");
  return kExitOk;
}

}  // namespace mcptap::cli

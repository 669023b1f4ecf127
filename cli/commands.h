// The subcommands of the mcptap binary; each returns the process exit code.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace mcptap::cli {

struct RunArgs {
  std::string config_path;
};
int run_command(const RunArgs& args);

struct MigrateArgs {
  std::string config_path;  // optional: the DSN may come from it
  std::string pg_url;       // --pg, else MCPTAP_PG_URL, else the config's sink.postgres
  int partitions_ahead_days = 3;
};
int migrate_command(const MigrateArgs& args);

// `mcptap ca init`: a new local CA (ca.crt, ca.key) for listen_tls.intercept.
struct CaInitArgs {
  std::string out_dir;
  int days = 3650;  // a local CA is replaced by hand, so it lasts ten years
};
void add_ca_init_options(CLI::App& sub, CaInitArgs& args);
int ca_init_command(const CaInitArgs& args);

// Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

void print_error(const std::string& message);  // "mcptap: <message>" on stderr

}  // namespace mcptap::cli

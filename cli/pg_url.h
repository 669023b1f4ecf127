// Checks a PostgreSQL URL or key=value DSN at start, so a typo is named instead of
// surfacing later as an unrelated connection error.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace mcptap::cli {

// Fails with what libpq would refuse in `url` ("invalid PostgreSQL URL: unknown scheme
// \"postgress://\" (did you mean postgresql://?)"). The message never contains the
// password the string carries. An empty string is valid (libpq's defaults).
base::Status validate_pg_url(std::string_view url);

// For the database commands (query, diff, migrate): checks --pg, else MCPTAP_PG_URL when
// set, before anything connects. On a bad one prints "mcptap: COMMAND: --pg: <why>" and
// returns kExitUsage; otherwise kExitOk (also when neither is set: the command says so).
int check_pg_url_option(std::string_view command, const std::string& flag);

}  // namespace mcptap::cli

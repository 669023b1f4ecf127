// The mcptap schema: versioned migrations, daily range partitions and their retention.
#include "sink/schema.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

#include "base/clock.h"

namespace mcptap::sink {
namespace {

// Every DDL statement on the schema runs under this transaction-scoped advisory lock, so
// concurrent migrate/partition/retention calls (several sidecars, parallel tests) take
// turns instead of racing on the catalogs. The value is 0x6d63707461700001 ("mcptap", 1).
constexpr std::string_view kSchemaLockKey = "7882267417981747201";

constexpr int64_t kMicrosPerDay = int64_t{86'400} * 1'000'000;

struct Migration {
  int version;
  std::vector<std::string_view> statements;
};

// Append-only: a released version never changes; later versions add entries here.
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all = {
      {1,
       {
           R"(CREATE TABLE IF NOT EXISTS mcptap.messages (
                id uuid NOT NULL,
                captured_at timestamptz NOT NULL,
                route text NOT NULL,
                connection_id text NOT NULL,
                session_id text NOT NULL,
                transport text NOT NULL,
                direction text NOT NULL,
                kind text NOT NULL,
                jsonrpc_id text,
                method text,
                correlation_id uuid,
                latency_us bigint,
                payload jsonb,
                payload_bytes integer NOT NULL,
                truncated boolean NOT NULL DEFAULT false,
                redacted boolean NOT NULL DEFAULT false,
                meta jsonb NOT NULL DEFAULT '{}'::jsonb,
                PRIMARY KEY (id, captured_at)
              ) PARTITION BY RANGE (captured_at))",
           // BRIN suits an append-mostly time column: tiny, and time-range scans prune.
           "CREATE INDEX IF NOT EXISTS messages_captured_at_brin"
           " ON mcptap.messages USING brin (captured_at)",
           "CREATE INDEX IF NOT EXISTS messages_correlation_id_idx"
           " ON mcptap.messages (correlation_id)",
           "CREATE INDEX IF NOT EXISTS messages_route_captured_at_idx"
           " ON mcptap.messages (route, captured_at)",
       }},
  };
  return all;
}

bool succeeded(const PgResult& result) {
  if (!result) return false;
  ExecStatusType status = PQresultStatus(result.get());
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

std::chrono::year_month_day civil_day(int64_t utc_day) {
  return std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{utc_day}}};
}

// '2024-05-01 00:00:00+00': the first instant of a UTC day, as a SQL literal.
std::string day_start_literal(int64_t utc_day) {
  auto day = civil_day(utc_day);
  char text[48];
  std::snprintf(text, sizeof text, "'%04d-%02u-%02u 00:00:00+00'", static_cast<int>(day.year()),
                static_cast<unsigned>(day.month()), static_cast<unsigned>(day.day()));
  return text;
}

// The day a partition holds, read back from its name; nullopt for anything else.
std::optional<int64_t> day_of_partition_name(std::string_view name) {
  constexpr std::string_view prefix = "messages_";
  if (name.size() != prefix.size() + 8 || name.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  int digits[8];
  for (size_t i = 0; i < 8; ++i) {
    char c = name[prefix.size() + i];
    if (c < '0' || c > '9') return std::nullopt;
    digits[i] = c - '0';
  }
  int year = digits[0] * 1000 + digits[1] * 100 + digits[2] * 10 + digits[3];
  unsigned month = static_cast<unsigned>(digits[4] * 10 + digits[5]);
  unsigned day = static_cast<unsigned>(digits[6] * 10 + digits[7]);
  std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month{month},
                                   std::chrono::day{day}};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days{date}.time_since_epoch().count();
}

// DDL cannot take parameters; the name and bounds derive from an integer day only, so
// nothing from outside reaches this text.
std::string create_partition_sql(int64_t utc_day) {
  return "CREATE TABLE IF NOT EXISTS mcptap." + partition_name_for_day(utc_day) +
         " PARTITION OF mcptap.messages FOR VALUES FROM (" + day_start_literal(utc_day) + ") TO (" +
         day_start_literal(utc_day + 1) + ")";
}

// A transaction holding the schema lock; rolls back unless committed.
class LockedTransaction {
 public:
  explicit LockedTransaction(PgConnection& connection) : connection_(connection) {}
  ~LockedTransaction() {
    PgFailure ignored;
    if (open_ && !committed_ && connection_.ok()) connection_.run_ok("ROLLBACK", &ignored);
  }
  LockedTransaction(const LockedTransaction&) = delete;
  LockedTransaction& operator=(const LockedTransaction&) = delete;

  bool begin(PgFailure* failure) {
    if (!connection_.run_ok("BEGIN", failure)) return false;
    open_ = true;
    return succeeded(connection_.run("SELECT pg_advisory_xact_lock($1::bigint)",
                                     {std::string(kSchemaLockKey)}, failure));
  }
  bool commit(PgFailure* failure) {
    committed_ = connection_.run_ok("COMMIT", failure);
    return committed_;
  }

 private:
  PgConnection& connection_;
  bool open_ = false;
  bool committed_ = false;
};

bool create_bookkeeping(PgConnection& connection, PgFailure* failure) {
  return connection.run_ok("CREATE SCHEMA IF NOT EXISTS mcptap", failure) &&
         connection.run_ok(
             "CREATE TABLE IF NOT EXISTS mcptap.schema_migrations ("
             " version integer PRIMARY KEY,"
             " applied_at timestamptz NOT NULL DEFAULT now())",
             failure);
}

// The highest applied version; 0 for a database without the schema. -1 on failure.
int applied_version(PgConnection& connection, PgFailure* failure) {
  // Two statements: a query naming a missing table fails at parse time, CASE or not.
  PgResult exists =
      connection.run("SELECT to_regclass($1) IS NOT NULL", {"mcptap.schema_migrations"}, failure);
  if (!succeeded(exists)) return -1;
  if (PQgetvalue(exists.get(), 0, 0)[0] != 't') return 0;
  PgResult result =
      connection.run("SELECT coalesce(max(version), 0) FROM mcptap.schema_migrations", {}, failure);
  if (!succeeded(result)) return -1;
  return std::atoi(PQgetvalue(result.get(), 0, 0));
}

bool apply_migration(PgConnection& connection, const Migration& migration, PgFailure* failure) {
  for (std::string_view statement : migration.statements) {
    if (!connection.run_ok(std::string(statement), failure)) {
      failure->message = "migration " + std::to_string(migration.version) + ": " + failure->message;
      return false;
    }
  }
  return succeeded(connection.run("INSERT INTO mcptap.schema_migrations (version) VALUES ($1)",
                                  {std::to_string(migration.version)}, failure));
}

bool upgrade_schema(PgConnection& connection, PgFailure* failure) {
  int applied = applied_version(connection, failure);
  if (applied < 0) return false;
  // Up to date: touch nothing, so a role without CREATE on the database still gets here.
  if (applied >= latest_schema_version()) return true;
  if (!create_bookkeeping(connection, failure)) return false;
  for (const Migration& migration : migrations()) {
    if (migration.version > applied && !apply_migration(connection, migration, failure)) {
      return false;
    }
  }
  return true;
}

bool partition_exists(PgConnection& connection, int64_t utc_day, bool* exists, PgFailure* failure) {
  PgResult result = connection.run("SELECT to_regclass($1) IS NOT NULL",
                                   {"mcptap." + partition_name_for_day(utc_day)}, failure);
  if (!succeeded(result)) return false;
  *exists = PQgetvalue(result.get(), 0, 0)[0] == 't';
  return true;
}

// Names of the current partitions of mcptap.messages.
bool list_partitions(PgConnection& connection, std::vector<std::string>* names,
                     PgFailure* failure) {
  PgResult result = connection.run(
      "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
      " WHERE i.inhparent = to_regclass($1)",
      {"mcptap.messages"}, failure);
  if (!succeeded(result)) return false;
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    names->emplace_back(PQgetvalue(result.get(), row, 0));
  }
  return true;
}

bool migrate_reporting(PgConnection& connection, int days_ahead, PgFailure* failure) {
  LockedTransaction transaction(connection);
  if (!transaction.begin(failure) || !upgrade_schema(connection, failure)) return false;
  int64_t today = utc_day_of(base::unix_now_us());
  for (int64_t day = today; day <= today + days_ahead; ++day) {
    if (!connection.run_ok(create_partition_sql(day), failure)) return false;
  }
  return transaction.commit(failure);
}

int drop_expired_reporting(PgConnection& connection, int retention_days, PgFailure* failure) {
  // A day is expired once its last instant is older than the retention window.
  int64_t first_kept_day = utc_day_of(base::unix_now_us()) - retention_days;
  LockedTransaction transaction(connection);
  std::vector<std::string> names;
  if (!transaction.begin(failure) || !list_partitions(connection, &names, failure)) return -1;
  int dropped = 0;
  for (const std::string& name : names) {
    std::optional<int64_t> day = day_of_partition_name(name);
    if (!day || *day >= first_kept_day) continue;
    // The name matched messages_YYYYMMDD above, so it is safe to splice in.
    if (!connection.run_ok("DROP TABLE IF EXISTS mcptap." + name, failure)) return -1;
    ++dropped;
  }
  return transaction.commit(failure) ? dropped : -1;
}

// Keeps the old string-error interface for the CLI: the message, with the SQLSTATE.
void describe(const PgFailure& failure, std::string* error) {
  if (!error) return;
  *error = failure.message;
  if (!failure.sqlstate.empty()) *error += " (SQLSTATE " + failure.sqlstate + ")";
}

}  // namespace

int latest_schema_version() {
  return migrations().back().version;
}

int64_t utc_day_of(int64_t unix_us) {
  int64_t day = unix_us / kMicrosPerDay;
  return (unix_us % kMicrosPerDay < 0) ? day - 1 : day;
}

std::string partition_name_for_day(int64_t utc_day) {
  auto day = civil_day(utc_day);
  char name[32];
  std::snprintf(name, sizeof name, "messages_%04d%02u%02u", static_cast<int>(day.year()),
                static_cast<unsigned>(day.month()), static_cast<unsigned>(day.day()));
  return name;
}

bool partition_day_supported(int64_t utc_day) {
  auto year = static_cast<int>(civil_day(utc_day).year());
  return year >= 1 && year <= 9999;
}

bool migrate(PgConnection& connection, int days_ahead, std::string* error) {
  PgFailure failure;
  if (migrate_reporting(connection, days_ahead, &failure)) return true;
  describe(failure, error);
  return false;
}

bool ensure_partition_for(PgConnection& connection, int64_t unix_us, PgFailure* failure) {
  int64_t day = utc_day_of(unix_us);
  if (!partition_day_supported(day)) {
    *failure = {"22008", "captured_at is outside the years 1 to 9999"};
    return false;
  }
  bool exists = false;
  // The common case needs no lock: the partition is there already.
  if (!partition_exists(connection, day, &exists, failure)) return false;
  if (exists) return true;
  LockedTransaction transaction(connection);
  return transaction.begin(failure) && connection.run_ok(create_partition_sql(day), failure) &&
         transaction.commit(failure);
}

bool ensure_partition_for(PgConnection& connection, int64_t unix_us, std::string* error) {
  PgFailure failure;
  if (ensure_partition_for(connection, unix_us, &failure)) return true;
  describe(failure, error);
  return false;
}

int drop_expired_partitions(PgConnection& connection, int retention_days, std::string* error) {
  if (retention_days < 1) return 0;
  PgFailure failure;
  int dropped = drop_expired_reporting(connection, retention_days, &failure);
  if (dropped < 0) describe(failure, error);
  return dropped;
}

}  // namespace mcptap::sink

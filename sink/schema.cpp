// The mcptap schema: versioned migrations, daily range partitions and their retention.
#include "sink/schema.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "sink/record_columns.h"

namespace mcptap::sink {
namespace {

// Every DDL statement on the schema runs under this transaction-scoped advisory lock, so
// concurrent migrate/partition/retention calls (several sidecars, parallel tests) take
// turns instead of racing on the catalogs. The value is 0x6d63707461700001 ("mcptap", 1).
constexpr std::string_view kSchemaLockKey = "7882267417981747201";

constexpr int64_t kMicrosPerDay = int64_t{86'400} * 1'000'000;

// What a schema version runs besides adding its columns of mcptap.messages, which come from
// sink/record_columns.h. Append-only: a released version never changes.
struct SchemaChange {
  int version;
  std::vector<std::string_view> statements;
};

const std::vector<SchemaChange>& schema_changes() {
  static const std::vector<SchemaChange> all = {
      {1,
       {
           // BRIN suits an append-mostly time column: tiny, and time-range scans prune.
           "CREATE INDEX IF NOT EXISTS messages_captured_at_brin"
           " ON mcptap.messages USING brin (captured_at)",
           "CREATE INDEX IF NOT EXISTS messages_correlation_id_idx"
           " ON mcptap.messages (correlation_id)",
           "CREATE INDEX IF NOT EXISTS messages_route_captured_at_idx"
           " ON mcptap.messages (route, captured_at)",
       }},
      {2,
       {
           // Partial: rows without an operation (every row stored before version 2) cost
           // nothing, and `operation_id = $1` implies NOT NULL, so the planner still uses it.
           // Created on the partitioned parent, it cascades to every partition, present and
           // future; it holds writes while it builds over existing partitions (the spool
           // absorbs the pause).
           "CREATE INDEX IF NOT EXISTS messages_operation_id_idx"
           " ON mcptap.messages (operation_id) WHERE operation_id IS NOT NULL",
       }},
  };
  return all;
}

// Everything one version runs: its columns first (an index may name them), then the rest.
std::vector<std::string> migration_statements(int version) {
  std::vector<std::string> statements = column_ddl(version);
  for (const SchemaChange& change : schema_changes()) {
    if (change.version != version) continue;
    statements.insert(statements.end(), change.statements.begin(), change.statements.end());
  }
  return statements;
}

// Success, or the failure of a statement whose rows do not matter.
base::Status as_status(const base::Result<PgResult>& result) {
  if (!result) return result.error();
  return {};
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
    if (open_ && !committed_ && connection_.ok()) (void)connection_.run("ROLLBACK");
  }
  LockedTransaction(const LockedTransaction&) = delete;
  LockedTransaction& operator=(const LockedTransaction&) = delete;

  base::Status begin() {
    if (auto began = connection_.run("BEGIN"); !began) return began.error();
    open_ = true;
    return as_status(
        connection_.run("SELECT pg_advisory_xact_lock($1::bigint)", {std::string(kSchemaLockKey)}));
  }
  base::Status commit() {
    base::Status committed = as_status(connection_.run("COMMIT"));
    committed_ = committed.ok();
    return committed;
  }

 private:
  PgConnection& connection_;
  bool open_ = false;
  bool committed_ = false;
};

base::Status create_bookkeeping(PgConnection& connection) {
  if (auto created = connection.run("CREATE SCHEMA IF NOT EXISTS mcptap"); !created) {
    return created.error();
  }
  return as_status(
      connection.run("CREATE TABLE IF NOT EXISTS mcptap.schema_migrations ("
                     " version integer PRIMARY KEY,"
                     " applied_at timestamptz NOT NULL DEFAULT now())"));
}

// The highest applied version; 0 for a database without the schema.
base::Result<int> applied_version(PgConnection& connection) {
  // Two statements: a query naming a missing table fails at parse time, CASE or not.
  auto exists = connection.run("SELECT to_regclass($1) IS NOT NULL", {"mcptap.schema_migrations"});
  if (!exists) return exists.error();
  if (PQgetvalue(exists->get(), 0, 0)[0] != 't') return 0;
  auto result = connection.run("SELECT coalesce(max(version), 0) FROM mcptap.schema_migrations");
  if (!result) return result.error();
  return std::atoi(PQgetvalue(result->get(), 0, 0));
}

base::Status apply_migration(PgConnection& connection, int version) {
  for (const std::string& statement : migration_statements(version)) {
    if (auto applied = connection.run(statement); !applied) {
      base::Error error = applied.error();
      error.message = "migration " + std::to_string(version) + ": " + error.message;
      return error;
    }
  }
  return as_status(connection.run("INSERT INTO mcptap.schema_migrations (version) VALUES ($1)",
                                  {std::to_string(version)}));
}

base::Status upgrade_schema(PgConnection& connection) {
  base::Result<int> applied = applied_version(connection);
  if (!applied) return applied.error();
  // Up to date: touch nothing, so a role without CREATE on the database still gets here.
  if (*applied >= latest_schema_version()) return {};
  if (base::Status created = create_bookkeeping(connection); !created) return created;
  for (int version = *applied + 1; version <= latest_schema_version(); ++version) {
    if (base::Status migrated = apply_migration(connection, version); !migrated) return migrated;
  }
  return {};
}

base::Result<bool> partition_exists(PgConnection& connection, int64_t utc_day) {
  auto result = connection.run("SELECT to_regclass($1) IS NOT NULL",
                               {"mcptap." + partition_name_for_day(utc_day)});
  if (!result) return result.error();
  return PQgetvalue(result->get(), 0, 0)[0] == 't';
}

// Names of the current partitions of mcptap.messages.
base::Result<std::vector<std::string>> list_partitions(PgConnection& connection) {
  auto result = connection.run(
      "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
      " WHERE i.inhparent = to_regclass($1)",
      {"mcptap.messages"});
  if (!result) return result.error();
  std::vector<std::string> names;
  for (int row = 0; row < PQntuples(result->get()); ++row) {
    names.emplace_back(PQgetvalue(result->get(), row, 0));
  }
  return names;
}

}  // namespace

int latest_schema_version() {
  int latest = latest_column_version();
  for (const SchemaChange& change : schema_changes()) latest = std::max(latest, change.version);
  return latest;
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

base::Status migrate(PgConnection& connection, int days_ahead) {
  LockedTransaction transaction(connection);
  if (base::Status began = transaction.begin(); !began) return began;
  if (base::Status upgraded = upgrade_schema(connection); !upgraded) return upgraded;
  int64_t today = utc_day_of(base::unix_now_us());
  for (int64_t day = today; day <= today + days_ahead; ++day) {
    if (auto created = connection.run(create_partition_sql(day)); !created) return created.error();
  }
  return transaction.commit();
}

base::Status ensure_partition_for(PgConnection& connection, int64_t unix_us) {
  int64_t day = utc_day_of(unix_us);
  if (!partition_day_supported(day)) {
    return base::fail("captured_at is outside the years 1 to 9999", "22008");
  }
  // The common case needs no lock: the partition is there already.
  base::Result<bool> exists = partition_exists(connection, day);
  if (!exists) return exists.error();
  if (*exists) return {};
  LockedTransaction transaction(connection);
  if (base::Status began = transaction.begin(); !began) return began;
  if (auto created = connection.run(create_partition_sql(day)); !created) return created.error();
  return transaction.commit();
}

base::Result<int> drop_expired_partitions(PgConnection& connection, int retention_days) {
  if (retention_days < 1) return 0;
  // A day is expired once its last instant is older than the retention window.
  int64_t first_kept_day = utc_day_of(base::unix_now_us()) - retention_days;
  LockedTransaction transaction(connection);
  if (base::Status began = transaction.begin(); !began) return began.error();
  auto names = list_partitions(connection);
  if (!names) return names.error();
  int dropped = 0;
  for (const std::string& name : *names) {
    std::optional<int64_t> day = day_of_partition_name(name);
    if (!day || *day >= first_kept_day) continue;
    // The name matched messages_YYYYMMDD above, so it is safe to splice in.
    if (auto gone = connection.run("DROP TABLE IF EXISTS mcptap." + name); !gone) {
      return gone.error();
    }
    ++dropped;
  }
  if (base::Status committed = transaction.commit(); !committed) return committed.error();
  return dropped;
}

}  // namespace mcptap::sink

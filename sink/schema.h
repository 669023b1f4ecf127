// The mcptap schema: creation, upgrades, daily partitions and retention.
#pragma once

#include <cstdint>
#include <string>

#include "sink/pg_connection.h"

namespace mcptap::sink {

// Creates or upgrades schema mcptap (idempotent, safe to run concurrently: it takes an
// advisory lock), and makes sure partitions exist from today to days_ahead days ahead.
bool migrate(PgConnection& connection, int days_ahead, std::string* error);

// Makes sure the partition holding the day of unix_us exists. The PgFailure form tells a
// lost connection from a refused value (a day outside the years 1..9999 is SQLSTATE 22008).
bool ensure_partition_for(PgConnection& connection, int64_t unix_us, std::string* error);
bool ensure_partition_for(PgConnection& connection, int64_t unix_us, PgFailure* failure);

// Drops whole partitions whose day ended more than retention_days ago. Returns the number
// dropped, or -1 with *error set. retention_days < 1 keeps everything (returns 0).
int drop_expired_partitions(PgConnection& connection, int retention_days, std::string* error);

// The newest schema version migrate() installs (rows of mcptap.schema_migrations).
int latest_schema_version();

// Days since 1970-01-01 in UTC (floored, so instants before 1970 work too).
int64_t utc_day_of(int64_t unix_us);

// Whether a day can have a partition: its year is 1..9999.
bool partition_day_supported(int64_t utc_day);

// The partition of mcptap.messages holding one UTC day: "messages_YYYYMMDD".
std::string partition_name_for_day(int64_t utc_day);

}  // namespace mcptap::sink

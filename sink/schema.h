// The mcptap schema: creation, upgrades, daily partitions and retention.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "sink/pg_connection.h"

namespace mcptap::sink {

// Creates or upgrades schema mcptap (idempotent, safe to run concurrently: it takes an
// advisory lock), and makes sure partitions exist from today to days_ahead days ahead. The
// columns of mcptap.messages come from sink/record_columns.h.
base::Status migrate(PgConnection& connection, int days_ahead);

// Makes sure the partition holding the day of unix_us exists. The error's code is the
// SQLSTATE, which tells a lost connection (none) from a refused value (a day outside the
// years 1..9999 is 22008).
base::Status ensure_partition_for(PgConnection& connection, int64_t unix_us);

// Drops whole partitions whose day ended more than retention_days ago; returns how many.
// retention_days < 1 keeps everything (returns 0).
base::Result<int> drop_expired_partitions(PgConnection& connection, int retention_days);

// The newest schema version migrate() installs (rows of mcptap.schema_migrations).
int latest_schema_version();

// Days since 1970-01-01 in UTC (floored, so instants before 1970 work too).
int64_t utc_day_of(int64_t unix_us);

// Whether a day can have a partition: its year is 1..9999.
bool partition_day_supported(int64_t utc_day);

// The partition of mcptap.messages holding one UTC day: "messages_YYYYMMDD".
std::string partition_name_for_day(int64_t utc_day);

}  // namespace mcptap::sink

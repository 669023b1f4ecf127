// The mcptap schema: creation, upgrades, daily partitions and retention.
#pragma once

#include <string>

#include "sink/pg_connection.h"

namespace mcptap::sink {

// Creates or upgrades schema mcptap (idempotent, safe to run concurrently: it takes an
// advisory lock), and makes sure partitions exist from today to days_ahead days ahead.
bool migrate(PgConnection& connection, int days_ahead, std::string* error);

// Makes sure the partition holding the day of unix_us exists.
bool ensure_partition_for(PgConnection& connection, int64_t unix_us, std::string* error);

// Drops whole partitions whose day ended more than retention_days ago. Returns the number
// dropped, or -1 with *error set.
int drop_expired_partitions(PgConnection& connection, int retention_days, std::string* error);

}  // namespace mcptap::sink

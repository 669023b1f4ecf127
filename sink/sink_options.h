// Settings of the sink: where records go and how they are batched.
#pragma once

#include <cstddef>
#include <string>

namespace mcptap::sink {

struct SinkOptions {
  std::string postgres_url;  // libpq URL or key=value DSN
  std::string spool_dir = "/var/lib/mcptap/spool";
  size_t batch_max_rows = 1000;
  int flush_interval_ms = 50;
  size_t queue_max_bytes = 64u << 20;  // in-memory queue bound; past it, drops
  int retention_days = 7;
  int partitions_ahead_days = 3;  // today plus this many days exist ahead
  int reconnect_initial_ms = 100;
  int reconnect_max_ms = 5000;
};

}  // namespace mcptap::sink

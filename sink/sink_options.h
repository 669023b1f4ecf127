// Settings of the sink: the spool, where records go and how they are batched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mcptap::sink {

struct SinkOptions {
  std::string postgres_url;  // libpq URL or key=value DSN
  std::string spool_dir = "/var/lib/mcptap/spool";
  // Bound on the spool's segment files on disk; past it new captures are dropped, counted.
  uint64_t spool_max_bytes = uint64_t{1} << 30;
  // How often the spool is fsynced: what a machine crash can lose (a process kill loses
  // nothing, the bytes are in the page cache). 0 syncs on every flusher turn (10 ms).
  int fsync_interval_ms = 200;
  // Segments roll past this size (and past a quarter of spool_max_bytes, so committed
  // segments are freed while the spool is small).
  uint64_t segment_bytes = uint64_t{64} << 20;
  size_t batch_max_rows = 1000;
  int flush_interval_ms = 50;
  // At shutdown, once connections are drained (proxy.drain_timeout_ms, a separate bound),
  // how long the sink may go on shipping the spool to PostgreSQL. What is not committed by
  // then stays in the spool for the next start: nothing is lost, and an unreachable
  // PostgreSQL does not hold the exit up.
  int shutdown_flush_timeout_ms = 5000;
  int retention_days = 7;
  int partitions_ahead_days = 3;  // today plus this many days exist ahead
  int reconnect_initial_ms = 100;
  int reconnect_max_ms = 5000;
};

}  // namespace mcptap::sink

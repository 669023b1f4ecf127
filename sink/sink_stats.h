// Counters the sink exposes to status and metrics; written by the sink thread, read anywhere.
#pragma once

#include <atomic>
#include <cstdint>

namespace mcptap::sink {

struct SinkStats {
  std::atomic<uint64_t> accepted_records{0};   // handed to the sink
  std::atomic<uint64_t> dropped_records{0};    // refused: spool full or failing, sink stopped
  std::atomic<uint64_t> written_records{0};    // committed in PostgreSQL (new rows)
  std::atomic<uint64_t> batches_committed{0};  // batches fully settled
  std::atomic<uint64_t> batches_failed{0};     // write attempts that must be retried
  std::atomic<uint64_t> rejected_records{0};   // a data error PostgreSQL would not take
  std::atomic<bool> postgres_up{false};  // connected; false again once a write or connect fails
  std::atomic<int64_t> last_commit_unix_us{0};
  std::atomic<int64_t> oldest_queued_unix_us{0};  // captured_at of the oldest waiting record

  // The spool. Pending means appended and not yet settled in PostgreSQL (committed or
  // rejected); what is pending after stop() was not shipped. Bytes are frame bytes on disk.
  std::atomic<uint64_t> spool_records{0};
  std::atomic<uint64_t> spool_bytes{0};
  std::atomic<uint64_t> spool_disk_bytes{0};       // all segment files, committed or not
  std::atomic<uint64_t> spool_full_drops{0};       // dropped: spool_max_bytes reached
  std::atomic<uint64_t> spool_write_errors{0};     // dropped: write failed (ENOSPC, EIO, ...)
  std::atomic<uint64_t> spool_corrupt_records{0};  // damaged frames skipped on reading
  std::atomic<uint64_t> spool_truncated_bytes{0};  // torn tails cut off at recovery
  std::atomic<bool> spool_usable{false};           // the directory opened and is locked

  // Capture is degraded while the spool drops what it is given (writes failing, the
  // spool_max_bytes bound reached), from the first such drop until a write succeeds again.
  // Forwarding goes on meanwhile; /readyz, /status and `mcptap status` say so.
  std::atomic<int64_t> degraded_since_unix_us{0};  // 0: capturing normally
  // Why: an errno value, or one of the causes below.
  std::atomic<int> degraded_cause{0};
  std::atomic<uint64_t> degraded_drops{0};       // records dropped since degraded_since_unix_us
  static constexpr int kDegradedSpoolFull = -1;  // spool_max_bytes reached
  static constexpr int kDegradedUnusable = -2;   // the directory could not be used at all
};

}  // namespace mcptap::sink

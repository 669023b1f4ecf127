// Counters the sink exposes to status and metrics; written by the sink thread, read anywhere.
#pragma once

#include <atomic>
#include <cstdint>

namespace mcptap::sink {

struct SinkStats {
  std::atomic<uint64_t> accepted_records{0};   // handed to the sink
  std::atomic<uint64_t> dropped_records{0};    // refused: queue full or sink stopped
  std::atomic<uint64_t> written_records{0};    // committed in PostgreSQL (new rows)
  std::atomic<uint64_t> batches_committed{0};  // batches fully settled
  std::atomic<uint64_t> batches_failed{0};     // write attempts that must be retried
  std::atomic<uint64_t> rejected_records{0};   // a data error PostgreSQL would not take
  // Accepted but not yet settled (committed or rejected): waiting in the queue or in the
  // batch being written. What is left here after stop() was not shipped.
  std::atomic<uint64_t> queued_records{0};
  std::atomic<uint64_t> queued_bytes{0};  // their Record::footprint_bytes()
  std::atomic<bool> postgres_up{false};   // connected; false again once a write or connect fails
  std::atomic<int64_t> last_commit_unix_us{0};
  std::atomic<int64_t> oldest_queued_unix_us{0};  // captured_at of the oldest waiting record
};

}  // namespace mcptap::sink

// The bounded hand-over between the loop thread, which must never wait, and the sink thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "capture/record.h"
#include "sink/record_batch.h"

namespace mcptap::sink {

// Records in arrival order, bounded by their total footprint_bytes(). Any number of
// producers push (never blocking: a full or closed queue refuses and counts a drop); one
// consumer takes batches. A durable spool can take this role later: the sink only needs
// push, pop_batch and close.
class RecordQueue {
 public:
  explicit RecordQueue(size_t max_bytes);
  RecordQueue(const RecordQueue&) = delete;
  RecordQueue& operator=(const RecordQueue&) = delete;

  // Queues the record, or refuses it (returns false, counts a drop) when it would take the
  // queue past max_bytes or the queue is closed. Holds the lock only to append.
  bool push(capture::Record&& record);

  // Appends up to max_rows records to *batch, oldest first, and returns how many. Returns
  // once max_rows are waiting, once `linger` has passed since the oldest waiting record
  // arrived, at once when closed, or with 0 after `linger` with nothing arriving. When the
  // whole queue fits and *batch is empty, the records change hands by swapping containers.
  size_t pop_batch(size_t max_rows, std::chrono::milliseconds linger, RecordBatch* batch);

  // Refuses further pushes and wakes the consumer; what is queued can still be popped.
  void close();

  // Readable from any thread.
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  bool closed() const { return closed_.load(std::memory_order_relaxed); }
  // captured_at of the record at the head of the queue; 0 when empty.
  int64_t oldest_captured_at_us() const {
    return oldest_captured_at_us_.load(std::memory_order_relaxed);
  }

 private:
  using Clock = std::chrono::steady_clock;

  bool ready_to_pop(size_t max_rows, std::chrono::milliseconds linger, Clock::time_point idle_until,
                    Clock::time_point* wait_until) const;
  size_t take(size_t max_rows, RecordBatch* batch);
  void publish_sizes();

  const size_t max_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable records_ready_;
  RecordBatch records_;                // guarded by mutex_
  size_t records_bytes_ = 0;           // guarded by mutex_
  Clock::time_point first_arrival_{};  // when the queue last went from empty to not
  size_t consumer_wants_rows_ = 0;     // a push reaching this many wakes the consumer
  std::atomic<size_t> size_{0};
  std::atomic<size_t> bytes_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<bool> closed_{false};
  std::atomic<int64_t> oldest_captured_at_us_{0};
};

}  // namespace mcptap::sink

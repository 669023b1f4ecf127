// A byte-bounded multi-producer, single-consumer record queue with batch hand-over.
#include "sink/record_queue.h"

#include <utility>

namespace mcptap::sink {

RecordQueue::RecordQueue(size_t max_bytes) : max_bytes_(max_bytes) {}

bool RecordQueue::push(capture::Record&& record) {
  const size_t footprint = record.footprint_bytes();
  bool wake_consumer = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_.load(std::memory_order_relaxed) || records_bytes_ + footprint > max_bytes_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (records_.empty()) {
      first_arrival_ = Clock::now();
      oldest_captured_at_us_.store(record.captured_at_us, std::memory_order_relaxed);
      wake_consumer = true;
    }
    records_.push_back(std::move(record));
    records_bytes_ += footprint;
    wake_consumer = wake_consumer || records_.size() == consumer_wants_rows_;
    publish_sizes();
  }
  // Woken only on the two events it waits for, the consumer costs the producer little.
  if (wake_consumer) records_ready_.notify_one();
  return true;
}

size_t RecordQueue::pop_batch(size_t max_rows, std::chrono::milliseconds linger,
                              RecordBatch* batch) {
  if (max_rows == 0) return 0;
  const Clock::time_point idle_until = Clock::now() + linger;
  std::unique_lock lock(mutex_);
  consumer_wants_rows_ = max_rows;
  Clock::time_point wait_until;
  while (!ready_to_pop(max_rows, linger, idle_until, &wait_until)) {
    records_ready_.wait_until(lock, wait_until);
  }
  consumer_wants_rows_ = 0;
  return take(max_rows, batch);
}

void RecordQueue::close() {
  {
    std::lock_guard lock(mutex_);
    closed_.store(true, std::memory_order_relaxed);
  }
  records_ready_.notify_all();
}

// Whether pop_batch should stop waiting; if not, *wait_until says until when to sleep.
// Linger counts from the oldest waiting record's arrival, not from the call.
bool RecordQueue::ready_to_pop(size_t max_rows, std::chrono::milliseconds linger,
                               Clock::time_point idle_until, Clock::time_point* wait_until) const {
  if (closed_.load(std::memory_order_relaxed) || records_.size() >= max_rows) return true;
  *wait_until = records_.empty() ? idle_until : first_arrival_ + linger;
  return Clock::now() >= *wait_until;
}

size_t RecordQueue::take(size_t max_rows, RecordBatch* batch) {
  size_t taken = 0;
  if (records_.size() <= max_rows && batch->empty()) {
    batch->swap(records_);
    taken = batch->size();
    records_bytes_ = 0;
  } else {
    while (taken < max_rows && !records_.empty()) {
      records_bytes_ -= records_.front().footprint_bytes();
      batch->push_back(std::move(records_.front()));
      records_.pop_front();
      ++taken;
    }
    // The records left behind arrived while the consumer was busy: their batch is due at
    // once, so first_arrival_ keeps its (past) value.
  }
  oldest_captured_at_us_.store(records_.empty() ? 0 : records_.front().captured_at_us,
                               std::memory_order_relaxed);
  publish_sizes();
  return taken;
}

void RecordQueue::publish_sizes() {
  size_.store(records_.size(), std::memory_order_relaxed);
  bytes_.store(records_bytes_, std::memory_order_relaxed);
}

}  // namespace mcptap::sink

// The sink's face to the proxy: a non-blocking consume() on the loop thread, and a thread
// of its own (SinkWorker) that ships to PostgreSQL.
#include "sink/sink.h"

#include <mutex>
#include <thread>

#include "sink/record_queue.h"
#include "sink/sink_worker.h"

namespace mcptap::sink {

struct Sink::State {
  explicit State(SinkOptions sink_options)
      : options(std::move(sink_options)),
        queue(options.queue_max_bytes),
        worker(options, stats, queue, stop) {}

  SinkOptions options;
  SinkStats stats;
  RecordQueue queue;
  StopSignal stop;
  SinkWorker worker;
  std::mutex lifecycle_mutex;  // start() and stop() may come from different threads
  std::thread thread;
};

Sink::Sink(SinkOptions options) : state_(std::make_unique<State>(std::move(options))) {}

Sink::~Sink() {
  stop(std::chrono::milliseconds(0));
}

void Sink::start() {
  std::lock_guard lock(state_->lifecycle_mutex);
  if (state_->thread.joinable() || state_->stop.stopping()) return;
  state_->thread = std::thread([state = state_.get()] { state->worker.run(); });
}

bool Sink::consume(capture::Record&& record) {
  SinkStats& stats = state_->stats;
  const size_t footprint = record.footprint_bytes();
  // Counted before the push: the sink thread may settle the record before push returns.
  stats.queued_records.fetch_add(1, std::memory_order_relaxed);
  stats.queued_bytes.fetch_add(footprint, std::memory_order_relaxed);
  if (!state_->queue.push(std::move(record))) {
    stats.queued_records.fetch_sub(1, std::memory_order_relaxed);
    stats.queued_bytes.fetch_sub(footprint, std::memory_order_relaxed);
    stats.dropped_records.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  stats.accepted_records.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool Sink::stop(std::chrono::milliseconds drain_deadline) {
  std::lock_guard lock(state_->lifecycle_mutex);
  state_->stop.request(drain_deadline);
  state_->queue.close();
  if (state_->thread.joinable()) state_->thread.join();
  return state_->stats.queued_records.load() == 0;
}

const SinkStats& Sink::stats() const {
  return state_->stats;
}

}  // namespace mcptap::sink

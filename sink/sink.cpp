// The sink's face to the proxy: consume() appends to the spool on the loop thread, and a
// thread of its own (SinkWorker) ships the spool to PostgreSQL.
#include "sink/sink.h"

#include <cstring>
#include <mutex>
#include <thread>

#include "sink/sink_worker.h"
#include "sink/spool.h"

namespace mcptap::sink {

struct Sink::State {
  explicit State(SinkOptions sink_options)
      : options(std::move(sink_options)),
        spool(options, stats),
        worker(options, stats, spool, stop) {}

  SinkOptions options;
  SinkStats stats;
  Spool spool;
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
  return state_->spool.append(record);
}

void Sink::hold() {
  state_->spool.hold();
}

void Sink::release() {
  state_->spool.release();
}

bool Sink::stop(std::chrono::milliseconds drain_deadline) {
  std::lock_guard lock(state_->lifecycle_mutex);
  state_->stop.request(drain_deadline);
  state_->spool.close();
  if (state_->thread.joinable()) state_->thread.join();
  return state_->stats.spool_records.load() == 0;
}

base::Status Sink::start_status() const {
  if (state_->spool.usable()) return {};
  return base::fail(state_->spool.problem().text());
}

const std::string& Sink::spool_dir() const {
  return state_->spool.dir();
}

std::optional<CaptureDegradation> Sink::capture_degradation() const {
  const SinkStats& stats = state_->stats;
  CaptureDegradation degradation;
  degradation.since_unix_us = stats.degraded_since_unix_us.load(std::memory_order_relaxed);
  if (degradation.since_unix_us == 0) return std::nullopt;
  degradation.dropped_records = stats.degraded_drops.load(std::memory_order_relaxed);
  const int cause = stats.degraded_cause.load(std::memory_order_relaxed);
  if (cause == SinkStats::kDegradedSpoolFull) {
    degradation.cause = "spool full";
    degradation.error = "sink.spool_max_bytes (" + std::to_string(state_->options.spool_max_bytes) +
                        " bytes) reached while PostgreSQL is behind";
  } else if (cause == SinkStats::kDegradedUnusable) {
    degradation.cause = "spool unusable";
    degradation.error = state_->spool.problem().reason;
  } else {
    degradation.cause = "spool write errors";
    degradation.error = std::strerror(cause);
  }
  return degradation;
}

const SinkStats& Sink::stats() const {
  return state_->stats;
}

}  // namespace mcptap::sink

// The sink thread: ships batches from the spool to PostgreSQL, advances the spool's
// checkpoint once they are committed, reconnects with backoff, keeps partitions and
// retention up to date, and drains on stop.
#include "sink/sink_worker.h"

#include <string>

#include "base/clock.h"
#include "sink/schema.h"

namespace mcptap::sink {
namespace {

constexpr int64_t kLogIntervalMs = 5000;
constexpr auto kMaintenanceInterval = std::chrono::hours(1);
constexpr size_t kBacklogBatchFactor = 10;

void log_sink(base::LogRateLimiter& limiter, base::LogLevel level, std::string_view message,
              nlohmann::json fields) {
  fields["component"] = "sink";
  base::log_limited(limiter, level, message, std::move(fields));
}

std::string_view kind_name(FailureKind kind) {
  switch (kind) {
    case FailureKind::Connection:
      return "connection";
    case FailureKind::Data:
      return "data";
    case FailureKind::Server:
      return "server";
  }
  return "server";
}

}  // namespace

void StopSignal::request(std::chrono::milliseconds drain_deadline) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    deadline_ = Clock::now() + drain_deadline;
  }
  changed_.notify_all();
}

bool StopSignal::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

bool StopSignal::out_of_time() const {
  std::lock_guard lock(mutex_);
  return stopping_ && Clock::now() >= deadline_;
}

void StopSignal::sleep_until(Clock::time_point until) {
  std::unique_lock lock(mutex_);
  while (true) {
    Clock::time_point wake = stopping_ ? std::min(until, deadline_) : until;
    if (Clock::now() >= wake) return;
    changed_.wait_until(lock, wake);
  }
}

SinkWorker::SinkWorker(const SinkOptions& options, SinkStats& stats, Spool& spool, StopSignal& stop)
    : options_(options),
      stats_(stats),
      spool_(spool),
      stop_(stop),
      backoff_(std::chrono::milliseconds(options.reconnect_initial_ms),
               std::chrono::milliseconds(options.reconnect_max_ms)),
      connect_log_(kLogIntervalMs),
      write_log_(kLogIntervalMs),
      reject_log_(kLogIntervalMs),
      maintenance_log_(kLogIntervalMs),
      connected_log_(kLogIntervalMs) {}

SinkWorker::~SinkWorker() = default;

void SinkWorker::run() {
  while (!finished()) {
    // Connect eagerly, records or not: the schema should exist and postgres_up be true as
    // soon as the server is reachable.
    if (!connection_ && Clock::now() >= next_connect_) connect();
    if (in_flight_.empty()) {
      refill();
    } else if (!connection_) {
      stop_.sleep_until(next_connect_);
    } else {
      write_in_flight();
    }
    maybe_maintain();
  }
  disconnect();
  spool_.finish();
  publish_backlog();
}

bool SinkWorker::finished() const {
  if (stop_.out_of_time()) return true;
  return in_flight_.empty() && spool_.closed() && spool_.caught_up();
}

void SinkWorker::refill() {
  // A backlog (after an outage or a restart) drains in bigger transactions: per-batch
  // costs (BEGIN, COPY set-up, COMMIT's WAL flush) are paid less often.
  const bool backlog =
      stats_.spool_records.load(std::memory_order_relaxed) > options_.batch_max_rows;
  const size_t max_rows = options_.batch_max_rows * (backlog ? kBacklogBatchFactor : 1);
  spool_.read_batch(max_rows, std::chrono::milliseconds(options_.flush_interval_ms), &in_flight_,
                    &in_flight_marks_);
  publish_backlog();
}

void SinkWorker::write_in_flight() {
  WriteResult result = writer_->write(in_flight_);
  settle(result);
  if (!result.needs_retry) {
    backoff_.reset();
    return;
  }
  FailureKind kind = classify_failure(result.failure, connection_->ok());
  stats_.batches_failed.fetch_add(1, std::memory_order_relaxed);
  log_sink(write_log_, base::LogLevel::Warn, "writing to PostgreSQL failed; will retry",
           {{"error", result.failure.message},
            {"sqlstate", result.failure.code},
            {"kind", kind_name(kind)},
            {"pending_records", stats_.spool_records.load()}});
  // A fresh connection also re-runs migrate, which repairs a dropped table or partition.
  disconnect();
  schedule_reconnect();
}

void SinkWorker::settle(const WriteResult& result) {
  report_rejections(result);
  stats_.written_records.fetch_add(result.inserted, std::memory_order_relaxed);
  if (result.records_done > 0) {
    uint64_t settled_bytes = 0;
    SpoolPosition through;
    for (size_t i = 0; i < result.records_done; ++i) {
      settled_bytes += in_flight_marks_.front().frame_bytes;
      through = in_flight_marks_.front().end;
      in_flight_marks_.pop_front();
      in_flight_.pop_front();
    }
    // Only now, with the transaction committed (synchronous_commit on), may the spool
    // forget these records.
    spool_.commit(through, result.records_done, settled_bytes);
  }
  if (result.transactions > 0) {
    stats_.last_commit_unix_us.store(base::unix_now_us(), std::memory_order_relaxed);
  }
  if (!result.needs_retry) stats_.batches_committed.fetch_add(1, std::memory_order_relaxed);
  publish_backlog();
}

void SinkWorker::report_rejections(const WriteResult& result) {
  for (const Rejection& rejection : result.rejections) {
    stats_.rejected_records.fetch_add(1, std::memory_order_relaxed);
    log_sink(reject_log_, base::LogLevel::Warn, "PostgreSQL rejected a record; skipped",
             {{"id", rejection.id.to_string()},
              {"route", rejection.route},
              {"sqlstate", rejection.failure.code},
              {"error", rejection.failure.message}});
  }
}

bool SinkWorker::connect() {
  auto connection = std::make_unique<PgConnection>(options_.postgres_url);
  if (!connection->ok()) {
    stats_.postgres_up.store(false, std::memory_order_relaxed);
    log_sink(connect_log_, base::LogLevel::Warn, "cannot connect to PostgreSQL",
             {{"error", connection->error()}});
    schedule_reconnect();
    return false;
  }
  connection_ = std::move(connection);
  writer_ = std::make_unique<PgWriter>(*connection_);
  stats_.postgres_up.store(true, std::memory_order_relaxed);
  log_sink(connected_log_, base::LogLevel::Info, "connected to PostgreSQL", {});
  // Migrate once per connection, before any write: the server may be brand new.
  next_maintenance_ = Clock::now();
  maybe_maintain();
  return connection_ != nullptr;
}

void SinkWorker::disconnect() {
  writer_.reset();
  connection_.reset();
  stats_.postgres_up.store(false, std::memory_order_relaxed);
}

void SinkWorker::schedule_reconnect() {
  next_connect_ = Clock::now() + backoff_.next();
}

void SinkWorker::maybe_maintain() {
  if (!connection_ || Clock::now() < next_maintenance_) return;
  next_maintenance_ = Clock::now() + kMaintenanceInterval;
  maintain();
  if (!connection_->ok()) {
    disconnect();
    schedule_reconnect();
  }
}

// Creates or upgrades the schema and the partitions ahead, and applies retention. A failure
// is logged, not fatal: a role that may only insert still ships into an existing schema.
void SinkWorker::maintain() {
  if (base::Status migrated = migrate(*connection_, options_.partitions_ahead_days); !migrated) {
    log_sink(maintenance_log_, base::LogLevel::Warn, "schema migration failed",
             {{"error", describe(migrated.error())}});
    return;
  }
  base::Result<int> dropped = drop_expired_partitions(*connection_, options_.retention_days);
  if (!dropped) {
    log_sink(maintenance_log_, base::LogLevel::Warn, "dropping expired partitions failed",
             {{"error", describe(dropped.error())}});
  } else if (*dropped > 0) {
    base::log_info("dropped expired partitions", {{"component", "sink"},
                                                  {"partitions", *dropped},
                                                  {"retention_days", options_.retention_days}});
  }
}

void SinkWorker::publish_backlog() {
  // Records still unread in the spool are younger than the batch in flight.
  int64_t oldest = in_flight_.empty() ? 0 : in_flight_.front().captured_at_us;
  stats_.oldest_queued_unix_us.store(oldest, std::memory_order_relaxed);
}

}  // namespace mcptap::sink

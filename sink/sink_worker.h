// The sink thread's state machine: connect, migrate, read batches from the spool, write,
// commit the spool's checkpoint, back off, drain.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "base/log.h"
#include "sink/backoff.h"
#include "sink/pg_connection.h"
#include "sink/pg_writer.h"
#include "sink/record_batch.h"
#include "sink/sink_options.h"
#include "sink/sink_stats.h"
#include "sink/spool.h"

namespace mcptap::sink {

// The stop request shared by Sink::stop (any thread) and the worker: once stopping, the
// worker drains until the deadline, and no wait of its own outlasts that deadline.
class StopSignal {
 public:
  using Clock = std::chrono::steady_clock;

  void request(std::chrono::milliseconds drain_deadline);
  bool stopping() const;
  bool out_of_time() const;  // stopping and past the deadline
  // Sleeps until `until`, or the deadline once stopping, whichever comes first.
  void sleep_until(Clock::time_point until);

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  Clock::time_point deadline_{};
};

class SinkWorker {
 public:
  SinkWorker(const SinkOptions& options, SinkStats& stats, Spool& spool, StopSignal& stop);
  ~SinkWorker();
  void run();  // returns once drained (spool closed and all of it committed) or out of time

 private:
  using Clock = std::chrono::steady_clock;

  bool finished() const;
  void refill();
  void write_in_flight();
  void settle(const WriteResult& result);
  void report_rejections(const WriteResult& result);
  bool connect();
  void disconnect();
  void schedule_reconnect();
  void maybe_maintain();
  void maintain();
  void publish_backlog();

  const SinkOptions& options_;
  SinkStats& stats_;
  Spool& spool_;
  StopSignal& stop_;
  std::unique_ptr<PgConnection> connection_;
  std::unique_ptr<PgWriter> writer_;
  RecordBatch in_flight_;                  // read from the spool, not yet settled
  std::deque<SpoolMark> in_flight_marks_;  // where each of them ends in the spool
  Backoff backoff_;
  Clock::time_point next_connect_{};
  Clock::time_point next_maintenance_{};
  // One limiter per kind of problem, so a flood of one kind cannot hide another.
  base::LogRateLimiter connect_log_;
  base::LogRateLimiter write_log_;
  base::LogRateLimiter reject_log_;
  base::LogRateLimiter maintenance_log_;
  base::LogRateLimiter connected_log_;
};

}  // namespace mcptap::sink

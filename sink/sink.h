// The sink: appends records to the durable spool on the loop thread without waiting, and
// ships them to PostgreSQL in batches from a thread of its own.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "capture/record.h"
#include "sink/sink_options.h"
#include "sink/sink_stats.h"

namespace mcptap::sink {

// While the spool drops what capture gives it (see SinkStats::degraded_since_unix_us).
struct CaptureDegradation {
  int64_t since_unix_us = 0;
  std::string cause;             // "spool write errors", "spool full", "spool unusable"
  std::string error;             // "No space left on device", "sink.spool_max_bytes reached", ...
  uint64_t dropped_records = 0;  // since since_unix_us
};

class Sink final : public capture::RecordConsumer {
 public:
  // Opens and recovers the spool (see sink/spool.h). On an unusable spool directory
  // start_status() says why; a command must not start on it (nothing would be captured),
  // but the sink itself only drops and counts every record, never throws.
  explicit Sink(SinkOptions options);
  ~Sink() override;  // stops with no drain deadline left if still running

  // Ok when the spool is usable; else "<reason> (<fix>)" for the directory spool_dir().
  base::Status start_status() const;
  const std::string& spool_dir() const;
  // Set while capture is degraded at run time; forwarding is never affected.
  std::optional<CaptureDegradation> capture_degradation() const;

  void start();  // starts the sink thread (connects, migrates lazily, ships)
  // Appends the record to the spool (one write into the page cache, no fsync), or drops
  // and counts it when the spool is full or failing. Never blocks on PostgreSQL.
  bool consume(capture::Record&& record) override;
  void hold() override;
  void release() override;
  // Stops accepting, ships what is spooled until the deadline, then joins the thread.
  // Returns true when everything was committed; the rest stays in the spool for the
  // next start.
  bool stop(std::chrono::milliseconds drain_deadline);

  const SinkStats& stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mcptap::sink

// The sink: appends records to the durable spool on the loop thread without waiting, and
// ships them to PostgreSQL in batches from a thread of its own.
#pragma once

#include <chrono>
#include <memory>

#include "capture/record.h"
#include "sink/sink_options.h"
#include "sink/sink_stats.h"

namespace mcptap::sink {

class Sink final : public capture::RecordConsumer {
 public:
  // Opens and recovers the spool (see sink/spool.h); an unusable spool directory is logged
  // and every record is then dropped and counted, so the proxy still forwards.
  explicit Sink(SinkOptions options);
  ~Sink() override;  // stops with no drain deadline left if still running

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

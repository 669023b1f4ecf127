// The sink: takes records from the loop thread without blocking and ships them to
// PostgreSQL in batches from a thread of its own.
#pragma once

#include <chrono>
#include <memory>

#include "capture/record.h"
#include "sink/sink_options.h"
#include "sink/sink_stats.h"

namespace mcptap::sink {

class Sink final : public capture::RecordConsumer {
 public:
  explicit Sink(SinkOptions options);
  ~Sink() override;  // stops with no drain deadline left if still running

  void start();  // starts the sink thread (connects, migrates lazily, ships)
  // Non-blocking: queues the record, or drops and counts it when the queue is full.
  bool consume(capture::Record&& record) override;
  // Stops accepting, ships what is queued until the deadline, then joins the thread.
  // Returns true when everything queued was committed.
  bool stop(std::chrono::milliseconds drain_deadline);

  const SinkStats& stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mcptap::sink

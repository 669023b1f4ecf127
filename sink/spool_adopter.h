// Ships the spools a route's other stdio processes left behind, one at a time, from a
// thread of its own, and removes each once PostgreSQL has all of it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "sink/sink.h"
#include "sink/sink_options.h"
#include "sink/spool_directory.h"

namespace mcptap::sink {

// A spool whose process is gone (killed, or stopped before PostgreSQL took everything) is
// shipped by a sink of its own while the adopting process runs (and after, within its
// drain time), and removed once delivered; what is not delivered by then stays for the
// route's next stdio process. Each spool is adopted at most once per process.
class SpoolAdopter {
 public:
  using Clock = std::chrono::steady_clock;

  // `options` are the adopting process's sink settings (spool_dir is replaced per spool);
  // `own_dir` is its own spool, never adopted.
  SpoolAdopter(const SinkOptions& options, StdioSpools spools, std::string own_dir);
  ~SpoolAdopter();
  SpoolAdopter(const SpoolAdopter&) = delete;
  SpoolAdopter& operator=(const SpoolAdopter&) = delete;

  void start();
  // Adoptions go on until `deadline` (the hop's drain time), then stop; what is not
  // delivered by then stays on disk.
  void stop(Clock::time_point deadline);

 private:
  void run();
  bool out_of_time_locked() const;
  bool out_of_time();
  std::unique_ptr<Sink> adopt_next(std::string* dir);
  void ship(Sink& sink, const std::string& dir);

  const SinkOptions options_;
  const StdioSpools spools_;
  const std::string own_dir_;
  std::set<std::string> tried_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  Clock::time_point deadline_{};
  std::thread thread_;
};

}  // namespace mcptap::sink

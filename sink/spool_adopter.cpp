// Adoption of abandoned stdio spools: found under the route lock, shipped, then removed.
#include "sink/spool_adopter.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "base/log.h"

namespace mcptap::sink {
namespace {

// An adopted spool that is fully delivered before the hop ends stops within this.
constexpr auto kAdoptedStopMs = std::chrono::milliseconds(5000);
constexpr auto kAdoptedPollInterval = std::chrono::milliseconds(50);

std::chrono::milliseconds time_left(SpoolAdopter::Clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SpoolAdopter::Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

}  // namespace

SpoolAdopter::SpoolAdopter(const SinkOptions& options, StdioSpools spools, std::string own_dir)
    : options_(options), spools_(std::move(spools)), own_dir_(std::move(own_dir)) {}

SpoolAdopter::~SpoolAdopter() {
  stop(Clock::now());
}

void SpoolAdopter::start() {
  thread_ = std::thread([this] { run(); });
}

void SpoolAdopter::stop(Clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) deadline_ = deadline;
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SpoolAdopter::run() {
  while (!out_of_time()) {
    std::string dir;
    std::unique_ptr<Sink> sink = adopt_next(&dir);
    if (!sink) return;
    ship(*sink, dir);
  }
}

bool SpoolAdopter::out_of_time_locked() const {
  return stopping_ && Clock::now() >= deadline_;
}

bool SpoolAdopter::out_of_time() {
  std::lock_guard lock(mutex_);
  return out_of_time_locked();
}

// Under the route lock: the next abandoned spool, opened (and so locked) by a new sink.
std::unique_ptr<Sink> SpoolAdopter::adopt_next(std::string* dir) {
  base::Result<HeldLock> lock = spools_.lock();
  if (!lock) {
    base::log_warn("stdio: not adopting left spools now", {{"error", lock.error().message}});
    return nullptr;
  }
  for (const std::string& candidate : spools_.candidates(own_dir_)) {
    if (!tried_.insert(candidate).second || !StdioSpools::abandoned(candidate)) continue;
    SinkOptions options = options_;
    options.spool_dir = candidate;
    *dir = candidate;
    return std::make_unique<Sink>(options);
  }
  return nullptr;
}

void SpoolAdopter::ship(Sink& sink, const std::string& dir) {
  const SinkStats& stats = sink.stats();
  const bool usable = stats.spool_usable.load();
  const uint64_t records = stats.spool_records.load();
  if (usable && records > 0) {
    base::log_info("stdio: shipping a spool another stdio process of the route left",
                   {{"spool_dir", dir}, {"records", records}});
    sink.start();
    std::unique_lock lock(mutex_);
    while (!out_of_time_locked() && stats.spool_records.load() > 0) {
      changed_.wait_for(lock, kAdoptedPollInterval);
    }
  }
  Clock::time_point deadline;
  {
    std::lock_guard lock(mutex_);
    deadline = stopping_ ? deadline_ : Clock::now() + kAdoptedStopMs;
  }
  const bool delivered = sink.stop(time_left(deadline)) && usable;
  if (delivered) {
    // Still locked by `sink`: nobody adopts it meanwhile. Without the route lock it stays
    // (delivered, so its next adopter finds nothing to ship).
    if (base::Result<HeldLock> lock = spools_.lock()) spools_.remove(dir);
  }
  if (records > 0 || !usable) {
    base::log_line(delivered ? base::LogLevel::Info : base::LogLevel::Warn,
                   delivered ? "stdio: adopted spool delivered and removed"
                             : "stdio: adopted spool not fully delivered; it stays for the "
                               "route's next stdio process",
                   {{"spool_dir", dir},
                    {"written_records", stats.written_records.load()},
                    {"pending_records", stats.spool_records.load()}});
  }
}

}  // namespace mcptap::sink

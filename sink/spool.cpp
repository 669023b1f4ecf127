// The spool: recovery at start, appends on the loop thread, a flusher thread for fsync,
// and the sink thread's reads, checkpoints and segment deletion.
#include "sink/spool.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "base/clock.h"
#include "sink/spool_directory.h"

namespace mcptap::sink {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kLogIntervalMs = 5000;
constexpr auto kRollRetryInterval = std::chrono::seconds(1);
constexpr uint64_t kMinSegmentBytes = 4096;
constexpr int kMinFlushIntervalMs = 10;

uint64_t segment_limit_for(const SinkOptions& options) {
  return std::max(kMinSegmentBytes, std::min(options.segment_bytes, options.spool_max_bytes / 4));
}

void subtract(std::atomic<uint64_t>& counter, uint64_t amount) {
  counter.fetch_sub(std::min(amount, counter.load(std::memory_order_relaxed)),
                    std::memory_order_relaxed);
}

void add_pending(SinkStats& stats, uint64_t records, uint64_t bytes) {
  stats.spool_records.fetch_add(records, std::memory_order_relaxed);
  stats.spool_bytes.fetch_add(bytes, std::memory_order_relaxed);
}

void remove_pending(SinkStats& stats, uint64_t records, uint64_t bytes) {
  subtract(stats.spool_records, records);
  subtract(stats.spool_bytes, bytes);
}

bool is_disk_full(int error_number) {
  return error_number == ENOSPC || error_number == EDQUOT || error_number == EFBIG;
}

uint64_t file_size(int fd) {
  struct stat status {};
  return ::fstat(fd, &status) == 0 ? static_cast<uint64_t>(status.st_size) : 0;
}

void log_spool(base::LogRateLimiter& limiter, base::LogLevel level, std::string_view message,
               nlohmann::json fields) {
  fields["component"] = "spool";
  base::log_limited(limiter, level, message, std::move(fields));
}

// Enough room for a few records: a nearly full disk that cannot take even this much would
// only drop every capture.
constexpr off_t kStartProbeBytes = 64 * 1024;

}  // namespace

Spool::Spool(const SinkOptions& options, SinkStats& stats)
    : options_(options),
      stats_(stats),
      dir_(options.spool_dir),
      segment_limit_(segment_limit_for(options)),
      full_log_(kLogIntervalMs),
      error_log_(kLogIntervalMs),
      resumed_log_(kLogIntervalMs),
      read_log_(kLogIntervalMs) {
  open_directory();
  stats_.spool_usable.store(usable_, std::memory_order_relaxed);
  if (usable_) flusher_ = std::thread([this] { flusher_main(); });
}

Spool::~Spool() {
  close();
  if (flusher_.joinable()) {
    {
      std::lock_guard lock(flusher_mutex_);
      flusher_stop_ = true;
    }
    flusher_cv_.notify_all();
    flusher_.join();  // its last turn syncs what was appended
  }
  if (segment_fd_ >= 0) ::close(segment_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

// ---- Start-up: directory, lock, recovery ----

// Nothing here logs a failure: problem_ says it, and the commands stop on it with one line.
void Spool::open_directory() {
  problem_ = prepare_private_directory(dir_);
  if (!problem_.empty()) return;
  // A second process on the same spool would interleave segments; the lock says so at once.
  lock_fd_ = open_lock_file(dir_ + "/" + std::string(kSpoolLockFileName), &problem_);
  if (lock_fd_ < 0) return;
  tighten_files();
  std::error_code error;
  std::filesystem::remove(dir_ + "/" + std::string(kCheckpointTempFileName), error);
  std::vector<uint64_t> segments;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, error)) {
    if (auto seq = segment_seq_of(entry.path().filename().string())) segments.push_back(*seq);
  }
  std::sort(segments.begin(), segments.end());
  base::Result<std::optional<SpoolPosition>> checkpoint = read_checkpoint(dir_);
  if (!checkpoint) {
    base::log_warn(
        "spool checkpoint damaged; replaying every segment (rows are not duplicated)",
        {{"component", "spool"}, {"spool_dir", dir_}, {"error", checkpoint.error().message}});
  }
  std::optional<SpoolPosition> known = checkpoint ? *checkpoint : std::nullopt;
  SpoolPosition start = known.value_or(SpoolPosition{segments.empty() ? 0 : segments[0], 0});
  recover(std::move(segments), start);
}

// Segments and checkpoints an older mcptap wrote readable by every local user become 0600.
void Spool::tighten_files() {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, error)) {
    struct stat status {};
    const std::string path = entry.path().string();
    if (::lstat(path.c_str(), &status) == 0 && S_ISREG(status.st_mode) &&
        status.st_uid == ::geteuid() && (status.st_mode & 077) != 0) {
      ::chmod(path.c_str(), 0600);
    }
  }
}

void Spool::recover(std::vector<uint64_t> segments, SpoolPosition checkpoint) {
  uint64_t last = checkpoint.seq;
  uint64_t oldest = UINT64_MAX;
  for (uint64_t seq : segments) {
    if (seq < checkpoint.seq) {  // committed before the last stop or crash
      std::filesystem::remove(dir_ + "/" + segment_file_name(seq));
      continue;
    }
    recover_segment(seq, seq == checkpoint.seq ? checkpoint.offset : 0);
    last = std::max(last, seq);
    oldest = std::min(oldest, seq);
  }
  recovered_through_ = last;
  read_position_ = committed_ = checkpointed_ = checkpoint;
  oldest_segment_ = std::min(oldest, last + 1);
  if (stats_.spool_records.load() > 0 || stats_.spool_corrupt_records.load() > 0 ||
      stats_.spool_truncated_bytes.load() > 0) {
    base::log_info("spool recovered; replaying what PostgreSQL may not have",
                   {{"component", "spool"},
                    {"spool_dir", dir_},
                    {"records", stats_.spool_records.load()},
                    {"bytes", stats_.spool_bytes.load()},
                    {"corrupt_records", stats_.spool_corrupt_records.load()},
                    {"truncated_bytes", stats_.spool_truncated_bytes.load()}});
  }
  if (!open_segment(last + 1)) {
    problem_ =
        is_disk_full(errno)
            ? SpoolProblem{"no space left on device creating a spool segment", kSpoolSpaceFix}
            : SpoolProblem{std::string("cannot create a spool segment: ") + std::strerror(errno),
                           kSpoolWritableFix};
    return;
  }
  usable_ = probe_free_space();
}

// A full disk at start is a start-up error, not a process that forwards and drops every
// capture: the first segment must be able to take some bytes. The room is given back.
bool Spool::probe_free_space() {
  const off_t probe = std::min<off_t>(kStartProbeBytes, off_t(segment_limit_));
  const int error_number = ::posix_fallocate(segment_fd_, 0, probe);
  (void)::ftruncate(segment_fd_, 0);
  if (error_number == 0) return true;
  problem_ = is_disk_full(error_number)
                 ? SpoolProblem{"no space left on device (cannot preallocate a spool segment)",
                                kSpoolSpaceFix}
                 : SpoolProblem{std::string("cannot preallocate a spool segment: ") +
                                    std::strerror(error_number),
                                kSpoolWritableFix};
  ::close(segment_fd_);
  segment_fd_ = -1;
  ::unlink((dir_ + "/" + segment_file_name(write_seq_)).c_str());
  return false;
}

// Counts the frames after `from`, skips damaged ones, and cuts a torn tail off.
void Spool::recover_segment(uint64_t seq, uint64_t from) {
  const std::string path = dir_ + "/" + segment_file_name(seq);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  SegmentScanner scanner(fd, from);
  uint64_t size = file_size(fd);
  uint64_t records = 0;
  uint64_t bytes = 0;
  for (bool done = false; !done;) {
    SegmentScanner::Result step = scanner.next(size);
    switch (step.step) {
      case SegmentScanner::Step::Record:
        ++records;
        bytes += step.frame_end - step.frame_begin;
        break;
      case SegmentScanner::Step::Corrupt:
        stats_.spool_corrupt_records.fetch_add(1, std::memory_order_relaxed);
        break;
      case SegmentScanner::Step::Torn:
        if (::ftruncate(fd, off_t(step.frame_begin)) == 0) {
          stats_.spool_truncated_bytes.fetch_add(size - step.frame_begin);
          size = step.frame_begin;
        }
        done = true;
        break;
      case SegmentScanner::Step::End:
      case SegmentScanner::Step::ReadError:
        done = true;
        break;
    }
  }
  add_pending(stats_, records, bytes);
  disk_bytes_add(size);
}

bool Spool::open_segment(uint64_t seq) {
  const std::string path = dir_ + "/" + segment_file_name(seq);
  // O_TRUNC, not O_EXCL: a number past every segment the reader knows can only hold the
  // remains of a failed earlier attempt.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  tighten_file_mode(fd, 0600);  // a leftover of an older mcptap keeps its mode through O_TRUNC
  if (segment_fd_ >= 0) retired_fds_.push_back(segment_fd_);
  segment_fd_ = fd;
  write_seq_ = seq;
  write_end_ = 0;
  dir_unsynced_ = true;
  return true;
}

void Spool::disk_bytes_add(uint64_t bytes) {
  stats_.spool_disk_bytes.fetch_add(bytes, std::memory_order_relaxed);
}

// ---- Loop thread: append ----

bool Spool::append(const capture::Record& record) {
  uint8_t header[kFrameHeaderBytes];
  std::unique_lock lock(mutex_);
  if (closed_) {
    stats_.dropped_records.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (!usable_) {
    return drop(&stats_.spool_write_errors, "spool unusable; capture dropped", 0,
                SinkStats::kDegradedUnusable);
  }
  if (!encode_frame(record, &scratch_, header)) {  // one record: capture itself still works
    return drop(&stats_.spool_full_drops, "record too large for the spool; dropped", 0, 0);
  }
  const uint64_t frame = kFrameHeaderBytes + scratch_.size();
  const uint64_t disk = stats_.spool_disk_bytes.load(std::memory_order_relaxed);
  if (disk + held_.size() + frame > options_.spool_max_bytes) {
    return drop(&stats_.spool_full_drops, "spool full (spool_max_bytes); captures dropped", 0,
                SinkStats::kDegradedSpoolFull);
  }
  if (write_end_ + held_.size() + frame > segment_limit_ && (write_end_ > 0 || !held_.empty())) {
    // The held frames belong to the segment they were gathered for; the next one starts
    // fresh.
    write_held();
    if (!roll()) {
      return drop(&stats_.spool_write_errors, "cannot start a spool segment; captures dropped",
                  errno, errno);
    }
  }
  held_.append(reinterpret_cast<const char*>(header), kFrameHeaderBytes);
  held_.append(scratch_);
  ++held_records_;
  if (hold_depth_ > 0) return true;
  bool written = write_held();
  const bool wake_reader = written && appended_records_ >= reader_wake_at_;
  if (wake_reader) reader_wake_at_ = UINT64_MAX;
  lock.unlock();
  // Woken only when it waits for exactly this, the reader costs the loop little.
  if (wake_reader) appended_cv_.notify_one();
  return written;
}

void Spool::hold() {
  std::lock_guard lock(mutex_);
  ++hold_depth_;
}

void Spool::release() {
  std::unique_lock lock(mutex_);
  if (hold_depth_ == 0 || --hold_depth_ > 0 || held_.empty()) return;
  write_held();
  const bool wake_reader = appended_records_ >= reader_wake_at_;
  if (wake_reader) reader_wake_at_ = UINT64_MAX;
  lock.unlock();
  if (wake_reader) appended_cv_.notify_one();
}

// Called with mutex_ held. Writes the held frames at the segment's end and makes them
// readable, or drops them all and counts why.
bool Spool::write_held() {
  if (held_.empty()) return true;
  const uint64_t bytes = held_.size(), records = held_records_;
  const bool written = write_at_end(held_.data(), held_.size());
  const int error_number = errno;
  held_.clear();
  held_records_ = 0;
  if (!written) {
    // On a full disk, start a new segment: the full one is freed once it is committed,
    // which a segment still being written never is.
    if (write_end_ > 0 && is_disk_full(error_number)) roll();
    return drop(&stats_.spool_write_errors, "spool write failed; captures dropped", error_number,
                error_number, records);
  }
  if (stats_.degraded_since_unix_us.load(std::memory_order_relaxed) != 0) mark_healthy();
  write_end_ += bytes;
  disk_bytes_add(bytes);
  add_pending(stats_, records, bytes);
  stats_.accepted_records.fetch_add(records, std::memory_order_relaxed);
  unsynced_ = true;
  appended_records_ += records;
  return true;
}

// Called with mutex_ held. Counts the drop and logs at most once per interval; a `cause`
// other than 0 (an errno value or a SinkStats::kDegraded* cause) marks capture degraded.
bool Spool::drop(std::atomic<uint64_t>* reason, const char* message, int error_number, int cause,
                 uint64_t records) {
  stats_.dropped_records.fetch_add(records, std::memory_order_relaxed);
  reason->fetch_add(records, std::memory_order_relaxed);
  if (cause != 0) mark_degraded(cause, records);
  nlohmann::json fields = {{"spool_dir", dir_},
                           {"dropped_records", stats_.dropped_records.load()},
                           {"spool_full_drops", stats_.spool_full_drops.load()},
                           {"spool_write_errors", stats_.spool_write_errors.load()},
                           {"spool_disk_bytes", stats_.spool_disk_bytes.load()}};
  if (error_number != 0) fields["error"] = std::strerror(error_number);
  if (cause == SinkStats::kDegradedUnusable) fields["error"] = problem_.text();
  log_spool(reason == &stats_.spool_full_drops ? full_log_ : error_log_, base::LogLevel::Warn,
            message, std::move(fields));
  return false;
}

// Called with mutex_ held. The first drop of an episode records when it began; the cause is
// the latest one (EAGAIN only says a roll is not retried yet: the cause before it stands).
void Spool::mark_degraded(int cause, uint64_t records) {
  if (stats_.degraded_since_unix_us.load(std::memory_order_relaxed) == 0) {
    stats_.degraded_drops.store(0, std::memory_order_relaxed);
    stats_.degraded_cause.store(cause == EAGAIN ? EIO : cause, std::memory_order_relaxed);
    stats_.degraded_since_unix_us.store(base::unix_now_us(), std::memory_order_relaxed);
  } else if (cause != EAGAIN) {
    stats_.degraded_cause.store(cause, std::memory_order_relaxed);
  }
  stats_.degraded_drops.fetch_add(records, std::memory_order_relaxed);
}

// Called with mutex_ held, once a write succeeded after drops.
void Spool::mark_healthy() {
  const int64_t since = stats_.degraded_since_unix_us.exchange(0, std::memory_order_relaxed);
  log_spool(resumed_log_, base::LogLevel::Info, "spool writes succeed again; capture resumed",
            {{"spool_dir", dir_},
             {"degraded_for_s", double(base::unix_now_us() - since) / 1e6},
             {"dropped_records", stats_.degraded_drops.load(std::memory_order_relaxed)}});
}

// One pwrite of whole frames into the page cache. A partial write is cut off again, so the
// segment only ever holds whole frames up to write_end_.
bool Spool::write_at_end(const char* bytes, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t written = ::pwrite(segment_fd_, bytes + done, size - done, off_t(write_end_ + done));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      int saved = written == 0 ? ENOSPC : errno;
      if (done > 0 || written < 0) (void)::ftruncate(segment_fd_, off_t(write_end_));
      errno = saved;
      return false;
    }
    done += static_cast<size_t>(written);
  }
  return true;
}

// Called with mutex_ held. The full segment is handed to the flusher for its last sync.
bool Spool::roll() {
  const Clock::time_point now = Clock::now();
  if (now < next_roll_attempt_) {
    errno = EAGAIN;
    return false;
  }
  // A failed write may have left bytes past write_end_ that could not be cut at the time.
  (void)::ftruncate(segment_fd_, off_t(write_end_));
  if (open_segment(write_seq_ + 1)) return true;
  next_roll_attempt_ = now + kRollRetryInterval;
  return false;
}

void Spool::close() {
  {
    std::lock_guard lock(mutex_);
    write_held();  // a hold still open at shutdown: what it gathered is kept
    hold_depth_ = 0;
    closed_ = true;
  }
  appended_cv_.notify_all();
}

bool Spool::closed() {
  std::lock_guard lock(mutex_);
  return closed_;
}

// ---- Flusher thread ----

void Spool::flusher_main() {
  const auto interval =
      std::chrono::milliseconds(std::max(options_.fsync_interval_ms, kMinFlushIntervalMs));
  while (true) {
    std::unique_lock lock(flusher_mutex_);
    flusher_cv_.wait_for(lock, interval, [this] { return flusher_stop_; });
    const bool stopping = flusher_stop_;
    lock.unlock();
    sync_pending();
    if (stopping) return;
  }
}

// fdatasync outside the writer's lock: the loop thread only waits for a dup().
void Spool::sync_pending() {
  int current = -1;
  std::vector<int> retired;
  bool sync_dir = false;
  {
    std::lock_guard lock(mutex_);
    if (unsynced_ && segment_fd_ >= 0) current = ::dup(segment_fd_);
    unsynced_ = false;
    retired.swap(retired_fds_);
    std::swap(sync_dir, dir_unsynced_);
  }
  for (int fd : retired) {
    ::fdatasync(fd);
    ::close(fd);
  }
  if (current >= 0) {
    ::fdatasync(current);
    ::close(current);
  }
  if (sync_dir) {
    int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }
}

// ---- Sink thread: read, commit, checkpoint ----

Spool::WriteSnapshot Spool::snapshot() {
  std::lock_guard lock(mutex_);
  return {write_seq_, write_end_, appended_records_};
}

size_t Spool::read_batch(size_t max_rows, std::chrono::milliseconds linger, RecordBatch* batch,
                         std::deque<SpoolMark>* marks) {
  const size_t initial = batch->size();
  const Clock::time_point called = Clock::now();
  std::optional<Clock::time_point> first_read;
  if (!usable_) {  // nothing will ever come; wait as an idle read would, not spin
    wait_for_appends(called + linger, 1);
    return 0;
  }
  while (true) {
    read_available(max_rows - (batch->size() - initial), batch, marks);
    const size_t taken = batch->size() - initial;
    if (taken >= max_rows || closed()) break;
    if (!first_read && taken > 0) first_read = Clock::now();
    const Clock::time_point wake = first_read.value_or(called) + linger;
    if (Clock::now() >= wake) break;
    wait_for_appends(wake, taken == 0 ? 1 : max_rows - taken);
  }
  return batch->size() - initial;
}

// Reads what the writer has finished, up to max_rows records, moving on past full segments.
size_t Spool::read_available(size_t max_rows, RecordBatch* batch, std::deque<SpoolMark>* marks) {
  size_t taken = 0;
  while (taken < max_rows) {
    const WriteSnapshot write = snapshot();
    seen_appended_ = write.appended;
    if (!scanner_ && !open_reader_segment(write)) break;
    if (!scanner_complete_ && read_position_.seq < write.seq) {
      scanner_complete_ = true;  // rolled since: its size is final now
      scanner_limit_ = file_size(scanner_->fd());
    }
    const uint64_t limit = scanner_complete_ ? scanner_limit_ : write.end;
    bool read_error = false;
    while (taken < max_rows && !read_error) {
      SegmentScanner::Result step = scanner_->next(limit);
      if (step.step == SegmentScanner::Step::End) break;
      if (step.step == SegmentScanner::Step::Record) {
        batch->push_back(std::move(*step.record));
        marks->push_back({{read_position_.seq, step.frame_end}, step.frame_end - step.frame_begin});
        ++taken;
      } else if (step.step == SegmentScanner::Step::ReadError) {
        read_error = true;
        log_spool(
            read_log_, base::LogLevel::Warn, "reading the spool failed; will retry",
            {{"spool_dir", dir_}, {"segment", read_position_.seq}, {"error", step.error.message}});
      } else if (read_position_.seq > recovered_through_) {
        // Damage in a segment written since start (recovery counted the older ones).
        stats_.spool_corrupt_records.fetch_add(1, std::memory_order_relaxed);
      }
    }
    read_position_.offset = scanner_->offset();
    if (read_error || taken >= max_rows || !scanner_complete_ ||
        read_position_.offset < scanner_limit_) {
      break;
    }
    scanner_.reset();
    finished_segments_.push_back(read_position_);
    read_position_ = {read_position_.seq + 1, 0};
  }
  return taken;
}

bool Spool::open_reader_segment(const WriteSnapshot& write) {
  while (read_position_.seq <= write.seq) {
    const std::string path = dir_ + "/" + segment_file_name(read_position_.seq);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      // Numbers are skipped only where no file exists (a checkpoint past a deleted segment).
      if (errno != ENOENT || read_position_.seq == write.seq) return false;
      read_position_ = {read_position_.seq + 1, 0};
      continue;
    }
    scanner_ = std::make_unique<SegmentScanner>(fd, read_position_.offset);
    scanner_complete_ = read_position_.seq < write.seq;
    scanner_limit_ = scanner_complete_ ? file_size(fd) : 0;
    return true;
  }
  return false;
}

void Spool::wait_for_appends(Clock::time_point until, uint64_t wanted) {
  std::unique_lock lock(mutex_);
  const uint64_t target = seen_appended_ + wanted;
  if (closed_ || appended_records_ >= target) return;
  reader_wake_at_ = target;
  appended_cv_.wait_until(lock, until, [&] { return closed_ || appended_records_ >= target; });
  reader_wake_at_ = UINT64_MAX;
}

bool Spool::caught_up() {
  if (!usable_) return true;
  const WriteSnapshot write = snapshot();
  return read_position_.seq == write.seq && read_position_.offset >= write.end;
}

void Spool::commit(SpoolPosition through, uint64_t records, uint64_t bytes) {
  remove_pending(stats_, records, bytes);
  if (through > committed_) committed_ = through;
  // Committed to the very end of a finished segment: that segment is done with.
  while (!finished_segments_.empty() && committed_ >= finished_segments_.front()) {
    if (committed_ == finished_segments_.front()) committed_ = {committed_.seq + 1, 0};
    finished_segments_.pop_front();
  }
  // Every batch's checkpoint need not be durable at once (a replay is harmless); one that
  // frees segments must be, before they go.
  if (committed_.seq > checkpointed_.seq || Clock::now() >= next_checkpoint_) {
    write_checkpoint_now();
  }
}

void Spool::write_checkpoint_now() {
  if (!usable_ || committed_ == checkpointed_) return;
  if (base::Status written = write_checkpoint(dir_, committed_); written) {
    checkpointed_ = committed_;
    next_checkpoint_ = Clock::now() + std::chrono::milliseconds(options_.fsync_interval_ms);
  } else {
    log_spool(read_log_, base::LogLevel::Warn, "writing the spool checkpoint failed",
              {{"spool_dir", dir_}, {"error", written.error().message}});
  }
  // Deleted even when the checkpoint could not be written (a full disk): an older
  // checkpoint pointing into a deleted segment only makes the next start skip to the
  // following one, and everything deleted was committed.
  delete_segments_before(committed_.seq);
}

void Spool::delete_segments_before(uint64_t seq) {
  for (; oldest_segment_ < seq; ++oldest_segment_) {
    const std::string path = dir_ + "/" + segment_file_name(oldest_segment_);
    struct stat status {};
    if (::stat(path.c_str(), &status) != 0) continue;
    if (::unlink(path.c_str()) == 0) {
      subtract(stats_.spool_disk_bytes, static_cast<uint64_t>(status.st_size));
    }
  }
}

void Spool::finish() {
  write_checkpoint_now();
  const uint64_t pending = stats_.spool_records.load();
  if (pending == 0) return;
  base::log_warn("records not yet in PostgreSQL stay in the spool for the next start",
                 {{"component", "spool"},
                  {"spool_dir", dir_},
                  {"records", pending},
                  {"bytes", stats_.spool_bytes.load()},
                  {"postgres_up", stats_.postgres_up.load()}});
}

}  // namespace mcptap::sink

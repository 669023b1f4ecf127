// The durable queue between capture and PostgreSQL: append-only segment files written on
// the loop thread, read back and checkpointed by the sink thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "capture/record.h"
#include "sink/record_batch.h"
#include "sink/sink_options.h"
#include "sink/sink_stats.h"
#include "sink/spool_directory.h"
#include "sink/spool_segment.h"

namespace mcptap::sink {

// Where a record read from the spool ends, and its size there: what committing it frees.
struct SpoolMark {
  SpoolPosition end;
  uint64_t frame_bytes = 0;
};

// One writer (the loop thread: append never blocks on I/O beyond one pwrite into the page
// cache, never fsyncs, never throws) and one reader (the sink thread). A flusher thread
// fdatasyncs every fsync_interval_ms. Construction recovers the directory: segments before
// the checkpoint are deleted, torn tails truncated, damaged frames counted; appends go to
// a fresh segment. If the directory cannot be used, problem() says why (commands refuse
// to start on it) and every append is dropped and counted: the spool never throws.
// While appends fail at run time (a full disk, I/O errors, spool_max_bytes), the stats
// say capture is degraded, since when and why, until a write succeeds again.
class Spool {
 public:
  Spool(const SinkOptions& options, SinkStats& stats);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  bool usable() const { return usable_; }
  const SpoolProblem& problem() const { return problem_; }

  // Loop thread. Appends the record to the current segment, or drops it and counts why.
  bool append(const capture::Record& record);
  // Loop thread. Between hold() and release(), appended frames are gathered in memory and
  // release() writes them with one pwrite: the records of one read from a socket cost one
  // system call. The caller releases before forwarding the bytes those records came from,
  // so a killed process still loses nothing that was forwarded. Nests.
  void hold();
  void release();
  // Refuses further appends and wakes the reader.
  void close();
  bool closed();

  // Sink thread. Reads up to max_rows records after the read position into *batch and
  // their marks into *marks; waits for more until max_rows are there or `linger` has
  // passed since the first one (or, with none, since the call). Returns at once once closed.
  size_t read_batch(size_t max_rows, std::chrono::milliseconds linger, RecordBatch* batch,
                    std::deque<SpoolMark>* marks);
  // Everything appended has been read.
  bool caught_up();
  // PostgreSQL settled everything up to `through` (records and frame bytes are what that
  // released). Writes the checkpoint now and then, and always before deleting segments.
  void commit(SpoolPosition through, uint64_t records, uint64_t bytes);
  // Writes the checkpoint for what was committed, and logs what stays for the next start.
  void finish();

  const std::string& dir() const { return dir_; }

 private:
  struct WriteSnapshot {
    uint64_t seq;
    uint64_t end;
    uint64_t appended;
  };

  void open_directory();
  void tighten_files();
  void recover(std::vector<uint64_t> segments, SpoolPosition checkpoint);
  void recover_segment(uint64_t seq, uint64_t from);
  bool open_segment(uint64_t seq);
  bool probe_free_space();

  bool drop(std::atomic<uint64_t>* reason, const char* message, int error_number, int cause,
            uint64_t records = 1);
  void mark_degraded(int cause, uint64_t records);
  void mark_healthy();
  void disk_bytes_add(uint64_t bytes);
  bool write_held();
  bool write_at_end(const char* bytes, size_t size);
  bool roll();

  WriteSnapshot snapshot();
  size_t read_available(size_t max_rows, RecordBatch* batch, std::deque<SpoolMark>* marks);
  bool open_reader_segment(const WriteSnapshot& write);
  void wait_for_appends(std::chrono::steady_clock::time_point until, uint64_t wanted);

  void write_checkpoint_now();
  void delete_segments_before(uint64_t seq);
  void flusher_main();
  void sync_pending();

  const SinkOptions options_;  // a copy: callers may pass a temporary
  SinkStats& stats_;
  const std::string dir_;
  const uint64_t segment_limit_;
  bool usable_ = false;
  SpoolProblem problem_;
  int lock_fd_ = -1;

  // Writer state, guarded by mutex_ (the reader and flusher take it for a moment only).
  std::mutex mutex_;
  std::condition_variable appended_cv_;
  bool closed_ = false;
  int segment_fd_ = -1;
  uint64_t write_seq_ = 0;
  uint64_t write_end_ = 0;  // bytes of the current segment holding whole frames
  uint64_t appended_records_ = 0;
  uint64_t reader_wake_at_ = UINT64_MAX;  // appended_records_ that wakes the reader
  std::vector<int> retired_fds_;          // rolled segments the flusher syncs and closes
  bool unsynced_ = false;
  bool dir_unsynced_ = false;
  std::string scratch_;
  int hold_depth_ = 0;
  std::string held_;  // whole frames gathered while held, not yet written
  uint64_t held_records_ = 0;
  base::LogRateLimiter full_log_;
  base::LogRateLimiter error_log_;
  base::LogRateLimiter resumed_log_;
  std::chrono::steady_clock::time_point next_roll_attempt_{};

  // Reader state: sink thread only.
  SpoolPosition read_position_;
  std::unique_ptr<SegmentScanner> scanner_;
  uint64_t scanner_limit_ = 0;  // the file's size once the segment is complete
  bool scanner_complete_ = false;
  uint64_t recovered_through_ = 0;  // segments up to this one were checked at start
  uint64_t oldest_segment_ = 0;     // segments below this one are deleted
  uint64_t seen_appended_ = 0;
  std::deque<SpoolPosition> finished_segments_;  // ends of segments read to the end
  SpoolPosition committed_;
  SpoolPosition checkpointed_;
  std::chrono::steady_clock::time_point next_checkpoint_{};
  base::LogRateLimiter read_log_;

  // Flusher.
  std::mutex flusher_mutex_;
  std::condition_variable flusher_cv_;
  bool flusher_stop_ = false;
  std::thread flusher_;
};

}  // namespace mcptap::sink

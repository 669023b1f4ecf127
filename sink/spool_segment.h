// Spool segment files and the checkpoint file: names, positions, and a frame scanner that
// reads a segment through a buffer, resyncing past damage.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "capture/record.h"
#include "sink/spool_frame.h"

namespace mcptap::sink {

// A place in the spool: a byte offset in the segment with this sequence number.
struct SpoolPosition {
  uint64_t seq = 0;
  uint64_t offset = 0;
  auto operator<=>(const SpoolPosition&) const = default;
};

// "00000000000000000042.seg": fixed width, so names sort like their numbers.
std::string segment_file_name(uint64_t seq);
std::optional<uint64_t> segment_seq_of(std::string_view file_name);

inline constexpr std::string_view kCheckpointFileName = "checkpoint";

// Writes the checkpoint atomically and durably: a temporary file, fsync, rename, fsync of
// the directory. Fails with the step and the system's reason ("rename checkpoint: No space
// left on device").
base::Status write_checkpoint(const std::string& dir, SpoolPosition position);
// The checkpoint, or nullopt when there is none (or it cannot be opened). Fails ("checkpoint
// damaged: ...") when a file exists but is not a checkpoint or fails its checksum: the
// caller then replays from the oldest segment.
base::Result<std::optional<SpoolPosition>> read_checkpoint(const std::string& dir);

// Reads frames of one segment file in order. Owns the file descriptor.
class SegmentScanner {
 public:
  enum class Step {
    Record,     // a valid frame; record and frame_end are set
    Corrupt,    // damaged bytes in [frame_begin, frame_end), skipped; a valid frame follows
    Torn,       // from frame_begin to the limit nothing valid: a torn tail (or damage)
    End,        // offset reached the limit
    ReadError,  // pread failed (error says why); nothing consumed
  };
  struct Result {
    Step step = Step::End;
    uint64_t frame_begin = 0;
    uint64_t frame_end = 0;
    std::optional<capture::Record> record;
    base::Error error;  // for ReadError: "read segment: <the system's reason>"
  };

  SegmentScanner(int fd, uint64_t offset);
  ~SegmentScanner();
  SegmentScanner(const SegmentScanner&) = delete;
  SegmentScanner& operator=(const SegmentScanner&) = delete;

  // The next step below `limit` (the bytes of the file known to be written).
  Result next(uint64_t limit);
  uint64_t offset() const { return offset_; }
  int fd() const { return fd_; }

 private:
  const uint8_t* view(uint64_t at, size_t length, uint64_t limit);
  std::optional<FrameHeader> header_at(uint64_t at, uint64_t limit);
  base::Result<std::optional<uint64_t>> resync(uint64_t from, uint64_t limit);
  Result read_failed();

  int fd_;
  uint64_t offset_;
  base::Error read_error_;  // why view() last returned nullptr inside the limit
  std::string buffer_;
  uint64_t buffer_offset_ = 0;  // file offset of buffer_[0]
};

}  // namespace mcptap::sink

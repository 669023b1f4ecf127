// Segment names, the checkpoint file, and frame-by-frame reading of a segment with resync.
#include "sink/spool_segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sink/crc32c.h"
#include "sink/little_endian.h"
#include "sink/spool_directory.h"

namespace mcptap::sink {
namespace {

constexpr std::string_view kSegmentSuffix = ".seg";
constexpr size_t kSegmentDigits = 20;
constexpr size_t kReadChunkBytes = 1 << 20;
constexpr uint32_t kCheckpointMagic = 0x4B43544D;  // "MTCK"
constexpr size_t kCheckpointBytes = 24;            // magic, seq, offset, crc

base::Error errno_text(const char* what) {
  return base::fail(std::string(what) + ": " + std::strerror(errno));
}

bool write_all(int fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data += written;
    size -= static_cast<size_t>(written);
  }
  return true;
}

bool fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  return synced;
}

}  // namespace

std::string segment_file_name(uint64_t seq) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(seq));
  return name;
}

std::optional<uint64_t> segment_seq_of(std::string_view file_name) {
  if (file_name.size() != kSegmentDigits + kSegmentSuffix.size() ||
      file_name.substr(kSegmentDigits) != kSegmentSuffix) {
    return std::nullopt;
  }
  uint64_t seq = 0;
  for (size_t i = 0; i < kSegmentDigits; ++i) {
    char c = file_name[i];
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  return seq;
}

base::Status write_checkpoint(const std::string& dir, SpoolPosition position) {
  uint8_t bytes[kCheckpointBytes];
  put_u32(bytes, kCheckpointMagic);
  put_u64(bytes + 4, position.seq);
  put_u64(bytes + 12, position.offset);
  put_u32(bytes + 20, crc32c_extend(0, bytes, 20));
  const std::string path = dir + "/" + std::string(kCheckpointFileName);
  const std::string temporary = dir + "/" + std::string(kCheckpointTempFileName);
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return errno_text("open checkpoint.tmp");
  ::fchmod(fd, 0600);  // private whatever the umask, and whatever a leftover .tmp had
  bool written = write_all(fd, bytes, sizeof bytes) && ::fsync(fd) == 0;
  base::Error write_error = written ? base::Error{} : errno_text("write checkpoint.tmp");
  ::close(fd);
  if (!written) return write_error;
  if (::rename(temporary.c_str(), path.c_str()) != 0) return errno_text("rename checkpoint");
  // The rename itself must survive a machine crash before segments it releases go away.
  if (!fsync_path(dir, O_RDONLY | O_DIRECTORY)) return errno_text("fsync spool directory");
  return {};
}

base::Result<std::optional<SpoolPosition>> read_checkpoint(const std::string& dir) {
  const std::string path = dir + "/" + std::string(kCheckpointFileName);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::optional<SpoolPosition>();
  uint8_t bytes[kCheckpointBytes + 1];
  ssize_t got = ::read(fd, bytes, sizeof bytes);
  ::close(fd);
  if (got != ssize_t(kCheckpointBytes)) {
    return base::fail("checkpoint damaged: " + std::to_string(got < 0 ? 0 : got) + " bytes where " +
                      std::to_string(kCheckpointBytes) + " belong");
  }
  if (get_u32(bytes) != kCheckpointMagic || get_u32(bytes + 20) != crc32c_extend(0, bytes, 20)) {
    return base::fail("checkpoint damaged: it fails its checksum");
  }
  return std::optional<SpoolPosition>(SpoolPosition{get_u64(bytes + 4), get_u64(bytes + 12)});
}

SegmentScanner::SegmentScanner(int fd, uint64_t offset) : fd_(fd), offset_(offset) {}

SegmentScanner::~SegmentScanner() {
  if (fd_ >= 0) ::close(fd_);
}

// Bytes [at, at + length) of the file, read through the buffer; nullptr past the limit or
// on a read error.
const uint8_t* SegmentScanner::view(uint64_t at, size_t length, uint64_t limit) {
  if (at + length > limit) return nullptr;
  if (at >= buffer_offset_ && at + length <= buffer_offset_ + buffer_.size()) {
    return reinterpret_cast<const uint8_t*>(buffer_.data()) + (at - buffer_offset_);
  }
  size_t want = std::max<size_t>(length, std::min<uint64_t>(kReadChunkBytes, limit - at));
  buffer_.resize(want);
  buffer_offset_ = at;
  size_t filled = 0;
  while (filled < want) {
    ssize_t got = ::pread(fd_, buffer_.data() + filled, want - filled, off_t(at + filled));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) read_error_ = errno_text("read segment");
    if (got == 0) {
      read_error_ = base::fail(
          "read segment: the file is shorter than the bytes written (no byte at offset " +
          std::to_string(at + filled) + ")");
    }
    if (got <= 0) break;
    filled += static_cast<size_t>(got);
  }
  buffer_.resize(filled);
  if (filled < length) return nullptr;
  return reinterpret_cast<const uint8_t*>(buffer_.data());
}

std::optional<FrameHeader> SegmentScanner::header_at(uint64_t at, uint64_t limit) {
  const uint8_t* bytes = view(at, kFrameHeaderBytes, limit);
  if (!bytes) return std::nullopt;
  return decode_frame_header(bytes);
}

// The offset of the next valid frame header after `from`, if any below the limit.
base::Result<std::optional<uint64_t>> SegmentScanner::resync(uint64_t from, uint64_t limit) {
  for (uint64_t at = from + 1; at + kFrameHeaderBytes <= limit; ++at) {
    const uint8_t* bytes = view(at, kFrameHeaderBytes, limit);
    if (!bytes) return read_error_;
    // A cheap test of the first magic byte before the checksum.
    if (bytes[0] == (kFrameMagic & 0xFF) && decode_frame_header(bytes)) {
      return std::optional<uint64_t>(at);
    }
  }
  return std::optional<uint64_t>();
}

SegmentScanner::Result SegmentScanner::read_failed() {
  Result result;
  result.step = Step::ReadError;
  result.frame_begin = offset_;
  result.error = read_error_;
  return result;
}

SegmentScanner::Result SegmentScanner::next(uint64_t limit) {
  Result result;
  result.frame_begin = offset_;
  if (offset_ >= limit) return result;
  std::optional<FrameHeader> header = header_at(offset_, limit);
  if (!header) {
    base::Result<std::optional<uint64_t>> next_frame = resync(offset_, limit);
    if (!next_frame) return read_failed();
    result.step = *next_frame ? Step::Corrupt : Step::Torn;
    offset_ = result.frame_end = next_frame->value_or(limit);
    return result;
  }
  const uint64_t end = offset_ + kFrameHeaderBytes + header->body_bytes;
  if (end > limit) {  // the last frame was not written out in full
    result.step = Step::Torn;
    offset_ = result.frame_end = limit;
    return result;
  }
  const uint8_t* body = view(offset_ + kFrameHeaderBytes, header->body_bytes, limit);
  if (!body) return read_failed();
  std::string_view body_text(reinterpret_cast<const char*>(body), header->body_bytes);
  if (crc32c(body_text) == header->body_crc) {
    result.record = decode_frame_body(*header, body_text);
  }
  result.step = result.record ? Step::Record : Step::Corrupt;
  offset_ = result.frame_end = end;
  return result;
}

}  // namespace mcptap::sink

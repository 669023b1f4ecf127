// Tests for sink/spool_segment.cpp: how the checkpoint file and the segment scanner report
// failure (the round trips through a whole spool are in spool_test.cpp).
#include "sink/spool_segment.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sink/spool_directory.h"
#include "tests/support/temp_dir.h"

namespace mcptap::sink {
namespace {

namespace fs = std::filesystem;

using test_support::TempDir;

std::string checkpoint_path(const TempDir& dir) {
  return dir.path() + "/" + std::string(kCheckpointFileName);
}

TEST(SpoolCheckpoint, NoFileIsNoCheckpoint) {
  TempDir dir;
  base::Result<std::optional<SpoolPosition>> checkpoint = read_checkpoint(dir.path());
  ASSERT_TRUE(checkpoint) << checkpoint.error().message;
  EXPECT_FALSE(*checkpoint);
}

TEST(SpoolCheckpoint, WrittenCheckpointReadsBack) {
  TempDir dir;
  const SpoolPosition position{42, 123456789012};
  base::Status written = write_checkpoint(dir.path(), position);
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_FALSE(fs::exists(dir.file(std::string(kCheckpointTempFileName))));
  EXPECT_EQ(fs::status(checkpoint_path(dir)).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  base::Result<std::optional<SpoolPosition>> checkpoint = read_checkpoint(dir.path());
  ASSERT_TRUE(checkpoint) << checkpoint.error().message;
  ASSERT_TRUE(*checkpoint);
  EXPECT_EQ(**checkpoint, position);
}

TEST(SpoolCheckpoint, ShortFileIsDamaged) {
  TempDir dir;
  std::ofstream(checkpoint_path(dir)) << "MTC";
  base::Result<std::optional<SpoolPosition>> checkpoint = read_checkpoint(dir.path());
  ASSERT_FALSE(checkpoint);
  EXPECT_EQ(checkpoint.error().message, "checkpoint damaged: 3 bytes where 24 belong");
}

TEST(SpoolCheckpoint, EveryFlippedByteIsDamage) {
  TempDir dir;
  ASSERT_TRUE(write_checkpoint(dir.path(), SpoolPosition{7, 4096}).ok());
  std::string bytes;
  {
    std::ifstream in(checkpoint_path(dir), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_EQ(bytes.size(), 24u);
  for (size_t at = 0; at < bytes.size(); ++at) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x01);
    std::ofstream(checkpoint_path(dir), std::ios::binary | std::ios::trunc) << flipped;
    base::Result<std::optional<SpoolPosition>> checkpoint = read_checkpoint(dir.path());
    ASSERT_FALSE(checkpoint) << "byte " << at;
    EXPECT_EQ(checkpoint.error().message, "checkpoint damaged: it fails its checksum");
  }
}

TEST(SpoolCheckpoint, WriteFailureNamesTheStepAndTheReason) {
  TempDir dir;
  base::Status missing = write_checkpoint(dir.path() + "/gone", SpoolPosition{1, 0});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "open checkpoint.tmp: No such file or directory");

  // A directory where the checkpoint belongs: the temporary file is written, the rename fails.
  fs::create_directory(checkpoint_path(dir));
  fs::create_directory(checkpoint_path(dir) + "/in-the-way");
  base::Status blocked = write_checkpoint(dir.path(), SpoolPosition{1, 0});
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().message, "rename checkpoint: Is a directory");
}

TEST(SegmentScanner, ReadErrorSaysWhy) {
  TempDir dir;
  const std::string path = dir.path() + "/" + segment_file_name(1);
  std::ofstream(path) << "";
  // A descriptor that cannot be read: pread itself fails.
  SegmentScanner unreadable(::open(path.c_str(), O_WRONLY | O_CLOEXEC), 0);
  SegmentScanner::Result failed = unreadable.next(4096);
  EXPECT_EQ(failed.step, SegmentScanner::Step::ReadError);
  EXPECT_EQ(failed.error.message, "read segment: Bad file descriptor");
  EXPECT_EQ(unreadable.offset(), 0u);  // nothing consumed

  // A file shorter than the bytes the writer says it wrote.
  SegmentScanner short_file(::open(path.c_str(), O_RDONLY | O_CLOEXEC), 0);
  SegmentScanner::Result cut = short_file.next(4096);
  EXPECT_EQ(cut.step, SegmentScanner::Step::ReadError);
  EXPECT_EQ(cut.error.message,
            "read segment: the file is shorter than the bytes written (no byte at offset 1)");
  EXPECT_EQ(short_file.offset(), 0u);
}

TEST(SegmentScanner, EndAndTornCarryNoError) {
  TempDir dir;
  const std::string path = dir.path() + "/" + segment_file_name(2);
  std::ofstream(path) << "not a frame at all, only damage up to the end of the file";
  SegmentScanner scanner(::open(path.c_str(), O_RDONLY | O_CLOEXEC), 0);
  SegmentScanner::Result torn = scanner.next(fs::file_size(path));
  EXPECT_EQ(torn.step, SegmentScanner::Step::Torn);
  EXPECT_EQ(torn.error.message, "");
  SegmentScanner::Result end = scanner.next(fs::file_size(path));
  EXPECT_EQ(end.step, SegmentScanner::Step::End);
  EXPECT_EQ(end.error.message, "");
}

}  // namespace
}  // namespace mcptap::sink

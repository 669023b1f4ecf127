// Tests for sink/spool.cpp, sink/spool_frame.cpp, sink/spool_segment.cpp and sink/crc32c.cpp:
// round trips of every field, segment rolls, checkpoints, recovery from torn tails, flipped
// bits and a killed process, the byte bound, an unusable directory and a full disk.
#include "sink/spool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "sink/crc32c.h"
#include "sink/little_endian.h"
#include "sink/spool_frame.h"
#include "tests/support/temp_dir.h"

namespace mcptap::sink {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

using test_support::TempDir;

capture::Record full_record(int sequence, size_t payload_size = 40) {
  capture::Record record;
  record.id = base::Uuid::v7();
  record.captured_at_us = 1'717'171'717'000'000 + sequence;
  record.route = "route-" + std::to_string(sequence % 3);
  record.connection_id = "conn\t" + std::to_string(sequence);
  record.session_id = "session-ü";
  record.transport = capture::Transport::Sse;
  record.direction = capture::Direction::ServerToClient;
  record.kind = capture::Kind::Response;
  record.jsonrpc_id = "\"" + std::to_string(sequence) + "\"";
  record.method = "tools/call";
  record.correlation_id = base::Uuid::v7();
  record.latency_us = -5 + sequence;
  record.payload = R"({"jsonrpc":"2.0","id":")" + std::to_string(sequence) + R"(","result":")" +
                   std::string(payload_size, 'x') + "\"}";
  record.payload_bytes = 1'000'000'000'000 + sequence;
  record.truncated = true;
  record.redacted = true;
  record.meta_json = R"({"http":{"status":200}})";
  record.operation_id = base::Uuid::v7();
  return record;
}

capture::Record sparse_record(int sequence) {
  capture::Record record;
  record.id = base::Uuid::v7();
  record.captured_at_us = -1'000 - sequence;  // before 1970: signed values survive
  record.route = "";
  record.transport = capture::Transport::Stdio;
  record.kind = capture::Kind::Invalid;
  record.payload_bytes = 0;
  record.meta_json = "";
  return record;
}

void expect_same(const capture::Record& a, const capture::Record& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.captured_at_us, b.captured_at_us);
  EXPECT_EQ(a.route, b.route);
  EXPECT_EQ(a.connection_id, b.connection_id);
  EXPECT_EQ(a.session_id, b.session_id);
  EXPECT_EQ(a.transport, b.transport);
  EXPECT_EQ(a.direction, b.direction);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.jsonrpc_id, b.jsonrpc_id);
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.correlation_id, b.correlation_id);
  EXPECT_EQ(a.latency_us, b.latency_us);
  EXPECT_EQ(a.payload, b.payload);
  EXPECT_EQ(a.payload_bytes, b.payload_bytes);
  EXPECT_EQ(a.truncated, b.truncated);
  EXPECT_EQ(a.redacted, b.redacted);
  EXPECT_EQ(a.meta_json, b.meta_json);
  EXPECT_EQ(a.operation_id, b.operation_id);
}

std::string from_hex(std::string_view hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return bytes;
}

// A whole frame of the first format, as the release before operations wrote it (the one
// RecordColumnsTest.AFrameOfTheFirstFormatStillDecodes reads field by field).
std::string released_format_one_frame() {
  return from_hex(
      "4d54535001000000750000007b5b07d90102030405060708090a0b0c0d0e0f10d9381e79"
      "407ec9b6631706000800000000000000dc050000000000000201027f202122232425262728292a2b2c2d2e2f"
      "01000000720100000063010000007301000000370a000000746f6f6c732f63616c6c080000007b226964223a"
      "377d170000007b2268747470223a7b22737461747573223a3230307d7d");
}

SinkOptions options_in(const std::string& dir) {
  SinkOptions options;
  options.spool_dir = dir;
  options.fsync_interval_ms = 20;
  return options;
}

// Everything the spool holds now, read without waiting.
struct ReadBack {
  RecordBatch records;
  std::deque<SpoolMark> marks;
};
ReadBack read_all(Spool& spool) {
  ReadBack out;
  while (spool.read_batch(1000, milliseconds(0), &out.records, &out.marks) > 0) {
  }
  return out;
}

void commit_all(Spool& spool, const ReadBack& read) {
  uint64_t bytes = 0;
  for (const SpoolMark& mark : read.marks) bytes += mark.frame_bytes;
  spool.commit(read.marks.back().end, read.marks.size(), bytes);
}

std::vector<fs::path> segment_files(const std::string& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".seg") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// ---- CRC32C and frames ----

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c_extend_portable(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, HardwareAndPortableAgreeAtEveryLengthAndSplit) {
  std::mt19937 random(7);
  std::string data(300, '\0');
  for (char& c : data) c = static_cast<char>(random());
  for (size_t length = 0; length <= data.size(); ++length) {
    uint32_t whole = crc32c_extend_portable(0, data.data(), length);
    ASSERT_EQ(crc32c_extend(0, data.data(), length), whole) << length;
    size_t split = length / 3;
    uint32_t pieces =
        crc32c_extend(crc32c_extend(0, data.data(), split), data.data() + split, length - split);
    ASSERT_EQ(pieces, whole) << length;
  }
}

TEST(SpoolFrameTest, EveryFieldRoundTrips) {
  for (const capture::Record& record : {full_record(1), sparse_record(2)}) {
    std::string body;
    uint8_t header[kFrameHeaderBytes];
    ASSERT_TRUE(encode_frame(record, &body, header));
    std::optional<FrameHeader> decoded_header = decode_frame_header(header);
    ASSERT_TRUE(decoded_header);
    EXPECT_EQ(decoded_header->id, record.id);
    EXPECT_EQ(decoded_header->body_bytes, body.size());
    std::optional<capture::Record> decoded = decode_frame_body(*decoded_header, body);
    ASSERT_TRUE(decoded);
    expect_same(*decoded, record);
  }
}

TEST(SpoolFrameTest, DamagedHeaderOrBodyIsRefused) {
  std::string body;
  uint8_t header[kFrameHeaderBytes];
  ASSERT_TRUE(encode_frame(full_record(1), &body, header));
  for (size_t byte = 0; byte < kFrameHeaderBytes; ++byte) {
    header[byte] ^= 0x10;
    EXPECT_FALSE(decode_frame_header(header)) << byte;
    header[byte] ^= 0x10;
  }
  FrameHeader parsed = *decode_frame_header(header);
  // A body that passed its checksum but is malformed (an unknown kind) is refused too.
  std::string bad_kind = body;
  bad_kind[26] = 99;
  EXPECT_FALSE(decode_frame_body(parsed, bad_kind));
  EXPECT_FALSE(decode_frame_body(parsed, body.substr(0, body.size() - 1)));
}

TEST(SpoolFrameTest, OnlyKnownFormatsAreRead) {
  std::string body;
  uint8_t header[kFrameHeaderBytes];
  ASSERT_TRUE(encode_frame(full_record(1), &body, header));
  EXPECT_EQ(header[4], kFrameFormat);
  // A format this release does not know, with a valid header checksum, is not guessed at.
  for (uint8_t format : {uint8_t{0}, uint8_t{kFrameFormat + 1}, uint8_t{255}}) {
    header[4] = format;
    put_u32(header + 32, crc32c_extend(0, header, 32));
    EXPECT_FALSE(decode_frame_header(header)) << int(format);
  }
  for (uint8_t format = kOldestFrameFormat; format <= kFrameFormat; ++format) {
    header[4] = format;
    put_u32(header + 32, crc32c_extend(0, header, 32));
    ASSERT_TRUE(decode_frame_header(header)) << int(format);
    EXPECT_EQ(decode_frame_header(header)->format, format);
  }
}

// ---- Spool ----

// The spool a previous release left behind (format-1 frames) is delivered after an upgrade,
// ahead of what this release appends in format 2.
TEST(SpoolTest, ASegmentOfTheFirstFormatIsReadAfterAnUpgrade) {
  TempDir dir;
  const std::string old_frame = released_format_one_frame();
  write_file(fs::path(dir.path()) / segment_file_name(1), old_frame + old_frame);
  SinkStats stats;
  Spool spool(options_in(dir.path()), stats);
  ASSERT_TRUE(spool.usable());
  EXPECT_EQ(stats.spool_records.load(), 2u);
  EXPECT_EQ(stats.spool_truncated_bytes.load(), 0u);
  EXPECT_EQ(stats.spool_corrupt_records.load(), 0u);
  capture::Record fresh = full_record(7);
  ASSERT_TRUE(spool.append(fresh));
  ReadBack read = read_all(spool);
  ASSERT_EQ(read.records.size(), 3u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(read.records[i].id.to_string(), "01020304-0506-0708-090a-0b0c0d0e0f10");
    EXPECT_EQ(read.records[i].payload, R"({"id":7})");
    EXPECT_FALSE(read.records[i].operation_id);
  }
  expect_same(read.records[2], fresh);
  commit_all(spool, read);
  EXPECT_EQ(stats.spool_records.load(), 0u);
}

TEST(SpoolTest, AppendedRecordsReadBackWithEveryField) {
  TempDir dir;
  SinkStats stats;
  Spool spool(options_in(dir.path()), stats);
  ASSERT_TRUE(spool.usable());
  std::vector<capture::Record> written;
  for (int i = 0; i < 50; ++i) written.push_back(i % 2 ? full_record(i) : sparse_record(i));
  for (const auto& record : written) ASSERT_TRUE(spool.append(record));
  EXPECT_EQ(stats.accepted_records.load(), 50u);
  EXPECT_EQ(stats.spool_records.load(), 50u);
  EXPECT_EQ(stats.spool_bytes.load(), stats.spool_disk_bytes.load());

  ReadBack read = read_all(spool);
  ASSERT_EQ(read.records.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) expect_same(read.records[i], written[i]);
  EXPECT_TRUE(spool.caught_up());
  commit_all(spool, read);
  EXPECT_EQ(stats.spool_records.load(), 0u);
  EXPECT_EQ(stats.spool_bytes.load(), 0u);
}

TEST(SpoolTest, SegmentsRollAndAreReadInOrder) {
  TempDir dir;
  SinkStats stats;
  SinkOptions options = options_in(dir.path());
  options.segment_bytes = 4096;
  Spool spool(options, stats);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(spool.append(full_record(i, 200)));
  EXPECT_GE(segment_files(dir.path()).size(), 5u);
  ReadBack read = read_all(spool);
  ASSERT_EQ(read.records.size(), 100u);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(read.records[i].captured_at_us, full_record(i).captured_at_us);
}

// Held appends are gathered in memory and written together at release: nothing of them is
// on disk or readable before, everything is after, in order.
TEST(SpoolTest, HeldAppendsAreWrittenTogetherAtRelease) {
  TempDir dir;
  SinkStats stats;
  Spool spool(options_in(dir.path()), stats);
  std::vector<capture::Record> written;
  for (int i = 0; i < 10; ++i) written.push_back(full_record(i));
  spool.hold();
  spool.hold();  // nested: the outer release writes
  for (const auto& record : written) ASSERT_TRUE(spool.append(record));
  EXPECT_EQ(stats.spool_disk_bytes.load(), 0u);
  EXPECT_EQ(read_all(spool).records.size(), 0u);
  spool.release();
  EXPECT_EQ(stats.spool_disk_bytes.load(), 0u);
  spool.release();
  EXPECT_GT(stats.spool_disk_bytes.load(), 0u);
  EXPECT_EQ(stats.accepted_records.load(), 10u);
  ReadBack read = read_all(spool);
  ASSERT_EQ(read.records.size(), 10u);
  for (int i = 0; i < 10; ++i) expect_same(read.records[i], written[i]);
  spool.release();                             // unbalanced: ignored
  ASSERT_TRUE(spool.append(full_record(10)));  // not held: written at once
  EXPECT_EQ(read_all(spool).records.size(), 1u);
}

// A hold that spans a segment's end: the gathered frames stay whole in their segment and
// the rest go to the next one.
TEST(SpoolTest, HeldAppendsRollSegmentsAtFrameBoundaries) {
  TempDir dir;
  SinkStats stats;
  SinkOptions options = options_in(dir.path());
  options.segment_bytes = 4096;
  Spool spool(options, stats);
  std::vector<capture::Record> written;
  for (int i = 0; i < 100; ++i) written.push_back(full_record(i, 200));
  spool.hold();
  for (const auto& record : written) ASSERT_TRUE(spool.append(record));
  spool.release();
  EXPECT_GE(segment_files(dir.path()).size(), 5u);
  ReadBack read = read_all(spool);
  ASSERT_EQ(read.records.size(), 100u);
  for (int i = 0; i < 100; ++i) expect_same(read.records[i], written[i]);
  EXPECT_EQ(stats.dropped_records.load(), 0u);
}

// Closing while held keeps what was gathered: a restart replays it.
TEST(SpoolTest, CloseWritesWhatAHoldGathered) {
  TempDir dir;
  {
    SinkStats stats;
    Spool spool(options_in(dir.path()), stats);
    spool.hold();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(spool.append(full_record(i)));
    spool.close();
    spool.finish();
  }
  SinkStats stats;
  Spool reopened(options_in(dir.path()), stats);
  EXPECT_EQ(read_all(reopened).records.size(), 3u);
}

TEST(SpoolTest, CommitAdvancesTheCheckpointAndDeletesCommittedSegments) {
  TempDir dir;
  SinkOptions options = options_in(dir.path());
  options.segment_bytes = 4096;
  std::vector<capture::Record> written;
  for (int i = 0; i < 60; ++i) written.push_back(full_record(i, 200));
  {
    SinkStats stats;
    Spool spool(options, stats);
    for (const auto& record : written) ASSERT_TRUE(spool.append(record));
    const size_t segments_before = segment_files(dir.path()).size();
    ReadBack read = read_all(spool);
    ASSERT_EQ(read.records.size(), 60u);
    // Commit the first 40: the segments wholly before the 40th record's go.
    uint64_t bytes = 0;
    for (int i = 0; i < 40; ++i) bytes += read.marks[i].frame_bytes;
    spool.commit(read.marks[39].end, 40, bytes);
    spool.finish();
    EXPECT_LT(segment_files(dir.path()).size(), segments_before);
    EXPECT_EQ(stats.spool_records.load(), 20u);
    base::Result<std::optional<SpoolPosition>> read_back = read_checkpoint(dir.path());
    ASSERT_TRUE(read_back.ok()) << read_back.error().message;
    std::optional<SpoolPosition> checkpoint = *read_back;
    ASSERT_TRUE(checkpoint);
    // The 40th record may end its segment; the checkpoint then names the next one.
    const SpoolPosition end = read.marks[39].end;
    EXPECT_TRUE(*checkpoint == end || *checkpoint == (SpoolPosition{end.seq + 1, 0}));
  }
  // A new start replays exactly what was not committed.
  SinkStats stats;
  Spool spool(options, stats);
  EXPECT_EQ(stats.spool_records.load(), 20u);
  ReadBack replay = read_all(spool);
  ASSERT_EQ(replay.records.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(replay.records[i].id, written[40 + i].id);
  commit_all(spool, replay);
  ASSERT_TRUE(spool.append(full_record(99)));
  ReadBack fresh = read_all(spool);
  ASSERT_EQ(fresh.records.size(), 1u);
  commit_all(spool, fresh);
  spool.finish();
  // Only the segment being written remains.
  EXPECT_EQ(segment_files(dir.path()).size(), 1u);
}

// Three records, closed; returns the offset where the last one starts.
uint64_t write_three(const std::string& dir, std::vector<capture::Record>* written) {
  SinkStats stats;
  Spool spool(options_in(dir), stats);
  for (int i = 0; i < 3; ++i) {
    written->push_back(full_record(i, 100 + 50 * i));
    EXPECT_TRUE(spool.append(written->back()));
  }
  ReadBack read = read_all(spool);
  return read.marks[1].end.offset;
}

TEST(SpoolRecoveryTest, TornTailIsTruncatedAtEveryByteOfTheLastRecord) {
  TempDir source;
  std::vector<capture::Record> written;
  const uint64_t last_begins = write_three(source.path(), &written);
  const fs::path segment = segment_files(source.path()).front();
  const std::string bytes = read_file(segment);
  for (uint64_t cut = last_begins; cut < bytes.size(); ++cut) {
    TempDir dir;
    write_file(fs::path(dir.path()) / segment.filename(), bytes.substr(0, cut));
    SinkStats stats;
    Spool spool(options_in(dir.path()), stats);
    ASSERT_TRUE(spool.usable());
    EXPECT_EQ(stats.spool_truncated_bytes.load(), cut - last_begins) << cut;
    EXPECT_EQ(stats.spool_corrupt_records.load(), 0u) << cut;
    EXPECT_EQ(stats.spool_records.load(), 2u) << cut;
    EXPECT_EQ(fs::file_size(fs::path(dir.path()) / segment.filename()), last_begins);
    ASSERT_TRUE(spool.append(written[2]));  // new appends go on, in a new segment
    ReadBack read = read_all(spool);
    ASSERT_EQ(read.records.size(), 3u) << cut;
    for (int i = 0; i < 3; ++i) EXPECT_EQ(read.records[i].id, written[i].id);
  }
}

TEST(SpoolRecoveryTest, FlippedBitsInTheMiddleRecordAreSkippedAndCounted) {
  TempDir source;
  std::vector<capture::Record> written;
  const uint64_t last_begins = write_three(source.path(), &written);
  const fs::path segment = segment_files(source.path()).front();
  const std::string bytes = read_file(segment);
  SinkStats first_stats;
  const uint64_t middle_begins = [&] {
    Spool spool(options_in(source.path()), first_stats);
    return read_all(spool).marks[0].end.offset;
  }();
  // Bits flipped in the header (magic, length, id) and in the body, one place at a time.
  for (uint64_t at = middle_begins; at < last_begins; at += 7) {
    TempDir dir;
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x24);
    write_file(fs::path(dir.path()) / segment.filename(), damaged);
    SinkStats stats;
    Spool spool(options_in(dir.path()), stats);
    EXPECT_EQ(stats.spool_corrupt_records.load(), 1u) << at;
    EXPECT_EQ(stats.spool_truncated_bytes.load(), 0u) << at;
    ReadBack read = read_all(spool);
    ASSERT_EQ(read.records.size(), 2u) << at;
    EXPECT_EQ(read.records[0].id, written[0].id);
    EXPECT_EQ(read.records[1].id, written[2].id);
    EXPECT_EQ(stats.spool_corrupt_records.load(), 1u) << "counted once, at recovery";
  }
}

TEST(SpoolRecoveryTest, GarbageSegmentAndDamagedCheckpointNeverStopTheStart) {
  TempDir dir;
  std::mt19937 random(3);
  std::string garbage(10'000, '\0');
  for (char& c : garbage) c = static_cast<char>(random());
  write_file(fs::path(dir.path()) / segment_file_name(1), garbage);
  write_file(fs::path(dir.path()) / "checkpoint", "not a checkpoint");
  SinkStats stats;
  Spool spool(options_in(dir.path()), stats);
  ASSERT_TRUE(spool.usable());
  EXPECT_EQ(stats.spool_truncated_bytes.load(), garbage.size());
  EXPECT_EQ(read_all(spool).records.size(), 0u);
  ASSERT_TRUE(spool.append(full_record(1)));
  EXPECT_EQ(read_all(spool).records.size(), 1u);
}

// A process killed in the middle of its appends: every record appended before the kill is
// in the page cache, and the next start finds them all, with nothing counted as damage.
TEST(SpoolRecoveryTest, AKilledProcessLosesNoRecord) {
  TempDir dir;
  constexpr int kRecords = 500;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    SinkStats stats;
    Spool spool(options_in(dir.path()), stats);
    for (int i = 0; i < kRecords; ++i) {
      spool.hold();
      if (!spool.append(full_record(i, 300))) ::_exit(2);
      spool.release();
    }
    ::raise(SIGKILL);  // no destructor, no flush: only what reached the page cache
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  std::vector<fs::path> files = segment_files(dir.path());
  ASSERT_EQ(files.size(), 1u);

  SinkStats stats;
  Spool spool(options_in(dir.path()), stats);
  ASSERT_TRUE(spool.usable());
  EXPECT_EQ(stats.spool_records.load(), uint64_t(kRecords));
  EXPECT_EQ(stats.spool_truncated_bytes.load(), 0u);
  EXPECT_EQ(stats.spool_corrupt_records.load(), 0u);
  EXPECT_EQ(stats.spool_disk_bytes.load(), fs::file_size(files[0]));
  ReadBack read = read_all(spool);
  ASSERT_EQ(read.records.size(), size_t(kRecords));
  EXPECT_EQ(read.marks.back().end.offset, fs::file_size(files[0]));
  for (int i = 0; i < kRecords; ++i) {
    EXPECT_EQ(read.records[i].payload, full_record(i, 300).payload) << i;
  }
}

// Records of every size, some bigger than a whole segment, go in and read back; the segment
// files hold their frames and nothing else.
TEST(SpoolTest, RecordsOfEverySizeReadBackAndSegmentsHoldOnlyFrames) {
  TempDir dir;
  SinkOptions options = options_in(dir.path());
  options.segment_bytes = 256 * 1024;
  std::vector<size_t> sizes = {100, 3 << 20, 200, 100 * 1024, 2 << 20, 50};
  {
    SinkStats stats;
    Spool spool(options, stats);
    for (size_t i = 0; i < sizes.size(); ++i) {
      ASSERT_TRUE(spool.append(full_record(int(i), sizes[i])));
    }
    ReadBack read = read_all(spool);
    ASSERT_EQ(read.records.size(), sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_EQ(read.records[i].payload, full_record(int(i), sizes[i]).payload) << i;
    }
  }
  uint64_t total = 0;
  for (const fs::path& file : segment_files(dir.path())) total += fs::file_size(file);
  SinkStats stats;
  Spool reopened(options, stats);
  EXPECT_EQ(stats.spool_records.load(), sizes.size());
  EXPECT_EQ(stats.spool_bytes.load(), total) << "no byte of any segment is padding";
  EXPECT_EQ(stats.spool_truncated_bytes.load(), 0u);
}

TEST(SpoolTest, FullSpoolDropsAndCountsThenTakesRecordsAgainOnceCommitted) {
  TempDir dir;
  SinkStats stats;
  SinkOptions options = options_in(dir.path());
  options.spool_max_bytes = 64 * 1024;
  Spool spool(options, stats);
  int accepted = 0;
  for (int i = 0; i < 200; ++i) accepted += spool.append(full_record(i, 1000)) ? 1 : 0;
  EXPECT_GT(accepted, 20);
  EXPECT_LT(accepted, 200);
  EXPECT_EQ(stats.spool_full_drops.load(), uint64_t(200 - accepted));
  EXPECT_EQ(stats.dropped_records.load(), uint64_t(200 - accepted));
  EXPECT_EQ(stats.spool_write_errors.load(), 0u);
  EXPECT_LE(stats.spool_disk_bytes.load(), options.spool_max_bytes);
  uint64_t on_disk = 0;  // the bound is on the disk, not only on the counter
  for (const fs::path& file : segment_files(dir.path())) on_disk += fs::file_size(file);
  EXPECT_LE(on_disk, options.spool_max_bytes);

  ReadBack read = read_all(spool);
  EXPECT_EQ(read.records.size(), size_t(accepted));
  commit_all(spool, read);
  // The blocks come back when the flusher has synced and closed the rolled segment.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_TRUE(spool.append(full_record(1000, 1000)));
  EXPECT_EQ(read_all(spool).records.size(), 1u);
}

TEST(SpoolTest, UnusableDirectoryDropsAndCountsWithoutThrowing) {
  TempDir dir;
  const std::string file = dir.path() + "/a-file";
  write_file(file, "x");
  SinkStats stats;
  Spool spool(options_in(file + "/spool"), stats);  // ENOTDIR, even for root
  EXPECT_FALSE(spool.usable());
  EXPECT_FALSE(stats.spool_usable.load());
  EXPECT_EQ(spool.problem().reason, file + " is not a directory");
  EXPECT_EQ(spool.problem().fix, "set sink.spool_dir to a directory");
  EXPECT_FALSE(spool.append(full_record(1)));
  EXPECT_FALSE(spool.append(full_record(2)));
  EXPECT_EQ(stats.spool_write_errors.load(), 2u);
  EXPECT_EQ(stats.dropped_records.load(), 2u);
  RecordBatch batch;
  std::deque<SpoolMark> marks;
  EXPECT_EQ(spool.read_batch(10, milliseconds(0), &batch, &marks), 0u);
  EXPECT_TRUE(spool.caught_up());
  // The sink thread waits out its linger instead of spinning on a spool that never fills.
  Clock::time_point start = Clock::now();
  EXPECT_EQ(spool.read_batch(10, milliseconds(100), &batch, &marks), 0u);
  EXPECT_GE(Clock::now() - start, milliseconds(90));
}

TEST(SpoolTest, ASecondSpoolOnTheSameDirectoryIsRefused) {
  TempDir dir;
  SinkStats first_stats;
  SinkStats second_stats;
  Spool first(options_in(dir.path()), first_stats);
  Spool second(options_in(dir.path()), second_stats);
  EXPECT_TRUE(first.usable());
  EXPECT_FALSE(second.usable());
  EXPECT_FALSE(second.append(full_record(1)));
  // The holder wrote its pid in the lock file; the refusal names it.
  EXPECT_EQ(second.problem().reason,
            "locked by another mcptap process (pid " + std::to_string(::getpid()) + ")");
  EXPECT_TRUE(second.problem().locked);
  // The dropped record marks capture degraded, with the directory's problem as the cause.
  EXPECT_EQ(second_stats.degraded_cause.load(), SinkStats::kDegradedUnusable);
  EXPECT_EQ(second_stats.degraded_drops.load(), 1u);
}

TEST(SpoolTest, APathThatIsAFileIsNotADirectory) {
  TempDir dir;
  const std::string file = dir.path() + "/a-file";
  write_file(file, "x");
  SinkStats stats;
  Spool spool(options_in(file), stats);
  EXPECT_FALSE(spool.usable());
  EXPECT_EQ(spool.problem().reason, "not a directory");
}

mode_t mode_of(const std::string& path) {
  struct stat status {};
  EXPECT_EQ(::lstat(path.c_str(), &status), 0) << path;
  return status.st_mode & 07777;
}

// Captured data is private whatever the umask: directories 0700 (parents it creates too),
// files 0600.
TEST(SpoolPermissionsTest, CreatedDirectoriesAndFilesArePrivateWhateverTheUmask) {
  TempDir dir;
  const std::string spool_dir = dir.path() + "/parent/spool";
  const mode_t saved = ::umask(0);
  {
    SinkStats stats;
    Spool spool(options_in(spool_dir), stats);
    ASSERT_TRUE(spool.usable()) << spool.problem().text();
    ASSERT_TRUE(spool.append(full_record(1)));
    ReadBack read = read_all(spool);
    commit_all(spool, read);  // writes the checkpoint
    spool.finish();
  }
  ::umask(saved);
  EXPECT_EQ(mode_of(dir.path() + "/parent"), 0700u);
  EXPECT_EQ(mode_of(spool_dir), 0700u);
  EXPECT_EQ(mode_of(spool_dir + "/lock"), 0600u);
  EXPECT_EQ(mode_of(spool_dir + "/checkpoint"), 0600u);
  ASSERT_FALSE(segment_files(spool_dir).empty());
  for (const fs::path& segment : segment_files(spool_dir)) {
    EXPECT_EQ(mode_of(segment.string()), 0600u) << segment;
  }
}

// What an older mcptap left readable by every local user (0755, 0644) is tightened.
TEST(SpoolPermissionsTest, OwnOlderDirectoryAndFilesAreTightened) {
  TempDir dir;
  const std::string spool_dir = dir.path() + "/spool";
  ASSERT_EQ(::mkdir(spool_dir.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(spool_dir.c_str(), 0755), 0);
  for (const char* name : {"lock", "00000000000000000001.seg"}) {
    write_file(spool_dir + "/" + name, "");
    ASSERT_EQ(::chmod((spool_dir + "/" + name).c_str(), 0644), 0);
  }
  SinkStats stats;
  Spool spool(options_in(spool_dir), stats);
  ASSERT_TRUE(spool.usable()) << spool.problem().text();
  EXPECT_EQ(mode_of(spool_dir), 0700u);
  EXPECT_EQ(mode_of(spool_dir + "/lock"), 0600u);
  EXPECT_EQ(mode_of(spool_dir + "/00000000000000000001.seg"), 0600u);
}

// Another user who can write in the directory could swap segments or take the lock: such a
// directory is refused, not repaired.
TEST(SpoolPermissionsTest, DirectoryWritableByGroupOrOthersIsRefused) {
  for (mode_t mode : {mode_t(0777), mode_t(0770), mode_t(0702), mode_t(01777)}) {
    TempDir dir;
    const std::string spool_dir = dir.path() + "/spool";
    ASSERT_EQ(::mkdir(spool_dir.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(spool_dir.c_str(), mode), 0);
    SinkStats stats;
    Spool spool(options_in(spool_dir), stats);
    EXPECT_FALSE(spool.usable()) << std::oct << mode;
    EXPECT_TRUE(spool.problem().reason.starts_with("writable by group or others (mode 0"))
        << spool.problem().reason;
    EXPECT_EQ(mode_of(spool_dir), mode) << "a refused directory is left as it is";
    EXPECT_FALSE(fs::exists(spool_dir + "/lock"));
  }
}

// Fills a spool whose writes start failing; traffic goes on, drops are write errors, what
// was written before the disk filled reads back intact, and committing it makes room.
void expect_disk_full_is_survived(const std::string& dir) {
  SinkStats stats;
  Spool spool(options_in(dir), stats);
  ASSERT_TRUE(spool.usable());
  int accepted = 0;
  for (int i = 0; i < 300; ++i) accepted += spool.append(full_record(i, 1000)) ? 1 : 0;
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 300);
  EXPECT_EQ(stats.spool_write_errors.load(), uint64_t(300 - accepted));
  EXPECT_EQ(stats.spool_full_drops.load(), 0u);
  ReadBack read = read_all(spool);
  EXPECT_EQ(read.records.size(), size_t(accepted));
  EXPECT_EQ(stats.spool_corrupt_records.load(), 0u) << "a partial write was cut off again";
  // Once PostgreSQL has it all, the full segment is deleted and captures fit again.
  commit_all(spool, read);
  // The blocks come back when the flusher has synced and closed the rolled segment.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_TRUE(spool.append(full_record(1000, 1000)));
  EXPECT_EQ(read_all(spool).records.size(), 1u);
}

TEST(SpoolDiskFullTest, TinyTmpfsFillsUp) {
  TempDir dir;
  if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=128k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root); RlimitFsize covers the case";
  }
  expect_disk_full_is_survived(dir.path() + "/spool");
  ::umount(dir.path().c_str());
}

// Without a mount, RLIMIT_FSIZE makes write() fail with EFBIG past the limit (SIGXFSZ
// ignored): the same path as ENOSPC for the spool.
TEST(SpoolDiskFullTest, FileSizeLimitFillsUp) {
  TempDir dir;
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = 100 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  expect_disk_full_is_survived(dir.path());
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous_handler);
}

// While writes fail, capture is degraded (since when, why, how many dropped); the first
// write that succeeds again ends it.
void expect_failing_writes_degrade_capture(const std::string& dir, int expected_errno) {
  SinkStats stats;
  Spool spool(options_in(dir), stats);
  ASSERT_TRUE(spool.usable());
  int appended = 0;
  while (appended < 1000 && spool.append(full_record(appended, 1000))) ++appended;
  ASSERT_LT(appended, 1000) << "the disk never filled";
  EXPECT_GT(stats.degraded_since_unix_us.load(), 0);
  EXPECT_EQ(stats.degraded_cause.load(), expected_errno);
  EXPECT_EQ(stats.degraded_drops.load(), 1u);
  commit_all(spool, read_all(spool));
  std::this_thread::sleep_for(milliseconds(100));  // the flusher closes the full segment
  ASSERT_TRUE(spool.append(full_record(1000, 1000)));
  EXPECT_EQ(stats.degraded_since_unix_us.load(), 0);
}

TEST(SpoolDiskFullTest, FailingWritesMarkCaptureDegradedUntilAWriteSucceeds) {
  TempDir dir;
  if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=128k") == 0) {
    expect_failing_writes_degrade_capture(dir.path() + "/spool", ENOSPC);
    ::umount(dir.path().c_str());
    return;
  }
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = 100 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  expect_failing_writes_degrade_capture(dir.path(), EFBIG);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous_handler);
}

// The spool_max_bytes bound is a degradation of its own cause.
TEST(SpoolTest, ReachingSpoolMaxBytesMarksCaptureDegraded) {
  TempDir dir;
  SinkStats stats;
  SinkOptions options = options_in(dir.path());
  options.spool_max_bytes = 64 * 1024;
  Spool spool(options, stats);
  for (int i = 0; i < 200; ++i) spool.append(full_record(i, 1000));
  EXPECT_GT(stats.degraded_since_unix_us.load(), 0);
  EXPECT_EQ(stats.degraded_cause.load(), SinkStats::kDegradedSpoolFull);
  EXPECT_EQ(stats.degraded_drops.load(), stats.spool_full_drops.load());
}

TEST(SpoolTest, ReaderWakesForRecordsAppendedWhileItWaits) {
  TempDir dir;
  SinkStats stats;
  Spool spool(options_in(dir.path()), stats);
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    spool.append(full_record(1));
  });
  RecordBatch batch;
  std::deque<SpoolMark> marks;
  Clock::time_point start = Clock::now();
  // linger 5 s with nothing there: the first record starts the linger, which ends the wait
  // at max_rows = 1 at once.
  EXPECT_EQ(spool.read_batch(1, milliseconds(5000), &batch, &marks), 1u);
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  writer.join();
}

TEST(SpoolTest, CloseRefusesAppendsAndEndsAWait) {
  TempDir dir;
  SinkStats stats;
  Spool spool(options_in(dir.path()), stats);
  std::thread closer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    spool.close();
  });
  RecordBatch batch;
  std::deque<SpoolMark> marks;
  Clock::time_point start = Clock::now();
  EXPECT_EQ(spool.read_batch(10, milliseconds(5000), &batch, &marks), 0u);
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  closer.join();
  EXPECT_FALSE(spool.append(full_record(1)));
  EXPECT_EQ(stats.dropped_records.load(), 1u);
}

}  // namespace
}  // namespace mcptap::sink

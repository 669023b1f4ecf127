// Tests for sink/sink.cpp end to end against real PostgreSQL servers: everything consumed
// is committed by stop(), an unreachable server keeps records spooled, an outage heals, and
// a restart replays the spool without duplicating a row.
#include "sink/sink.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "pg_test_support.h"
#include "tests/support/temp_dir.h"

namespace mcptap::sink {
namespace {

using std::chrono::milliseconds;
using testing::connect_or_fail;
using testing::count_rows;
using testing::make_record;
using testing::scalar;
using testing::unique_name;
using Clock = std::chrono::steady_clock;

// A spool directory per sink, removed at the end of the test.
using SpoolDir = test_support::TempDir;

SinkOptions options_for(const std::string& url, const std::string& spool_dir) {
  SinkOptions options;
  options.postgres_url = url;
  options.spool_dir = spool_dir;
  options.batch_max_rows = 200;
  options.flush_interval_ms = 20;
  options.reconnect_initial_ms = 20;
  options.reconnect_max_ms = 200;
  // Other tests create old partitions on purpose; this sink must not drop them meanwhile.
  options.retention_days = 3650;
  return options;
}

std::string url_with_nothing_listening() {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(testing::unused_port()) +
         "/mcptap_test";
}

// Polls until the condition holds or the time is up; returns the condition's last value.
template <typename Condition>
bool eventually(Condition condition, milliseconds within = milliseconds(20'000)) {
  Clock::time_point deadline = Clock::now() + within;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

TEST(SinkTest, EverythingConsumedIsCommittedByStop) {
  SpoolDir spool;
  const std::string route = unique_name("sink");
  Sink sink(options_for(testing::test_pg_url(), spool.path()));
  sink.start();
  constexpr int kRecords = 2500;
  for (int i = 0; i < kRecords; ++i) ASSERT_TRUE(sink.consume(make_record(route, i)));
  EXPECT_TRUE(sink.stop(milliseconds(20'000)));

  const SinkStats& stats = sink.stats();
  EXPECT_EQ(stats.accepted_records.load(), uint64_t{kRecords});
  EXPECT_EQ(stats.written_records.load(), uint64_t{kRecords});
  EXPECT_EQ(stats.spool_records.load(), 0u);
  EXPECT_EQ(stats.spool_bytes.load(), 0u);
  EXPECT_EQ(stats.dropped_records.load(), 0u);
  EXPECT_EQ(stats.oldest_queued_unix_us.load(), 0);
  // A backlog ships in batches of up to ten times batch_max_rows.
  EXPECT_GE(stats.batches_committed.load(), uint64_t{kRecords / 2000});
  EXPECT_GT(stats.last_commit_unix_us.load(), 0);
  PgConnection connection = connect_or_fail();
  EXPECT_EQ(count_rows(connection, route), kRecords);
}

TEST(SinkTest, RecordsAreShippedWithoutWaitingForStop) {
  SpoolDir spool;
  const std::string route = unique_name("sink");
  Sink sink(options_for(testing::test_pg_url(), spool.path()));
  sink.start();
  ASSERT_TRUE(sink.consume(make_record(route, 0)));
  EXPECT_TRUE(eventually([&] { return sink.stats().written_records.load() == 1; }));
  EXPECT_TRUE(sink.stats().postgres_up.load());
  EXPECT_TRUE(sink.stop(milliseconds(5000)));
}

TEST(SinkTest, ABadRecordIsCountedAndDoesNotHoldBackTheOthers) {
  SpoolDir spool;
  const std::string route = unique_name("sink");
  Sink sink(options_for(testing::test_pg_url(), spool.path()));
  sink.start();
  for (int i = 0; i < 50; ++i) {
    capture::Record record = make_record(route, i);
    if (i == 17) record.payload = "{broken";
    ASSERT_TRUE(sink.consume(std::move(record)));
  }
  EXPECT_TRUE(sink.stop(milliseconds(20'000)));
  EXPECT_EQ(sink.stats().rejected_records.load(), 1u);
  EXPECT_EQ(sink.stats().written_records.load(), 49u);
  PgConnection connection = connect_or_fail();
  EXPECT_EQ(count_rows(connection, route), 49);
}

TEST(SinkTest, UnreachablePostgresKeepsRecordsQueued) {
  SpoolDir spool;
  Sink sink(options_for(url_with_nothing_listening(), spool.path()));
  sink.start();
  const std::string route = unique_name("sink");
  const int64_t first_captured_at = testing::now_unix_us();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(sink.consume(make_record(route, i, first_captured_at + i)));
  }
  std::this_thread::sleep_for(milliseconds(300));
  const SinkStats& stats = sink.stats();
  EXPECT_FALSE(stats.postgres_up.load());
  EXPECT_EQ(stats.spool_records.load(), 10u);
  EXPECT_GT(stats.spool_bytes.load(), 0u);
  EXPECT_EQ(stats.written_records.load(), 0u);
  EXPECT_EQ(stats.oldest_queued_unix_us.load(), first_captured_at);

  Clock::time_point stop_called = Clock::now();
  EXPECT_FALSE(sink.stop(milliseconds(200)));
  EXPECT_LT(Clock::now() - stop_called, milliseconds(3000));
  EXPECT_EQ(stats.spool_records.load(), 10u);
}

TEST(SinkTest, AFullSpoolDropsAndCounts) {
  SpoolDir spool;
  SinkOptions options = options_for(url_with_nothing_listening(), spool.path());
  options.spool_max_bytes = 8 * 1024;
  Sink sink(options);
  sink.start();
  int accepted = 0;
  for (int i = 0; i < 100; ++i) accepted += sink.consume(make_record("r", i)) ? 1 : 0;
  const SinkStats& stats = sink.stats();
  EXPECT_GT(stats.dropped_records.load(), 0u);
  EXPECT_LT(accepted, 100);
  EXPECT_EQ(stats.accepted_records.load() + stats.dropped_records.load(), 100u);
  EXPECT_EQ(stats.accepted_records.load(), uint64_t(accepted));
  EXPECT_EQ(stats.spool_full_drops.load(), stats.dropped_records.load());
  EXPECT_FALSE(sink.stop(milliseconds(0)));
}

TEST(SinkTest, ConsumeAfterStopIsRefused) {
  SpoolDir spool;
  Sink sink(options_for(testing::test_pg_url(), spool.path()));
  sink.start();
  EXPECT_TRUE(sink.stop(milliseconds(1000)));
  EXPECT_FALSE(sink.consume(make_record(unique_name("sink"), 0)));
  EXPECT_EQ(sink.stats().dropped_records.load(), 1u);
  EXPECT_TRUE(sink.stop(milliseconds(0)));  // a second stop is harmless
}

TEST(SinkTest, NeverStartedSinkReportsWhatItHolds) {
  SpoolDir spool;
  Sink sink(options_for(testing::test_pg_url(), spool.path()));
  ASSERT_TRUE(sink.consume(make_record(unique_name("sink"), 0)));
  EXPECT_FALSE(sink.stop(milliseconds(0)));
}

// A second cluster of this test's own, so it can be taken down and brought back.
class OwnCluster {
 public:
  OwnCluster() {
    char state_template[] = "/tmp/mcptap-sink-test-XXXXXX";
    state_dir_ = ::mkdtemp(state_template);
  }
  ~OwnCluster() {
    run("stop");
    std::filesystem::remove_all(state_dir_);
  }
  bool start_on(int port) { return run("start", " --port " + std::to_string(port)); }
  bool halt() { return run("halt"); }
  bool resume() { return run("resume"); }

 private:
  bool run(const std::string& command, const std::string& extra = "") {
    std::string line = std::string(MCPTAP_PYTHON) + " " + MCPTAP_PG_CLUSTER_SCRIPT + " " + command +
                       " " + state_dir_ + extra + " >/dev/null";
    return std::system(line.c_str()) == 0;
  }
  std::string state_dir_;
};

TEST(SinkTest, ShipsOnceTheServerComesUpAndAgainAfterAnOutage) {
  SpoolDir spool;
  OwnCluster cluster;
  const int port = testing::unused_port();
  const std::string url =
      "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/mcptap_test";
  const std::string route = unique_name("outage");
  Sink sink(options_for(url, spool.path()));
  sink.start();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(sink.consume(make_record(route, i)));
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_FALSE(sink.stats().postgres_up.load());
  EXPECT_EQ(sink.stats().spool_records.load(), 100u);

  ASSERT_TRUE(cluster.start_on(port));
  EXPECT_TRUE(eventually([&] { return sink.stats().written_records.load() == 100; }));
  EXPECT_TRUE(sink.stats().postgres_up.load());

  ASSERT_TRUE(cluster.halt());
  for (int i = 100; i < 300; ++i) ASSERT_TRUE(sink.consume(make_record(route, i)));
  EXPECT_TRUE(eventually([&] { return !sink.stats().postgres_up.load(); }));
  EXPECT_GT(sink.stats().batches_failed.load(), 0u);
  EXPECT_EQ(sink.stats().written_records.load(), 100u);
  EXPECT_EQ(sink.stats().spool_records.load(), 200u);

  ASSERT_TRUE(cluster.resume());
  EXPECT_TRUE(eventually([&] { return sink.stats().written_records.load() == 300; }));
  EXPECT_TRUE(sink.stop(milliseconds(10'000)));
  EXPECT_EQ(sink.stats().dropped_records.load(), 0u);

  PgConnection connection(url);
  ASSERT_TRUE(connection.ok()) << connection.error();
  EXPECT_EQ(count_rows(connection, route), 300);
}

TEST(SinkTest, WhatWasNotCommittedIsShippedAfterARestartExactlyOnce) {
  SpoolDir spool;
  const std::string route = unique_name("restart");
  {
    Sink down(options_for(url_with_nothing_listening(), spool.path()));
    down.start();
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(down.consume(make_record(route, i)));
    EXPECT_FALSE(down.stop(milliseconds(100)));
    EXPECT_EQ(down.stats().spool_records.load(), 300u);
  }
  Sink up(options_for(testing::test_pg_url(), spool.path()));
  EXPECT_EQ(up.stats().spool_records.load(), 300u);
  up.start();
  for (int i = 300; i < 400; ++i) ASSERT_TRUE(up.consume(make_record(route, i)));
  EXPECT_TRUE(up.stop(milliseconds(20'000)));
  EXPECT_EQ(up.stats().written_records.load(), 400u);
  EXPECT_EQ(up.stats().spool_records.load(), 0u);
  PgConnection connection = connect_or_fail();
  EXPECT_EQ(count_rows(connection, route), 400);
}

TEST(SinkTest, ReplayingCommittedRecordsAddsNoRow) {
  SpoolDir spool;
  const std::string route = unique_name("replay");
  {
    Sink sink(options_for(testing::test_pg_url(), spool.path()));
    sink.start();
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(sink.consume(make_record(route, i)));
    EXPECT_TRUE(sink.stop(milliseconds(20'000)));
  }
  // As if the process died after COMMIT and before the checkpoint: everything replays.
  std::filesystem::remove(spool.path() + "/checkpoint");
  Sink again(options_for(testing::test_pg_url(), spool.path()));
  EXPECT_GE(again.stats().spool_records.load(), 1u);
  again.start();
  EXPECT_TRUE(again.stop(milliseconds(20'000)));
  EXPECT_EQ(again.stats().written_records.load(), 0u);
  PgConnection connection = connect_or_fail();
  EXPECT_EQ(count_rows(connection, route), 200);
  EXPECT_EQ(scalar(connection, "SELECT count(DISTINCT id) FROM mcptap.messages WHERE route = $1",
                   {route}),
            "200");
}

TEST(SinkTest, UnusableSpoolDirectoryDropsButNeverThrows) {
  SpoolDir spool;
  const std::string file = spool.path() + "/a-file";
  { std::ofstream(file) << "x"; }
  Sink sink(options_for(testing::test_pg_url(), file + "/spool"));
  base::Status usable = sink.start_status();
  ASSERT_FALSE(usable.ok());
  EXPECT_EQ(usable.error().message,
            file + " is not a directory (set sink.spool_dir to a directory)");
  EXPECT_EQ(sink.spool_dir(), file + "/spool");
  sink.start();
  EXPECT_FALSE(sink.consume(make_record("r", 0)));
  ASSERT_TRUE(sink.capture_degradation());
  EXPECT_EQ(sink.capture_degradation()->cause, "spool unusable");
  EXPECT_EQ(sink.capture_degradation()->dropped_records, 1u);
  EXPECT_EQ(sink.stats().spool_write_errors.load(), 1u);
  EXPECT_EQ(sink.stats().dropped_records.load(), 1u);
  EXPECT_TRUE(sink.stop(milliseconds(1000)));
}

}  // namespace
}  // namespace mcptap::sink

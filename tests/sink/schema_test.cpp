// Tests for sink/schema.cpp against a real PostgreSQL: the contract's table, its partitions,
// indexes, migrations and retention.
#include "sink/schema.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "pg_test_support.h"

namespace mcptap::sink {
namespace {

using testing::column;
using testing::connect_or_fail;
using testing::kMicrosPerDay;
using testing::now_unix_us;
using testing::scalar;

class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(connection_.ok());
    base::Status migrated = migrate(connection_, 3);
    ASSERT_TRUE(migrated) << describe(migrated.error());
  }

  bool partition_exists(int64_t utc_day) {
    return scalar(connection_, "SELECT to_regclass($1) IS NOT NULL",
                  {"mcptap." + partition_name_for_day(utc_day)}) == "t";
  }

  PgConnection connection_ = connect_or_fail();
  const int64_t today_ = utc_day_of(now_unix_us());
};

TEST_F(SchemaTest, MigrateTwiceIsIdempotent) {
  for (int round = 0; round < 2; ++round) {
    base::Status migrated = migrate(connection_, 3);
    ASSERT_TRUE(migrated) << describe(migrated.error());
  }
  EXPECT_EQ(column(connection_, "SELECT version::text FROM mcptap.schema_migrations ORDER BY 1"),
            std::vector<std::string>{std::to_string(latest_schema_version())});
  EXPECT_EQ(scalar(connection_,
                   "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                   " WHERE n.nspname = 'mcptap' AND c.relname = 'messages'"),
            "1");
}

TEST_F(SchemaTest, ConcurrentMigrationsAllSucceed) {
  constexpr int kMigrators = 6;
  std::vector<std::thread> migrators;
  std::vector<std::string> errors(kMigrators);
  std::vector<bool> succeeded(kMigrators, false);
  for (int i = 0; i < kMigrators; ++i) {
    migrators.emplace_back([&, i] {
      PgConnection own(testing::test_pg_url());
      if (!own.ok()) return;
      base::Status migrated = migrate(own, 5);
      succeeded[i] = migrated.ok();
      if (!migrated) errors[i] = describe(migrated.error());
    });
  }
  for (std::thread& migrator : migrators) migrator.join();
  for (int i = 0; i < kMigrators; ++i) EXPECT_TRUE(succeeded[i]) << errors[i];
  EXPECT_TRUE(partition_exists(today_ + 5));
}

TEST_F(SchemaTest, ColumnsAndTypesAreExactlyTheContract) {
  const std::vector<std::string> expected = {
      "id uuid",
      "captured_at timestamp with time zone",
      "route text",
      "connection_id text",
      "session_id text",
      "transport text",
      "direction text",
      "kind text",
      "jsonrpc_id text",
      "method text",
      "correlation_id uuid",
      "latency_us bigint",
      "payload jsonb",
      "payload_bytes integer",
      "truncated boolean",
      "redacted boolean",
      "meta jsonb",
  };
  EXPECT_EQ(column(connection_,
                   "SELECT column_name || ' ' || data_type FROM information_schema.columns"
                   " WHERE table_schema = 'mcptap' AND table_name = 'messages'"
                   " ORDER BY ordinal_position"),
            expected);
}

TEST_F(SchemaTest, MigrationsTableHasVersionAndAppliedAt) {
  EXPECT_EQ(column(connection_,
                   "SELECT column_name || ' ' || data_type FROM information_schema.columns"
                   " WHERE table_schema = 'mcptap' AND table_name = 'schema_migrations'"
                   " ORDER BY ordinal_position"),
            (std::vector<std::string>{"version integer", "applied_at timestamp with time zone"}));
}

TEST_F(SchemaTest, PartitionedByRangeOnCapturedAtWithKeyOnIdAndCapturedAt) {
  EXPECT_EQ(scalar(connection_,
                   "SELECT p.partstrat::text || ' ' || a.attname FROM pg_partitioned_table p"
                   " JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]"
                   " WHERE p.partrelid = 'mcptap.messages'::regclass AND p.partnatts = 1"),
            "r captured_at");
  EXPECT_EQ(scalar(connection_,
                   "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                   " WHERE conrelid = 'mcptap.messages'::regclass AND contype = 'p'"),
            "PRIMARY KEY (id, captured_at)");
}

TEST_F(SchemaTest, DailyPartitionsExistFromTodayToDaysAhead) {
  for (int64_t day = today_; day <= today_ + 3; ++day) {
    EXPECT_TRUE(partition_exists(day)) << partition_name_for_day(day);
  }
  std::string bounds = scalar(connection_,
                              "SELECT pg_get_expr(relpartbound, oid) FROM pg_class"
                              " WHERE oid = to_regclass($1)",
                              {"mcptap." + partition_name_for_day(today_)});
  EXPECT_NE(bounds.find("FOR VALUES FROM ('"), std::string::npos) << bounds;
  EXPECT_EQ(scalar(connection_,
                   "SELECT count(*) FROM pg_inherits i JOIN pg_class c"
                   " ON c.oid = i.inhrelid WHERE i.inhparent = 'mcptap.messages'::regclass"
                   " AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'"),
            "0");
}

TEST_F(SchemaTest, APartitionHoldsExactlyItsUtcDay) {
  const int64_t day_start = today_ * kMicrosPerDay;
  const std::string name = "mcptap." + partition_name_for_day(today_);
  // tableoid tells which partition a timestamp would be routed to; ask via the bounds.
  auto routed_here = [&](int64_t unix_us) {
    return scalar(
               connection_,
               "SELECT to_timestamp($1::numeric / 1000000) >= lower_bound"
               " AND to_timestamp($1::numeric / 1000000) < upper_bound FROM ("
               " SELECT (regexp_match(b, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz lower_bound,"
               " (regexp_match(b, 'TO \\(''([^'']+)''\\)'))[1]::timestamptz upper_bound"
               " FROM (SELECT pg_get_expr(relpartbound, oid) b FROM pg_class"
               " WHERE oid = to_regclass($2)) s) t",
               {std::to_string(unix_us), name}) == "t";
  };
  EXPECT_TRUE(routed_here(day_start));
  EXPECT_TRUE(routed_here(day_start + kMicrosPerDay - 1));
  EXPECT_FALSE(routed_here(day_start - 1));
  EXPECT_FALSE(routed_here(day_start + kMicrosPerDay));
}

TEST_F(SchemaTest, IndexesAreBrinOnTimeAndTwoBtreesWithoutGin) {
  std::vector<std::string> indexes = column(
      connection_,
      "SELECT am.amname || ' ' || (SELECT string_agg(a.attname, ',' ORDER BY k.position)"
      "   FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, position)"
      "   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)"
      " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam"
      " WHERE i.indrelid = 'mcptap.messages'::regclass ORDER BY 1");
  EXPECT_EQ(indexes, (std::vector<std::string>{"brin captured_at", "btree correlation_id",
                                               "btree id,captured_at", "btree route,captured_at"}));
  EXPECT_EQ(
      scalar(connection_,
             "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
             " JOIN pg_am am ON am.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace"
             " WHERE n.nspname = 'mcptap' AND am.amname = 'gin'"),
      "0");
}

TEST_F(SchemaTest, EnsurePartitionForAnOldDayCreatesIt) {
  const int64_t five_days_ago = now_unix_us() - 5 * kMicrosPerDay;
  base::Status made = ensure_partition_for(connection_, five_days_ago);
  ASSERT_TRUE(made) << describe(made.error());
  EXPECT_TRUE(partition_exists(utc_day_of(five_days_ago)));
  // And again: nothing to do.
  made = ensure_partition_for(connection_, five_days_ago);
  ASSERT_TRUE(made) << describe(made.error());
}

TEST_F(SchemaTest, EnsurePartitionRefusesADayPastYear9999) {
  const int64_t year_10000 = int64_t{253'402'300'800} * 1'000'000;
  base::Status made = ensure_partition_for(connection_, year_10000);
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error().code, "22008");
}

TEST_F(SchemaTest, DropExpiredPartitionsDropsOldDaysAndKeepsRecentOnes) {
  const int64_t now = now_unix_us();
  for (int days_ago : {10, 8, 7, 2}) {
    base::Status made = ensure_partition_for(connection_, now - days_ago * kMicrosPerDay);
    ASSERT_TRUE(made) << describe(made.error());
  }
  base::Result<int> dropped = drop_expired_partitions(connection_, 7);
  ASSERT_TRUE(dropped) << describe(dropped.error());
  EXPECT_FALSE(partition_exists(today_ - 10));
  EXPECT_FALSE(partition_exists(today_ - 8));
  // Day -7 still has instants within the last 7 days.
  EXPECT_TRUE(partition_exists(today_ - 7));
  EXPECT_TRUE(partition_exists(today_ - 2));
  EXPECT_TRUE(partition_exists(today_));
  EXPECT_TRUE(partition_exists(today_ + 3));
}

TEST_F(SchemaTest, RetentionBelowOneDayKeepsEverything) {
  ASSERT_TRUE(ensure_partition_for(connection_, now_unix_us() - 2 * kMicrosPerDay));
  base::Result<int> dropped = drop_expired_partitions(connection_, 0);
  ASSERT_TRUE(dropped);
  EXPECT_EQ(*dropped, 0);
  EXPECT_TRUE(partition_exists(today_ - 2));
}

TEST(SchemaNamesTest, PartitionNamesAreUtcDays) {
  EXPECT_EQ(partition_name_for_day(0), "messages_19700101");
  EXPECT_EQ(partition_name_for_day(utc_day_of(1'714'566'896'000'123)), "messages_20240501");
  EXPECT_EQ(utc_day_of(-1), -1);
  EXPECT_EQ(utc_day_of(kMicrosPerDay - 1), 0);
  EXPECT_EQ(utc_day_of(kMicrosPerDay), 1);
}

TEST(SchemaNamesTest, MigrateReportsAFailedConnection) {
  PgConnection nowhere("postgresql://postgres@127.0.0.1:" + std::to_string(testing::unused_port()) +
                       "/none");
  EXPECT_FALSE(nowhere.ok());
  EXPECT_FALSE(nowhere.error().empty());
  base::Status migrated = migrate(nowhere, 3);
  ASSERT_FALSE(migrated);
  EXPECT_FALSE(migrated.error().message.empty());
  EXPECT_TRUE(migrated.error().code.empty()) << "a lost connection has no SQLSTATE";
}

}  // namespace
}  // namespace mcptap::sink

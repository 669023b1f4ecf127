// Tests for sink/schema.cpp against a real PostgreSQL: the contract's table, its partitions,
// indexes, migrations and retention.
#include "sink/schema.h"

#include <gtest/gtest.h>

#include <optional>
#include <thread>
#include <vector>

#include "pg_test_support.h"
#include "sink/pg_writer.h"

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
  std::vector<std::string> versions;
  for (int version = 1; version <= latest_schema_version(); ++version) {
    versions.push_back(std::to_string(version));
  }
  EXPECT_EQ(column(connection_, "SELECT version::text FROM mcptap.schema_migrations ORDER BY 1"),
            versions);
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
      "operation_id uuid",
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

TEST_F(SchemaTest, IndexesAreBrinOnTimeAndBtreesWithoutGin) {
  std::vector<std::string> indexes = column(
      connection_,
      "SELECT am.amname || ' ' || (SELECT string_agg(a.attname, ',' ORDER BY k.position)"
      "   FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, position)"
      "   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)"
      " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam"
      " WHERE i.indrelid = 'mcptap.messages'::regclass ORDER BY 1");
  EXPECT_EQ(indexes, (std::vector<std::string>{"brin captured_at", "btree correlation_id",
                                               "btree id,captured_at", "btree operation_id",
                                               "btree route,captured_at"}));
  // Partial: rows without an operation are not in it.
  EXPECT_EQ(scalar(connection_,
                   "SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i"
                   " WHERE i.indexrelid = 'mcptap.messages_operation_id_idx'::regclass"),
            "(operation_id IS NOT NULL)");
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

// ---- Upgrades ----

// A database of its own, left as the release with schema version 1 left it, rows included;
// the shared test database is always at the latest version.
class SchemaUpgradeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(admin_.ok());
    ASSERT_TRUE(admin_.run("CREATE DATABASE " + database_));
    std::string url = testing::test_pg_url();
    url.replace(url.rfind('/') + 1, std::string::npos, database_);
    old_.emplace(url);
    ASSERT_TRUE(old_->ok()) << old_->error();
    for (const std::string& statement : kReleasedVersionOne) ASSERT_TRUE(run(statement));
  }
  void TearDown() override {
    old_.reset();
    (void)admin_.run("DROP DATABASE IF EXISTS " + database_ + " WITH (FORCE)");
  }

  // Runs a statement on the old database; a failure fails the test.
  bool run(const std::string& sql, const std::vector<std::string>& params = {}) {
    auto result = old_->run(sql, params);
    EXPECT_TRUE(result) << sql << ": " << (result ? "" : describe(result.error()));
    return result.ok();
  }

  // A row as the previous release wrote it: the columns of version 1 only.
  void insert_version_one_row(const std::string& correlation_id, int64_t captured_at_us) {
    run("INSERT INTO mcptap.messages (id, captured_at, route, connection_id, session_id,"
        " transport, direction, kind, jsonrpc_id, method, correlation_id, latency_us, payload,"
        " payload_bytes, truncated, redacted, meta)"
        " VALUES (gen_random_uuid(), to_timestamp($2::float8 / 1e6), 'old', 'c', 's', 'http',"
        " 'client_to_server', 'request', '1', 'tools/call', $1::uuid, NULL, '{\"id\":1}', 8,"
        " false, false, '{}')",
        {correlation_id, std::to_string(captured_at_us)});
  }

  // The schema's shape as text: columns, indexes with their definitions, and every partition
  // with the indexes attached to it.
  std::vector<std::string> shape() {
    return column(*old_,
                  "SELECT x FROM (SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) x"
                  " FROM pg_attribute a WHERE a.attrelid = 'mcptap.messages'::regclass"
                  " AND a.attnum > 0 AND NOT a.attisdropped"
                  " UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'mcptap') s"
                  " ORDER BY 1");
  }

  // The released migration 1, word for word, and its bookkeeping.
  static inline const std::vector<std::string> kReleasedVersionOne = {
      "CREATE SCHEMA IF NOT EXISTS mcptap",
      "CREATE TABLE IF NOT EXISTS mcptap.schema_migrations ("
      " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
      "CREATE TABLE IF NOT EXISTS mcptap.messages (id uuid NOT NULL, captured_at timestamptz"
      " NOT NULL, route text NOT NULL, connection_id text NOT NULL, session_id text NOT NULL,"
      " transport text NOT NULL, direction text NOT NULL, kind text NOT NULL, jsonrpc_id text,"
      " method text, correlation_id uuid, latency_us bigint, payload jsonb, payload_bytes"
      " integer NOT NULL, truncated boolean NOT NULL DEFAULT false, redacted boolean NOT NULL"
      " DEFAULT false, meta jsonb NOT NULL DEFAULT '{}'::jsonb, PRIMARY KEY (id, captured_at))"
      " PARTITION BY RANGE (captured_at)",
      "CREATE INDEX IF NOT EXISTS messages_captured_at_brin"
      " ON mcptap.messages USING brin (captured_at)",
      "CREATE INDEX IF NOT EXISTS messages_correlation_id_idx ON mcptap.messages (correlation_id)",
      "CREATE INDEX IF NOT EXISTS messages_route_captured_at_idx"
      " ON mcptap.messages (route, captured_at)",
      "INSERT INTO mcptap.schema_migrations (version) VALUES (1)",
  };

  PgConnection admin_ = connect_or_fail();
  const std::string database_ = testing::unique_name("upgrade");
  std::optional<PgConnection> old_;
};

TEST_F(SchemaUpgradeTest, VersionOneWithRowsGetsTheOperationColumnAndItsIndex) {
  const int64_t now = now_unix_us();
  const std::string correlation = base::Uuid::v7().to_string();
  for (int64_t at : {now - 2 * kMicrosPerDay, now}) {
    ASSERT_TRUE(ensure_partition_for(*old_, at));
    insert_version_one_row(correlation, at);
  }

  base::Status migrated = migrate(*old_, 1);
  ASSERT_TRUE(migrated) << describe(migrated.error());
  EXPECT_EQ(latest_schema_version(), 2);
  EXPECT_EQ(column(*old_, "SELECT version::text FROM mcptap.schema_migrations ORDER BY 1"),
            (std::vector<std::string>{"1", "2"}));
  // The old rows are all there, unchanged, without an operation; read by the documented
  // rule, each is the operation of its correlation id.
  EXPECT_EQ(column(*old_,
                   "SELECT coalesce(operation_id, correlation_id)::text || ' ' || payload::text"
                   " FROM mcptap.messages ORDER BY captured_at"),
            (std::vector<std::string>{correlation + " {\"id\": 1}", correlation + " {\"id\": 1}"}));
  EXPECT_EQ(scalar(*old_, "SELECT count(*) FROM mcptap.messages WHERE operation_id IS NULL"), "2");
  // The index is on the parent, and on every partition: the old ones and the new ones.
  EXPECT_EQ(scalar(*old_,
                   "SELECT indexdef FROM pg_indexes WHERE schemaname = 'mcptap'"
                   " AND indexname = 'messages_operation_id_idx'"),
            "CREATE INDEX messages_operation_id_idx ON ONLY mcptap.messages USING btree"
            " (operation_id) WHERE (operation_id IS NOT NULL)");
  EXPECT_EQ(
      scalar(*old_,
             "SELECT count(*) FROM pg_inherits WHERE inhparent = 'mcptap.messages'::regclass"),
      "3");
  EXPECT_EQ(scalar(*old_,
                   "SELECT count(*) FROM pg_inherits"
                   " WHERE inhparent = 'mcptap.messages_operation_id_idx'::regclass"),
            "3");

  // Again: nothing to do, nothing changes.
  std::vector<std::string> before = shape();
  std::string applied_at =
      scalar(*old_, "SELECT applied_at::text FROM mcptap.schema_migrations WHERE version = 2");
  migrated = migrate(*old_, 1);
  ASSERT_TRUE(migrated) << describe(migrated.error());
  EXPECT_EQ(shape(), before);
  EXPECT_EQ(scalar(*old_,
                   "SELECT applied_at::text FROM mcptap.schema_migrations"
                   " WHERE version = 2"),
            applied_at);
  EXPECT_EQ(scalar(*old_, "SELECT count(*) FROM mcptap.schema_migrations"), "2");
}

TEST_F(SchemaUpgradeTest, AfterTheUpgradeBothReleasesWrite) {
  base::Status migrated = migrate(*old_, 1);
  ASSERT_TRUE(migrated) << describe(migrated.error());
  const int64_t now = now_unix_us();
  // The previous release names its columns: its rows get NULL.
  const std::string old_correlation = base::Uuid::v7().to_string();
  insert_version_one_row(old_correlation, now);
  EXPECT_EQ(scalar(*old_,
                   "SELECT coalesce(operation_id::text, 'null') FROM mcptap.messages"
                   " WHERE correlation_id = $1::uuid",
                   {old_correlation}),
            "null");

  // This one writes the operation through COPY, and a lookup by operation uses the index.
  capture::Record record = testing::make_record("new", 1, now);
  record.correlation_id = base::Uuid::v7();
  record.operation_id = base::Uuid::v7();
  PgWriter writer(*old_);
  WriteResult written = writer.write(RecordBatch{record});
  ASSERT_EQ(written.inserted, 1u) << written.failure.message;
  EXPECT_EQ(scalar(*old_, "SELECT id::text FROM mcptap.messages WHERE operation_id = $1::uuid",
                   {record.operation_id->to_string()}),
            record.id.to_string());
  ASSERT_TRUE(run("SET enable_seqscan = off"));
  std::vector<std::string> plan =
      column(*old_, "EXPLAIN SELECT id FROM mcptap.messages WHERE operation_id = '" +
                        record.operation_id->to_string() + "'::uuid");
  std::string plan_text;
  for (const std::string& line : plan) plan_text += line + "\n";
  EXPECT_NE(plan_text.find("operation_id_idx"), std::string::npos) << plan_text;
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

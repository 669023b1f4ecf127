// Tests for sink/pg_writer.cpp against a real PostgreSQL: every column round-trips, replays
// add nothing, a bad record is rejected alone, a lost connection asks for a retry.
#include "sink/pg_writer.h"

#include <gtest/gtest.h>

#include "pg_test_support.h"
#include "sink/schema.h"

namespace mcptap::sink {
namespace {

using testing::column;
using testing::connect_or_fail;
using testing::count_rows;
using testing::kMicrosPerDay;
using testing::make_record;
using testing::now_unix_us;
using testing::scalar;
using testing::unique_name;

class PgWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(connection_.ok());
    base::Status migrated = migrate(connection_, 3);
    ASSERT_TRUE(migrated) << describe(migrated.error());
  }

  // One column of the row with this id, as text.
  std::string field(const capture::Record& record, const std::string& expression) {
    return scalar(connection_,
                  "SELECT (" + expression + ")::text FROM mcptap.messages WHERE id = $1",
                  {record.id.to_string()});
  }

  RecordBatch batch_of(int count) {
    RecordBatch batch;
    for (int i = 0; i < count; ++i) batch.push_back(make_record(route_, i));
    return batch;
  }

  PgConnection connection_ = connect_or_fail();
  const std::string route_ = unique_name("writer");
};

TEST_F(PgWriterTest, EveryColumnRoundTrips) {
  capture::Record full = make_record(route_, 1);
  full.captured_at_us = (now_unix_us() / 1'000'000) * 1'000'000 + 123'456;
  full.transport = capture::Transport::Sse;
  full.direction = capture::Direction::ServerToClient;
  full.kind = capture::Kind::Response;
  full.jsonrpc_id = "1";
  full.method = "tools/call";
  full.correlation_id = base::Uuid::v7();
  full.latency_us = 1'234'567'890'123;
  // Escaped tabs and newlines inside a string, raw ones as whitespace between tokens.
  full.payload = "{\"text\":\"tab\\there\\nnewline \\\\ back\\r\\n ünï ✓ 😀\",\t\"raw\":\r\n1}";
  full.payload_bytes = 4242;
  full.truncated = true;
  full.redacted = true;
  full.meta_json = R"({"http":{"method":"POST","path":"/mcp\\x","status":200}})";
  capture::Record sparse = make_record(route_, 2);
  sparse.jsonrpc_id = "\"1\"";
  sparse.method.reset();
  sparse.payload.reset();
  sparse.payload_bytes = 0;

  PgWriter writer(connection_);
  WriteResult result = writer.write(RecordBatch{full, sparse});
  ASSERT_FALSE(result.needs_retry) << result.failure.message;
  EXPECT_EQ(result.inserted, 2u);
  EXPECT_EQ(result.records_done, 2u);
  for (const Rejection& rejection : result.rejections) ADD_FAILURE() << rejection.failure.message;

  EXPECT_EQ(field(full, "(extract(epoch FROM captured_at) * 1000000)::bigint"),
            std::to_string(full.captured_at_us));
  EXPECT_EQ(field(full, "route"), route_);
  EXPECT_EQ(field(full, "connection_id"), route_ + "-conn");
  EXPECT_EQ(field(full, "session_id"), route_ + "-session");
  EXPECT_EQ(field(full, "transport"), "sse");
  EXPECT_EQ(field(full, "direction"), "server_to_client");
  EXPECT_EQ(field(full, "kind"), "response");
  EXPECT_EQ(field(full, "jsonrpc_id"), "1");
  EXPECT_EQ(field(sparse, "jsonrpc_id"), "\"1\"");
  EXPECT_EQ(field(full, "method"), "tools/call");
  EXPECT_EQ(field(full, "correlation_id"), full.correlation_id->to_string());
  EXPECT_EQ(field(full, "latency_us"), "1234567890123");
  EXPECT_EQ(scalar(connection_, "SELECT payload = $2::jsonb FROM mcptap.messages WHERE id = $1",
                   {full.id.to_string(), *full.payload}),
            "t");
  EXPECT_EQ(field(full, "payload->>'text'"), "tab\there\nnewline \\ back\r\n ünï ✓ 😀");
  EXPECT_EQ(field(full, "payload_bytes"), "4242");
  EXPECT_EQ(field(full, "truncated"), "true");
  EXPECT_EQ(field(full, "redacted"), "true");
  EXPECT_EQ(field(full, "meta #>> '{http,path}'"), "/mcp\\x");
  EXPECT_EQ(field(full, "meta #>> '{http,status}'"), "200");

  for (const char* null_column : {"method", "correlation_id", "latency_us", "payload"}) {
    EXPECT_EQ(field(sparse, null_column), "<null>") << null_column;
  }
  EXPECT_EQ(field(sparse, "truncated"), "false");
  EXPECT_EQ(field(sparse, "meta"), "{}");
}

// The spool forgets a batch once COMMIT returns, so that COMMIT must be durable even where
// the server or role turned synchronous_commit off.
TEST_F(PgWriterTest, CommitsAreDurableWhateverTheSessionDefault) {
  ASSERT_TRUE(connection_.run("SET synchronous_commit TO off"));
  PgWriter writer(connection_);
  WriteResult result = writer.write(batch_of(3));
  ASSERT_FALSE(result.needs_retry) << result.failure.message;
  EXPECT_EQ(scalar(connection_, "SHOW synchronous_commit"), "on");
}

TEST_F(PgWriterTest, ReplayingABatchAddsNoRows) {
  RecordBatch batch = batch_of(50);
  PgWriter writer(connection_);
  WriteResult first = writer.write(batch);
  ASSERT_FALSE(first.needs_retry) << first.failure.message;
  EXPECT_EQ(first.inserted, 50u);
  WriteResult replay = writer.write(batch);
  ASSERT_FALSE(replay.needs_retry) << replay.failure.message;
  EXPECT_EQ(replay.inserted, 0u);
  EXPECT_EQ(replay.records_done, 50u);
  // A fresh connection (a restarted sidecar) replays just as harmlessly.
  PgConnection other = connect_or_fail();
  PgWriter other_writer(other);
  EXPECT_EQ(other_writer.write(batch).inserted, 0u);
  EXPECT_EQ(count_rows(connection_, route_), 50);
}

TEST_F(PgWriterTest, DuplicatesWithinOneBatchBecomeOneRow) {
  RecordBatch batch = batch_of(3);
  batch.push_back(batch[1]);
  PgWriter writer(connection_);
  WriteResult result = writer.write(batch);
  ASSERT_FALSE(result.needs_retry) << result.failure.message;
  EXPECT_EQ(result.inserted, 3u);
  EXPECT_EQ(count_rows(connection_, route_), 3);
}

TEST_F(PgWriterTest, ABadRecordIsRejectedAloneAndTheOthersCommit) {
  RecordBatch batch = batch_of(37);
  batch[23].payload = "{\"jsonrpc\": \"2.0\", oops";
  PgWriter writer(connection_);
  WriteResult result = writer.write(batch);
  ASSERT_FALSE(result.needs_retry) << result.failure.message;
  EXPECT_EQ(result.records_done, 37u);
  EXPECT_EQ(result.inserted, 36u);
  ASSERT_EQ(result.rejections.size(), 1u);
  EXPECT_EQ(result.rejections[0].id, batch[23].id);
  EXPECT_EQ(result.rejections[0].route, route_);
  EXPECT_EQ(result.rejections[0].failure.code, "22P02");
  // The log line must not carry the payload.
  EXPECT_EQ(result.rejections[0].failure.message.find("oops"), std::string::npos);
  EXPECT_EQ(count_rows(connection_, route_), 36);
  EXPECT_EQ(scalar(connection_, "SELECT count(*) FROM mcptap.messages WHERE id = $1",
                   {batch[23].id.to_string()}),
            "0");
}

TEST_F(PgWriterTest, SeveralBadRecordsAreEachRejected) {
  RecordBatch batch = batch_of(20);
  batch[0].meta_json = "not json";
  batch[19].payload = "[1,";
  batch[7].payload = "\"\\ud800\"";  // a lone surrogate: invalid for jsonb
  PgWriter writer(connection_);
  WriteResult result = writer.write(batch);
  ASSERT_FALSE(result.needs_retry) << result.failure.message;
  EXPECT_EQ(result.rejections.size(), 3u);
  EXPECT_EQ(result.inserted, 17u);
  EXPECT_EQ(count_rows(connection_, route_), 17);
}

// Text goes to the server as bytes; the server still checks them against its encoding, so
// a value that is not UTF-8 (or holds a NUL byte) costs its own record and no other.
TEST_F(PgWriterTest, TextThatIsNotUtf8IsRejectedAlone) {
  RecordBatch batch = batch_of(9);
  batch[2].session_id = "session-\xC3\x28";
  batch[5].method = std::string("tools/\0call", 11);
  batch[7].meta_json = "{\"http\":{\"path\":\"/\xFF\"}}";
  PgWriter writer(connection_);
  WriteResult result = writer.write(batch);
  ASSERT_FALSE(result.needs_retry) << result.failure.message;
  ASSERT_EQ(result.rejections.size(), 3u);
  EXPECT_EQ(result.rejections[0].id, batch[2].id);
  EXPECT_EQ(result.rejections[0].failure.code, "22021");
  EXPECT_EQ(result.rejections[1].id, batch[5].id);
  EXPECT_EQ(result.rejections[2].id, batch[7].id);
  EXPECT_EQ(result.inserted, 6u);
  EXPECT_EQ(count_rows(connection_, route_), 6);
}

TEST_F(PgWriterTest, NulEscapeInPayloadIsReplacedAndNoted) {
  RecordBatch batch = batch_of(1);
  batch[0].payload = R"({"a":"x\u0000y","b":"\\u0000"})";
  PgWriter writer(connection_);
  WriteResult result = writer.write(batch);
  ASSERT_FALSE(result.needs_retry) << result.failure.message;
  EXPECT_TRUE(result.rejections.empty());
  EXPECT_EQ(field(batch[0], "payload->>'a'"), "x\uFFFDy");
  EXPECT_EQ(field(batch[0], "payload->>'b'"), "\\u0000");
  EXPECT_EQ(field(batch[0], "meta->'payload_nul_replaced'"), "true");
}

TEST_F(PgWriterTest, EmptyPayloadIsStoredAsNull) {
  RecordBatch batch = batch_of(1);
  batch[0].payload = "";
  batch[0].kind = capture::Kind::Invalid;
  PgWriter writer(connection_);
  ASSERT_EQ(writer.write(batch).inserted, 1u);
  EXPECT_EQ(field(batch[0], "payload"), "<null>");
}

TEST_F(PgWriterTest, RecordsOfOtherDaysGetTheirPartitions) {
  RecordBatch batch = batch_of(3);
  batch[0].captured_at_us = now_unix_us() - 3 * kMicrosPerDay;
  batch[1].captured_at_us = now_unix_us() + 30 * kMicrosPerDay;  // a skewed clock
  PgWriter writer(connection_);
  WriteResult result = writer.write(batch);
  ASSERT_FALSE(result.needs_retry) << result.failure.message;
  EXPECT_EQ(result.inserted, 3u);
  EXPECT_EQ(field(batch[0], "tableoid::regclass"),
            "mcptap." + partition_name_for_day(utc_day_of(batch[0].captured_at_us)));
  EXPECT_EQ(field(batch[1], "tableoid::regclass"),
            "mcptap." + partition_name_for_day(utc_day_of(batch[1].captured_at_us)));
}

TEST_F(PgWriterTest, ATimestampNoPartitionCanHoldIsRejected) {
  RecordBatch batch = batch_of(4);
  batch[2].captured_at_us = int64_t{253'402'300'800} * 1'000'000;  // year 10000
  PgWriter writer(connection_);
  WriteResult result = writer.write(batch);
  ASSERT_FALSE(result.needs_retry) << result.failure.message;
  ASSERT_EQ(result.rejections.size(), 1u);
  EXPECT_EQ(result.rejections[0].id, batch[2].id);
  EXPECT_EQ(count_rows(connection_, route_), 3);
}

TEST_F(PgWriterTest, ALostConnectionAsksForARetryAndTheRetryWritesEverything) {
  PgConnection victim = connect_or_fail();
  PgWriter writer(victim);
  ASSERT_EQ(writer.write(batch_of(1)).inserted, 1u);  // the session is set up
  std::string pid = scalar(victim, "SELECT pg_backend_pid()::text");
  EXPECT_EQ(scalar(connection_, "SELECT pg_terminate_backend($1::int)::text", {pid}), "true");

  RecordBatch batch = batch_of(10);
  WriteResult result = writer.write(batch);
  EXPECT_TRUE(result.needs_retry);
  EXPECT_EQ(result.records_done, 0u);
  EXPECT_EQ(classify_failure(result.failure, victim.ok()), FailureKind::Connection)
      << result.failure.code << " " << result.failure.message;

  PgConnection fresh = connect_or_fail();
  PgWriter retry_writer(fresh);
  WriteResult retried = retry_writer.write(batch);
  ASSERT_FALSE(retried.needs_retry) << retried.failure.message;
  EXPECT_EQ(retried.inserted, 10u);
  EXPECT_EQ(count_rows(connection_, route_), 11);  // with the one written before
}

// The staging table names its columns itself; they must be the table's, type for type and
// in order (the replay path's INSERT ... SELECT relies on it).
TEST_F(PgWriterTest, StagingColumnsMatchTheTable) {
  RecordBatch batch = batch_of(2);
  PgWriter writer(connection_);
  ASSERT_FALSE(writer.write(batch).needs_retry);
  ASSERT_FALSE(writer.write(batch).needs_retry);  // a replay: goes through staging
  const std::string columns_of =
      "SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ||"
      " CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY a.attnum)"
      " FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0"
      " AND NOT a.attisdropped";
  std::string table = scalar(connection_, columns_of, {"mcptap.messages"});
  EXPECT_FALSE(table.empty());
  EXPECT_EQ(scalar(connection_, columns_of, {"pg_temp.mcptap_staging"}), table);
}

// The role the README's Security section sets up: INSERT on the table and nothing else on
// it (no SELECT, no DDL). Both write paths work with it, and DDL is refused.
TEST_F(PgWriterTest, ALeastPrivilegeRoleWritesAndReplays) {
  const std::string role = unique_name("writer_role");
  const std::string database = scalar(connection_, "SELECT current_database()");
  const std::string port = scalar(connection_, "SELECT current_setting('port')");
  for (const std::string& grant :
       {"CREATE ROLE " + role + " LOGIN",
        "GRANT CONNECT, TEMPORARY ON DATABASE " + database + " TO " + role,
        "GRANT USAGE ON SCHEMA mcptap TO " + role, "GRANT INSERT ON mcptap.messages TO " + role,
        "GRANT SELECT ON mcptap.schema_migrations TO " + role}) {
    auto granted = connection_.run(grant);
    ASSERT_TRUE(granted) << grant << ": " << granted.error().message;
  }
  {
    PgConnection writer_connection("host=127.0.0.1 port=" + port + " dbname=" + database +
                                   " user=" + role);
    ASSERT_TRUE(writer_connection.ok()) << writer_connection.error();
    RecordBatch batch = batch_of(20);
    PgWriter writer(writer_connection);
    WriteResult first = writer.write(batch);
    ASSERT_FALSE(first.needs_retry) << first.failure.message;
    EXPECT_EQ(first.inserted, 20u);
    WriteResult replay = writer.write(batch);  // staging + INSERT ... ON CONFLICT DO NOTHING
    ASSERT_FALSE(replay.needs_retry) << replay.failure.message;
    EXPECT_EQ(replay.records_done, 20u);
    EXPECT_EQ(replay.inserted, 0u);
    EXPECT_EQ(count_rows(connection_, route_), 20);

    for (const char* refused :
         {"SELECT count(*) FROM mcptap.messages", "CREATE TABLE mcptap.intruder (x int)",
          "DELETE FROM mcptap.messages"}) {
      auto outcome = writer_connection.run(refused);
      ASSERT_FALSE(outcome) << refused;
      EXPECT_EQ(outcome.error().code, "42501") << refused << ": " << outcome.error().message;
    }
  }
  for (const std::string& cleanup : {"DROP OWNED BY " + role, "DROP ROLE " + role}) {
    auto done = connection_.run(cleanup);
    ASSERT_TRUE(done) << cleanup << ": " << done.error().message;
  }
}

TEST(PgWriterClassifyTest, SqlstatesMapToWhatTheSinkDoes) {
  EXPECT_EQ(classify_failure({"server closed the connection", ""}, true), FailureKind::Connection);
  EXPECT_EQ(classify_failure({"bad json", "22P02"}, false), FailureKind::Connection);
  EXPECT_EQ(classify_failure({"", "08006"}, true), FailureKind::Connection);
  EXPECT_EQ(classify_failure({"", "57P01"}, true), FailureKind::Connection);
  EXPECT_EQ(classify_failure({"", "53300"}, true), FailureKind::Connection);
  EXPECT_EQ(classify_failure({"", "22P02"}, true), FailureKind::Data);
  EXPECT_EQ(classify_failure({"", "22021"}, true), FailureKind::Data);
  EXPECT_EQ(classify_failure({"", "23514"}, true), FailureKind::Data);
  EXPECT_EQ(classify_failure({"", "54000"}, true), FailureKind::Data);
  EXPECT_EQ(classify_failure({"", "42P01"}, true), FailureKind::Server);
  EXPECT_EQ(classify_failure({"", "42501"}, true), FailureKind::Server);
}

}  // namespace
}  // namespace mcptap::sink

// Tests for sink/record_columns.cpp: every place derived from the column table agrees with
// it — the live table and the staging table in PostgreSQL, the COPY tuples, the spool frame,
// the JSON the CLI prints and the admin API's tail line — and migrations 1 and 2 still
// create the schema they always have.
#include "sink/record_columns.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "pg_test_support.h"
#include "sink/copy_binary.h"
#include "sink/pg_writer.h"
#include "sink/record_tail.h"
#include "sink/schema.h"
#include "sink/spool_frame.h"

namespace mcptap::sink {
namespace {

using testing::column;
using testing::connect_or_fail;
using testing::scalar;
using testing::unique_name;

// A record in which every column holds a value other than an empty record's.
capture::Record full_record(const std::string& route) {
  capture::Record record;
  record.id = base::Uuid::v7();
  // Whole microseconds past a second, so the text form shows all six digits.
  record.captured_at_us = (testing::now_unix_us() / 1'000'000) * 1'000'000 + 123'456;
  record.route = route;
  record.connection_id = route + "-conn";
  record.session_id = route + "-session";
  record.transport = capture::Transport::Sse;
  record.direction = capture::Direction::ServerToClient;
  record.kind = capture::Kind::Response;
  record.jsonrpc_id = "\"7\"";
  record.method = "tools/call";
  record.correlation_id = base::Uuid::v7();
  record.latency_us = 1'234'567;
  record.payload = R"({"jsonrpc":"2.0","id":"7","result":{"content":[]}})";
  record.payload_bytes = 4242;
  record.truncated = true;
  record.redacted = true;
  record.meta_json = R"({"http":{"method":"POST","status":200}})";
  record.operation_id = base::Uuid::v7();
  return record;
}

uint64_t big_endian(std::string_view bytes) {
  uint64_t value = 0;
  for (char c : bytes) value = (value << 8) | static_cast<uint8_t>(c);
  return value;
}

// The fields of one COPY tuple (nullopt for null).
std::vector<std::optional<std::string>> copy_fields(const capture::Record& record) {
  std::string tuple;
  append_copy_row(record, tuple);
  std::vector<std::optional<std::string>> fields;
  size_t count = big_endian(tuple.substr(0, 2));
  size_t at = 2;
  for (size_t i = 0; i < count && at + 4 <= tuple.size(); ++i) {
    auto length = static_cast<int32_t>(big_endian(tuple.substr(at, 4)));
    at += 4;
    if (length < 0) {
      fields.emplace_back(std::nullopt);
      continue;
    }
    fields.emplace_back(tuple.substr(at, size_t(length)));
    at += size_t(length);
  }
  EXPECT_EQ(at, tuple.size());
  return fields;
}

std::vector<std::string> column_names() {
  std::vector<std::string> names;
  for (const RecordColumn& column : record_columns()) names.emplace_back(column.name);
  return names;
}

std::string from_hex(std::string_view hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return bytes;
}

TEST(RecordColumnsTest, NamesAreUniqueAndListedInOrder) {
  std::vector<std::string> names = column_names();
  ASSERT_EQ(names.size(), kRecordColumnCount);
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(column_index(names[i]), i) << names[i];
    EXPECT_FALSE(record_columns()[i].sql_type.empty()) << names[i];
    EXPECT_NE(record_columns()[i].append_copy, nullptr) << names[i];
    EXPECT_NE(record_columns()[i].record_value, nullptr) << names[i];
  }
  std::string list;
  for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
  EXPECT_EQ(copy_column_list(), list);
}

TEST(RecordColumnsTest, ATupleHasOneFieldPerColumn) {
  std::vector<std::optional<std::string>> full = copy_fields(full_record("r"));
  std::vector<std::optional<std::string>> empty = copy_fields(capture::Record{});
  ASSERT_EQ(full.size(), kRecordColumnCount);
  ASSERT_EQ(empty.size(), kRecordColumnCount);
  // The record used by the tests below really sets every column: a new column must be
  // given a value in full_record() too, or the round trips would not test it.
  for (size_t i = 0; i < kRecordColumnCount; ++i) {
    EXPECT_TRUE(full[i].has_value()) << record_columns()[i].name;
    EXPECT_NE(full[i], empty[i]) << record_columns()[i].name << " is not set by full_record()";
  }
}

TEST(RecordColumnsTest, EveryColumnSurvivesTheSpoolFrame) {
  capture::Record record = full_record("frame");
  std::string body;
  uint8_t header[kFrameHeaderBytes];
  ASSERT_TRUE(encode_frame(record, &body, header));
  std::optional<FrameHeader> parsed = decode_frame_header(header);
  ASSERT_TRUE(parsed);
  std::optional<capture::Record> decoded = decode_frame_body(*parsed, body);
  ASSERT_TRUE(decoded);
  std::vector<std::optional<std::string>> before = copy_fields(record);
  std::vector<std::optional<std::string>> after = copy_fields(*decoded);
  for (size_t i = 0; i < kRecordColumnCount; ++i) {
    EXPECT_EQ(before[i], after[i]) << record_columns()[i].name << " is lost by the spool frame";
  }
}

// The tail lines an earlier release wrote, byte for byte, for a record with every field set
// and one with every optional field absent: `mcptap tail` and scripts read them. Schema
// version 2 added one key, operation_id, in its alphabetical place; nothing else moved.
TEST(RecordColumnsTest, TheTailLineIsTheReleasedOne) {
  capture::Record full;
  full.id = *base::Uuid::parse("01020304-0506-0708-090a-0b0c0d0e0f10");
  full.captured_at_us = 1'714'566'896'123'456;
  full.route = "r\"1";
  full.connection_id = "c\xc3\xa9";
  full.session_id = "s";
  full.transport = capture::Transport::Sse;
  full.direction = capture::Direction::ServerToClient;
  full.kind = capture::Kind::Response;
  full.jsonrpc_id = "\"7\"";
  full.method = "tools/call";
  full.correlation_id = *base::Uuid::parse("20212223-2425-2627-2829-2a2b2c2d2e2f");
  full.latency_us = 1500;
  full.payload = R"({"jsonrpc":"2.0","id":"7","result":{"isError":true}})";
  full.payload_bytes = 4242;
  full.truncated = true;
  full.redacted = true;
  full.tool_error = true;
  full.meta_json = R"({"tool_error":true})";
  full.operation_id = *base::Uuid::parse("30313233-3435-3637-3839-3a3b3c3d3e3f");
  EXPECT_EQ(tail_line(full),
            R"({"captured_at":"2024-05-01T12:34:56.123456Z","connection_id":"c)"
            "\xc3\xa9"
            R"(",)"
            R"("correlation_id":"20212223-2425-2627-2829-2a2b2c2d2e2f","direction":)"
            R"("server_to_client","jsonrpc_id":"\"7\"","kind":"response","latency_us":1500,)"
            R"("method":"tools/call","operation_id":"30313233-3435-3637-3839-3a3b3c3d3e3f",)"
            R"("payload_bytes":4242,"redacted":true,"route":"r\"1",)"
            R"("session_id":"s","tool_error":true,"transport":"sse","truncated":true})"
            "\n");

  capture::Record sparse;
  sparse.captured_at_us = 1'000'001;
  sparse.route = "r";
  sparse.connection_id = "c";
  sparse.session_id = "s";
  sparse.payload = "";
  EXPECT_EQ(tail_line(sparse),
            R"({"captured_at":"1970-01-01T00:00:01.000001Z","connection_id":"c",)"
            R"("correlation_id":null,"direction":"client_to_server","jsonrpc_id":null,)"
            R"("kind":"invalid","latency_us":null,"method":null,"operation_id":null,)"
            R"("payload_bytes":0,)"
            R"("redacted":false,"route":"r","session_id":"s","tool_error":false,)"
            R"("transport":"tcp","truncated":false})"
            "\n");
}

// A frame written by an earlier release, byte for byte: spools left behind by it must
// still be delivered after an upgrade.
TEST(RecordColumnsTest, AFrameOfTheFirstFormatStillDecodes) {
  const std::string header_hex =
      "4d54535001000000750000007b5b07d90102030405060708090a0b0c0d0e0f10d9381e79";
  const std::string body_hex =
      "407ec9b6631706000800000000000000dc050000000000000201027f202122232425262728292a2b2c2d2e2f"
      "01000000720100000063010000007301000000370a000000746f6f6c732f63616c6c080000007b226964223a"
      "377d170000007b2268747470223a7b22737461747573223a3230307d7d";
  std::string header = from_hex(header_hex);
  std::string body = from_hex(body_hex);
  ASSERT_EQ(header.size(), kFrameHeaderBytes);
  std::optional<FrameHeader> parsed =
      decode_frame_header(reinterpret_cast<const uint8_t*>(header.data()));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->format, 1);
  std::optional<capture::Record> record = decode_frame_body(*parsed, body);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->id.to_string(), "01020304-0506-0708-090a-0b0c0d0e0f10");
  EXPECT_EQ(record->captured_at_us, 1'714'566'896'123'456);
  EXPECT_EQ(record->route, "r");
  EXPECT_EQ(record->connection_id, "c");
  EXPECT_EQ(record->session_id, "s");
  EXPECT_EQ(record->transport, capture::Transport::Sse);
  EXPECT_EQ(record->direction, capture::Direction::ServerToClient);
  EXPECT_EQ(record->kind, capture::Kind::Response);
  EXPECT_EQ(record->jsonrpc_id, "7");
  EXPECT_EQ(record->method, "tools/call");
  ASSERT_TRUE(record->correlation_id);
  EXPECT_EQ(record->correlation_id->to_string(), "20212223-2425-2627-2829-2a2b2c2d2e2f");
  EXPECT_EQ(record->latency_us, 1500);
  EXPECT_EQ(record->payload, R"({"id":7})");
  EXPECT_EQ(record->payload_bytes, 8);
  EXPECT_TRUE(record->truncated);
  EXPECT_TRUE(record->redacted);
  EXPECT_EQ(record->meta_json, R"({"http":{"status":200}})");
  EXPECT_FALSE(record->operation_id) << "format 1 has no operation";
}

// The released format-1 body above, with the operation flag (bit 7) set and an operation id
// after the correlation id: what format 2 writes. Under a format-1 header the flag can only
// be damage; under a format-2 header it carries the id.
TEST(RecordColumnsTest, TheOperationFlagIsReadOnlyFromTheSecondFormatOn) {
  std::string header =
      from_hex("4d54535001000000750000007b5b07d90102030405060708090a0b0c0d0e0f10d9381e79");
  std::string body = from_hex(
      "407ec9b6631706000800000000000000dc050000000000000201027f202122232425262728292a2b2c2d2e2f"
      "01000000720100000063010000007301000000370a000000746f6f6c732f63616c6c080000007b226964223a"
      "377d170000007b2268747470223a7b22737461747573223a3230307d7d");
  constexpr size_t kFlagsAt = 27;  // after three u64 and transport, direction, kind
  constexpr size_t kCorrelationEnds = kFlagsAt + 1 + 16;
  ASSERT_EQ(static_cast<uint8_t>(body[kFlagsAt]), 0x7f);
  body[kFlagsAt] = static_cast<char>(0xff);
  body.insert(kCorrelationEnds, from_hex("404142434445464748494a4b4c4d4e4f"));
  std::optional<FrameHeader> parsed =
      decode_frame_header(reinterpret_cast<const uint8_t*>(header.data()));
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(decode_frame_body(*parsed, body)) << "format 1 never sets bit 7";

  FrameHeader second = *parsed;
  second.format = 2;
  second.body_bytes = static_cast<uint32_t>(body.size());
  std::optional<capture::Record> record = decode_frame_body(second, body);
  ASSERT_TRUE(record);
  ASSERT_TRUE(record->operation_id);
  EXPECT_EQ(record->operation_id->to_string(), "40414243-4445-4647-4849-4a4b4c4d4e4f");
  EXPECT_EQ(record->correlation_id->to_string(), "20212223-2425-2627-2829-2a2b2c2d2e2f");
  EXPECT_EQ(record->route, "r");
  EXPECT_EQ(record->meta_json, R"({"http":{"status":200}})");
}

TEST(RecordColumnsTest, FramesAreWrittenInTheSecondFormatWithOrWithoutAnOperation) {
  for (bool with_operation : {true, false}) {
    capture::Record record = full_record("frame");
    if (!with_operation) record.operation_id.reset();
    std::string body;
    uint8_t header[kFrameHeaderBytes];
    ASSERT_TRUE(encode_frame(record, &body, header));
    EXPECT_EQ(header[4], 2);
    std::optional<FrameHeader> parsed = decode_frame_header(header);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->format, 2);
    std::optional<capture::Record> decoded = decode_frame_body(*parsed, body);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->operation_id, record.operation_id);
  }
}

// ---- Against PostgreSQL ----

class RecordColumnsPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(connection_.ok());
    base::Status migrated = migrate(connection_, 3);
    ASSERT_TRUE(migrated) << describe(migrated.error());
  }

  // "name type [not null] [default ...]" of each column of a relation, in order.
  std::vector<std::string> columns_of(const std::string& relation) {
    return column(connection_,
                  "SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ||"
                  " CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||"
                  " coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')"
                  " FROM pg_attribute a LEFT JOIN pg_attrdef d"
                  " ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
                  " WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped"
                  " ORDER BY a.attnum",
                  {relation});
  }

  // What columns_of should say, from the table.
  std::vector<std::string> expected_columns(bool with_defaults) {
    std::vector<std::string> expected;
    for (const RecordColumn& column : record_columns()) {
      std::string type = scalar(connection_, "SELECT format_type($1::regtype, NULL)",
                                {std::string(column.sql_type)});
      std::string line = std::string(column.name) + " " + type;
      if (!column.nullable) line += " not null";
      // Written in the table as PostgreSQL prints it back, so the two compare as text.
      if (with_defaults && !column.table_default.empty()) {
        line += " default " + std::string(column.table_default);
      }
      expected.push_back(line);
    }
    return expected;
  }

  PgConnection connection_ = connect_or_fail();
};

TEST_F(RecordColumnsPgTest, TheMigratedTableHasExactlyTheColumns) {
  EXPECT_EQ(columns_of("mcptap.messages"), expected_columns(true));
  // And through information_schema, as a user reading the schema sees it.
  std::vector<std::string> expected;
  for (const RecordColumn& column : record_columns()) {
    expected.push_back(std::string(column.name) + (column.nullable ? " YES" : " NO"));
  }
  EXPECT_EQ(column(connection_,
                   "SELECT column_name || ' ' || is_nullable FROM information_schema.columns"
                   " WHERE table_schema = 'mcptap' AND table_name = 'messages'"
                   " ORDER BY ordinal_position"),
            expected);
}

TEST_F(RecordColumnsPgTest, TheStagingTableHasTheSameColumnsWithoutDefaults) {
  ASSERT_TRUE(connection_.run(staging_table_ddl()));
  EXPECT_EQ(columns_of("pg_temp.mcptap_staging"), expected_columns(false));
}

// Migrations 1 and 2 as released, word for word: on a new database the derived DDL must
// create the very same table (columns, key, partitioning, indexes) as it did on the old ones.
TEST_F(RecordColumnsPgTest, MigrationsOneAndTwoCreateTheReleasedSchema) {
  const std::string scratch = unique_name("released");
  const std::string released = R"(CREATE TABLE )" + scratch + R"(.messages (
                id uuid NOT NULL,
                captured_at timestamptz NOT NULL,
                route text NOT NULL,
                connection_id text NOT NULL,
                session_id text NOT NULL,
                transport text NOT NULL,
                direction text NOT NULL,
                kind text NOT NULL,
                jsonrpc_id text,
                method text,
                correlation_id uuid,
                latency_us bigint,
                payload jsonb,
                payload_bytes integer NOT NULL,
                truncated boolean NOT NULL DEFAULT false,
                redacted boolean NOT NULL DEFAULT false,
                meta jsonb NOT NULL DEFAULT '{}'::jsonb,
                PRIMARY KEY (id, captured_at)
              ) PARTITION BY RANGE (captured_at))";
  ASSERT_TRUE(connection_.run("CREATE SCHEMA " + scratch));
  ASSERT_TRUE(connection_.run(released));
  for (const std::string& index :
       {"CREATE INDEX messages_captured_at_brin ON " + scratch +
            ".messages USING brin (captured_at)",
        "CREATE INDEX messages_correlation_id_idx ON " + scratch + ".messages (correlation_id)",
        "CREATE INDEX messages_route_captured_at_idx ON " + scratch +
            ".messages (route, captured_at)"}) {
    ASSERT_TRUE(connection_.run(index));
  }
  // The columns of version 1, then the rest of the schema as text with the schema removed.
  std::vector<std::string> current = columns_of("mcptap.messages");
  std::vector<std::string> version_one;
  for (size_t i = 0; i < kRecordColumnCount; ++i) {
    if (record_columns()[i].since_version == 1) version_one.push_back(current[i]);
  }
  EXPECT_EQ(columns_of(scratch + ".messages"), version_one);
  for (const std::string& statement :
       {"ALTER TABLE " + scratch + ".messages ADD COLUMN IF NOT EXISTS operation_id uuid",
        "CREATE INDEX IF NOT EXISTS messages_operation_id_idx ON " + scratch +
            ".messages (operation_id) WHERE operation_id IS NOT NULL"}) {
    ASSERT_TRUE(connection_.run(statement));
  }
  EXPECT_EQ(columns_of(scratch + ".messages"), current);
  auto shape = [&](const std::string& schema) {
    return column(connection_,
                  "SELECT replace(x, $1 || '.', '') FROM ("
                  " SELECT pg_get_partkeydef(($1 || '.messages')::regclass) AS x"
                  " UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM"
                  " pg_constraint WHERE conrelid = ($1 || '.messages')::regclass"
                  " UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = $1"
                  " AND tablename = 'messages') s ORDER BY 1",
                  {schema});
  };
  std::vector<std::string> released_shape = shape(scratch);
  // The partition key, the primary key, its index and the four others.
  EXPECT_EQ(released_shape.size(), 7u);
  EXPECT_EQ(shape("mcptap"), released_shape);
  ASSERT_TRUE(connection_.run("DROP SCHEMA " + scratch + " CASCADE"));
}

// One record with every column set goes through COPY (both write paths) and comes back as
// the JSON `query --json` prints; the admin API's tail line agrees with it key for key.
TEST_F(RecordColumnsPgTest, ARecordRoundTripsIntoTheJsonTheCliPrints) {
  capture::Record record = full_record(unique_name("columns"));
  PgWriter writer(connection_);
  WriteResult first = writer.write(RecordBatch{record});
  ASSERT_EQ(first.inserted, 1u) << first.failure.message;
  WriteResult replay = writer.write(RecordBatch{record});  // the staging path
  ASSERT_FALSE(replay.needs_retry) << replay.failure.message;
  EXPECT_TRUE(replay.rejections.empty());

  auto read = connection_.run(
      "SELECT " + record_select_list() + " FROM mcptap.messages WHERE id = $1::uuid",
      {record.id.to_string()});
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(PQntuples(read->get()), 1);
  nlohmann::json stored = record_json(read_column_texts(read->get(), 0));

  const std::map<std::string, nlohmann::json> expected = {
      {"id", record.id.to_string()},
      {"captured_at", scalar(connection_,
                             "SELECT to_char(to_timestamp($1::float8 / 1e6) AT TIME ZONE 'UTC',"
                             " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
                             {std::to_string(record.captured_at_us)})},
      {"route", record.route},
      {"connection_id", record.connection_id},
      {"session_id", record.session_id},
      {"transport", "sse"},
      {"direction", "server_to_client"},
      {"kind", "response"},
      {"jsonrpc_id", *record.jsonrpc_id},
      {"method", *record.method},
      {"correlation_id", record.correlation_id->to_string()},
      {"latency_us", *record.latency_us},
      {"payload", nlohmann::json::parse(*record.payload)},
      {"payload_bytes", record.payload_bytes},
      {"truncated", true},
      {"redacted", true},
      {"meta", nlohmann::json::parse(record.meta_json)},
      {"operation_id", record.operation_id->to_string()},
  };
  ASSERT_EQ(stored.size(), kRecordColumnCount);
  size_t position = 0;
  for (auto it = stored.begin(); it != stored.end(); ++it, ++position) {
    auto want = expected.find(it.key());
    ASSERT_NE(want, expected.end()) << it.key() << ": no expected value in this test";
    EXPECT_EQ(it.value(), want->second) << it.key();
  }
  // record_json keeps the table's order.
  nlohmann::ordered_json ordered = record_json(read_column_texts(read->get(), 0));
  std::vector<std::string> keys;
  for (auto it = ordered.begin(); it != ordered.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, column_names());

  // Each column's value read from the record before it is stored is the one read back.
  for (const RecordColumn& column : record_columns()) {
    EXPECT_EQ(column.record_value(record), stored[std::string(column.name)]) << column.name;
  }

  // The live tail shows the same record before it is stored: the columns the timeline shows
  // but the id, and tool_error, which the row keeps in meta; in alphabetical order.
  std::vector<std::string> shown;
  for (const RecordColumn& column : record_columns()) {
    if (!column.bulky && column.name != "id") shown.emplace_back(column.name);
  }
  shown.emplace_back("tool_error");
  std::sort(shown.begin(), shown.end());
  nlohmann::ordered_json tail = nlohmann::ordered_json::parse(tail_line(record));
  std::vector<std::string> tail_keys;
  for (auto it = tail.begin(); it != tail.end(); ++it) {
    tail_keys.push_back(it.key());
    if (it.key() == "tool_error") continue;
    EXPECT_EQ(nlohmann::json(it.value()), stored[it.key()]) << it.key();
  }
  EXPECT_EQ(tail_keys, shown);
  EXPECT_EQ(tail["tool_error"], false);
}

// A record with every optional field absent (and an empty payload, which is not JSON) reads
// back as nulls where record_value says so.
TEST_F(RecordColumnsPgTest, AnAbsentValueIsNullBothLiveAndStored) {
  capture::Record record;
  record.id = base::Uuid::v7();
  record.captured_at_us = testing::now_unix_us();
  record.route = unique_name("sparse");
  record.payload = "";
  record.meta_json = "";
  PgWriter writer(connection_);
  WriteResult written = writer.write(RecordBatch{record});
  ASSERT_EQ(written.inserted, 1u) << written.failure.message;
  auto read = connection_.run(
      "SELECT " + record_select_list() + " FROM mcptap.messages WHERE id = $1::uuid",
      {record.id.to_string()});
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(PQntuples(read->get()), 1);
  nlohmann::json stored = record_json(read_column_texts(read->get(), 0));
  for (const RecordColumn& column : record_columns()) {
    EXPECT_EQ(column.record_value(record), stored[std::string(column.name)]) << column.name;
  }
  EXPECT_EQ(stored["payload"], nullptr);
  EXPECT_EQ(stored["latency_us"], nullptr);
  EXPECT_EQ(stored["meta"], nlohmann::json::object());
}

}  // namespace
}  // namespace mcptap::sink

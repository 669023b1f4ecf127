// Tests for sink/copy_binary.cpp: tuple framing, field encodings, U+0000 in JSON. The
// writer's tests send these tuples to a real PostgreSQL; these read them back byte by byte.
#include "sink/copy_binary.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace mcptap::sink {
namespace {

using Field = std::optional<std::string>;

uint64_t big_endian(std::string_view bytes) {
  uint64_t value = 0;
  for (char c : bytes) value = (value << 8) | static_cast<uint8_t>(c);
  return value;
}

// Splits one tuple into its fields (nullopt for a null), checking the framing as it goes.
std::vector<Field> fields_of(std::string_view tuple) {
  std::vector<Field> fields;
  EXPECT_GE(tuple.size(), 2u);
  const size_t count = big_endian(tuple.substr(0, 2));
  size_t at = 2;
  for (size_t i = 0; i < count; ++i) {
    EXPECT_LE(at + 4, tuple.size());
    int32_t length = static_cast<int32_t>(big_endian(tuple.substr(at, 4)));
    at += 4;
    if (length == -1) {
      fields.push_back(std::nullopt);
      continue;
    }
    EXPECT_GE(length, 0);
    EXPECT_LE(at + size_t(length), tuple.size());
    fields.push_back(std::string(tuple.substr(at, size_t(length))));
    at += size_t(length);
  }
  EXPECT_EQ(at, tuple.size()) << "bytes after the last field";
  return fields;
}

std::vector<Field> row_of(const capture::Record& record) {
  std::string tuple;
  append_copy_row(record, tuple);
  return fields_of(tuple);
}

// Out of line: GCC 12 warns of an uninitialized optional<string> when this is inlined.
[[gnu::noinline]] capture::Record with_payload(capture::Record record, std::string payload) {
  record.payload = std::move(payload);
  return record;
}

TEST(SinkCopyBinaryTest, StreamStartsWithTheSignatureAndEndsWithTheMarker) {
  std::string header;
  append_copy_header(header);
  EXPECT_EQ(header, std::string("PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19));
  std::string trailer;
  append_copy_trailer(trailer);
  EXPECT_EQ(trailer, "\xFF\xFF");
}

TEST(SinkCopyBinaryTest, RowHasEighteenFieldsWithNullsForMissingValues) {
  capture::Record record;
  record.route = "r\tx\\N\n";  // bytes as they are: nothing to escape in this format
  record.meta_json = "";
  std::vector<Field> fields = row_of(record);
  ASSERT_EQ(fields.size(), 18u);
  EXPECT_EQ(fields[2], "r\tx\\N\n");
  EXPECT_EQ(fields[5], "tcp");
  EXPECT_EQ(fields[6], "client_to_server");
  EXPECT_EQ(fields[7], "invalid");
  for (int null_field : {8, 9, 10, 11, 12}) EXPECT_EQ(fields[null_field], std::nullopt);
  EXPECT_EQ(fields[14], std::string(1, '\0'));
  EXPECT_EQ(fields[16], "\x01{}");      // jsonb: version 1, then the text
  EXPECT_EQ(fields[17], std::nullopt);  // operation_id (schema 2)
}

TEST(SinkCopyBinaryTest, FixedWidthFieldsAreBigEndian) {
  capture::Record record;
  record.id = *base::Uuid::parse("01890a5d-ac96-774b-bcce-b302099a8057");
  record.correlation_id = *base::Uuid::parse("00000000-0000-7000-8000-0000000000ff");
  record.operation_id = *base::Uuid::parse("00000000-0000-7000-8000-0000000000ee");
  record.captured_at_us = 946'684'800'000'000 + 0x0102;  // 258 us after 2000-01-01
  record.latency_us = 0x0102030405;
  record.payload = R"({"a":1})";
  record.payload_bytes = 0x01020304;
  record.redacted = true;
  std::vector<Field> fields = row_of(record);
  ASSERT_EQ(fields.size(), 18u);
  EXPECT_EQ(*fields[0], std::string(reinterpret_cast<const char*>(record.id.bytes.data()), 16));
  EXPECT_EQ(fields[1], std::string("\0\0\0\0\0\0\x01\x02", 8));
  EXPECT_EQ(fields[10]->substr(15), "\xff");
  EXPECT_EQ(fields[11], std::string("\0\0\0\x01\x02\x03\x04\x05", 8));
  EXPECT_EQ(fields[12], std::string("\x01{\"a\":1}"));
  EXPECT_EQ(fields[13], "\x01\x02\x03\x04");
  EXPECT_EQ(fields[15], "\x01");
  EXPECT_EQ(fields[17]->substr(15), "\xee");
}

TEST(SinkCopyBinaryTest, TimestampsCountFromTheYear2000AndSaturate) {
  EXPECT_EQ(postgres_timestamp_us(946'684'800'000'000), 0);
  EXPECT_EQ(postgres_timestamp_us(0), -946'684'800'000'000);
  EXPECT_EQ(postgres_timestamp_us(1'714'566'896'000'123), 767'882'096'000'123);
  EXPECT_EQ(postgres_timestamp_us(std::numeric_limits<int64_t>::min()),
            std::numeric_limits<int64_t>::min());
}

TEST(SinkCopyBinaryTest, ReplacesNulEscapesOnly) {
  EXPECT_FALSE(replace_nul_escapes(R"({"a":"x\u0001"})").has_value());
  EXPECT_FALSE(replace_nul_escapes(R"({"a":"x\\u0000"})").has_value());  // escaped backslash
  EXPECT_EQ(replace_nul_escapes(R"({"a":"x\u0000y\u0000"})"), R"({"a":"x\ufffdy\ufffd"})");
  EXPECT_EQ(replace_nul_escapes(R"(["\\\u0000"])"), R"(["\\\ufffd"])");
}

TEST(SinkCopyBinaryTest, NulInPayloadIsNotedInMeta) {
  capture::Record record;
  record.meta_json = R"({"http_method":"POST"})";
  std::vector<Field> fields = row_of(with_payload(record, R"({"a":"\u0000"})"));
  ASSERT_EQ(fields.size(), 18u);
  EXPECT_EQ(fields[12], std::string("\x01") + R"({"a":"\ufffd"})");
  EXPECT_NE(fields[16]->find(R"("payload_nul_replaced":true)"), std::string::npos) << *fields[16];
  EXPECT_NE(fields[16]->find(R"("http_method":"POST")"), std::string::npos) << *fields[16];
}

TEST(SinkCopyBinaryTest, PayloadSizeIsClampedToTheIntegerColumn) {
  capture::Record record;
  record.payload_bytes = int64_t{1} << 40;
  EXPECT_EQ(row_of(record)[13], "\x7f\xff\xff\xff");
  record.payload_bytes = -5;
  EXPECT_EQ(row_of(record)[13], std::string(4, '\0'));
}

}  // namespace
}  // namespace mcptap::sink

// Tests for sink/copy_text.cpp: COPY escaping, timestamp literals, U+0000 in JSON.
#include "sink/copy_text.h"

#include <gtest/gtest.h>

namespace mcptap::sink {
namespace {

std::string escaped(std::string_view text) {
  std::string out;
  append_copy_text(text, out);
  return out;
}

TEST(SinkCopyTextTest, EscapesBackslashTabNewlineAndCarriageReturn) {
  EXPECT_EQ(escaped("plain"), "plain");
  EXPECT_EQ(escaped("a\\b\tc\nd\re"), "a\\\\b\\tc\\nd\\re");
  EXPECT_EQ(escaped("\\N"), "\\\\N");  // the text \N, not a null
  EXPECT_EQ(escaped("héllo ✓"), "héllo ✓");
}

TEST(SinkCopyTextTest, TimestampLiteralsAreUtcWithMicroseconds) {
  EXPECT_EQ(utc_timestamp_literal(0), "1970-01-01 00:00:00.000000+00");
  EXPECT_EQ(utc_timestamp_literal(1'714'566'896'000'123), "2024-05-01 12:34:56.000123+00");
  EXPECT_EQ(utc_timestamp_literal(-1), "1969-12-31 23:59:59.999999+00");
}

TEST(SinkCopyTextTest, ReplacesNulEscapesOnly) {
  EXPECT_FALSE(replace_nul_escapes(R"({"a":"x\u0001"})").has_value());
  EXPECT_FALSE(replace_nul_escapes(R"({"a":"x\\u0000"})").has_value());  // escaped backslash
  EXPECT_EQ(replace_nul_escapes(R"({"a":"x\u0000y\u0000"})"), R"({"a":"x\ufffdy\ufffd"})");
  EXPECT_EQ(replace_nul_escapes(R"(["\\\u0000"])"), R"(["\\\ufffd"])");
}

TEST(SinkCopyTextTest, RowHasSeventeenFieldsWithNullsForMissingValues) {
  capture::Record record;
  record.route = "r\tx";
  record.meta_json = "";
  std::string row;
  append_copy_row(record, row);
  ASSERT_EQ(row.back(), '\n');
  std::vector<std::string> fields;
  size_t start = 0;
  for (size_t tab = row.find('\t'); tab != std::string::npos; tab = row.find('\t', start)) {
    fields.push_back(row.substr(start, tab - start));
    start = tab + 1;
  }
  fields.push_back(row.substr(start, row.size() - 1 - start));
  ASSERT_EQ(fields.size(), 17u);
  EXPECT_EQ(fields[2], "r\\tx");
  for (int null_field : {8, 9, 10, 11, 12}) EXPECT_EQ(fields[null_field], "\\N") << null_field;
  EXPECT_EQ(fields[14], "f");
  EXPECT_EQ(fields[16], "{}");
}

TEST(SinkCopyTextTest, NulInPayloadIsNotedInMeta) {
  capture::Record record;
  record.payload = R"({"a":"\u0000"})";
  record.meta_json = R"({"http_method":"POST"})";
  std::string row;
  append_copy_row(record, row);
  EXPECT_NE(row.find(R"({"a":"\\ufffd"})"), std::string::npos) << row;
  EXPECT_NE(row.find(R"("payload_nul_replaced":true)"), std::string::npos) << row;
  EXPECT_NE(row.find(R"("http_method":"POST")"), std::string::npos) << row;
}

TEST(SinkCopyTextTest, PayloadSizeIsClampedToTheIntegerColumn) {
  capture::Record record;
  record.payload_bytes = int64_t{1} << 40;
  std::string row;
  append_copy_row(record, row);
  EXPECT_NE(row.find("\t2147483647\t"), std::string::npos) << row;
}

}  // namespace
}  // namespace mcptap::sink

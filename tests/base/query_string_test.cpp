#include "base/query_string.h"

#include <gtest/gtest.h>

#include "base/text.h"

namespace mcptap::base {
namespace {

TEST(QueryStringTest, QueryOfDropsThePathAndTheFragment) {
  EXPECT_EQ(query_of("/tail?route=a&limit=3#top"), "route=a&limit=3");
  EXPECT_EQ(query_of("/tail"), "");
  EXPECT_EQ(query_of("/tail?"), "");
}

TEST(QueryStringTest, ParseQueryDecodesAndKeepsTheFirstOfARepeatedName) {
  auto pairs = parse_query("route=a%20b&x=1+2&&route=second&flag");
  ASSERT_TRUE(pairs.has_value());
  EXPECT_EQ(pairs->at("route"), "a b");
  EXPECT_EQ(pairs->at("x"), "1 2");
  EXPECT_EQ(pairs->at("flag"), "");
  EXPECT_EQ(pairs->size(), 3u);
}

TEST(QueryStringTest, ParseQueryRefusesABrokenEscape) {
  EXPECT_FALSE(parse_query("route=%4").has_value());
  EXPECT_FALSE(parse_query("ro%zzute=a").has_value());
}

TEST(QueryStringTest, QueryParameterReturnsTheRawValueOfTheFirstMatch) {
  EXPECT_EQ(query_parameter("/messages?sessionId=a%2Db&sessionId=c", "sessionId"), "a%2Db");
  EXPECT_EQ(query_parameter("/messages?other=1&sessionId", "sessionId"), "");
  EXPECT_EQ(query_parameter("/messages", "sessionId"), "");
  EXPECT_EQ(query_parameter("/m?x=1&&sessionId=s1", "sessionId"), "s1");
}

TEST(TextTest, TrimRemovesSpacesAndTabsOnly) {
  EXPECT_EQ(trim(" \t value \t"), "value");
  EXPECT_EQ(trim("\r\nvalue\n"), "\r\nvalue\n");
  EXPECT_EQ(trim("   "), "");
}

TEST(TextTest, HexValueReadsBothCases) {
  EXPECT_EQ(hex_value('0'), 0);
  EXPECT_EQ(hex_value('a'), 10);
  EXPECT_EQ(hex_value('F'), 15);
  EXPECT_EQ(hex_value('g'), -1);
  EXPECT_EQ(hex_value('%'), -1);
}

}  // namespace
}  // namespace mcptap::base

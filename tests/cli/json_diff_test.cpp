// Tests for cli/json_diff: paths, additions, removals, type changes, arrays, key order.
#include "cli/json_diff.h"

#include <gtest/gtest.h>

namespace mcptap::cli {
namespace {

using nlohmann::json;

std::string diff_text(const char* before, const char* after) {
  return format_diff(diff_json(json::parse(before), json::parse(after)));
}

TEST(JsonDiff, IdenticalDocumentsSayIdentical) {
  EXPECT_EQ(diff_text(R"({"a":1,"b":[1,2,{"c":null}]})", R"({"a":1,"b":[1,2,{"c":null}]})"),
            "identical\n");
  EXPECT_TRUE(diff_json(json::parse("[]"), json::parse("[]")).empty());
}

TEST(JsonDiff, KeyOrderIsIrrelevant) {
  EXPECT_EQ(diff_text(R"({"a":1,"b":{"x":true,"y":"z"}})", R"({"b":{"y":"z","x":true},"a":1})"),
            "identical\n");
}

TEST(JsonDiff, NestedObjectsReportDottedPaths) {
  EXPECT_EQ(diff_text(R"({"params":{"arguments":{"text":"a","old":true}}})",
                      R"({"params":{"arguments":{"text":"b","extra":1}}})"),
            "+ params.arguments.extra: 1\n"
            "- params.arguments.old: true\n"
            "~ params.arguments.text: \"a\" → \"b\"\n");
}

TEST(JsonDiff, ArraysOfDifferentLengthsAddOrRemoveTrailingIndexes) {
  EXPECT_EQ(diff_text(R"({"items":[1,2]})", R"({"items":[1,3,4,5]})"),
            "~ items[1]: 2 → 3\n"
            "+ items[2]: 4\n"
            "+ items[3]: 5\n");
  EXPECT_EQ(diff_text(R"([{"a":1},{"b":2}])", R"([{"a":2}])"),
            "~ [0].a: 1 → 2\n"
            "- [1]: {\"b\":2}\n");
}

TEST(JsonDiff, TypeChangesAreOneChangeAtThatPath) {
  EXPECT_EQ(diff_text(R"({"id":1})", R"({"id":"1"})"), "~ id: 1 → \"1\"\n");
  EXPECT_EQ(diff_text(R"({"v":{"x":1}})", R"({"v":[1]})"), "~ v: {\"x\":1} → [1]\n");
  EXPECT_EQ(diff_text(R"({"v":null})", R"({"v":false})"), "~ v: null → false\n");
  EXPECT_EQ(diff_text("1", "[1]"), "~ (root): 1 → [1]\n");
}

TEST(JsonDiff, EqualNumbersOfDifferentRepresentationAreEqual) {
  EXPECT_EQ(diff_text(R"({"n":1})", R"({"n":1.0})"), "identical\n");
  EXPECT_EQ(diff_text(R"({"n":1})", R"({"n":1.5})"), "~ n: 1 → 1.5\n");
}

TEST(JsonDiff, KeysThatAreNotPlainAreQuoted) {
  EXPECT_EQ(
      diff_text(R"({"a.b":1,"":2,"with space":{"k":3}})", R"({"a.b":2,"":3,"with space":{"k":4}})"),
      "~ [\"\"]: 2 → 3\n"
      "~ [\"a.b\"]: 1 → 2\n"
      "~ [\"with space\"].k: 3 → 4\n");
}

TEST(JsonDiff, ChangesCarryKindsAndValues) {
  std::vector<JsonChange> changes = diff_json(json::parse(R"({"a":1})"), json::parse(R"({"b":2})"));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].kind, JsonChange::Kind::Removed);
  EXPECT_EQ(changes[0].path, "a");
  EXPECT_EQ(changes[0].before, json(1));
  EXPECT_EQ(changes[1].kind, JsonChange::Kind::Added);
  EXPECT_EQ(changes[1].after, json(2));
}

}  // namespace
}  // namespace mcptap::cli

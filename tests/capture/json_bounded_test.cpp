// Tests for depth-bounded JSON parsing (capture/json_bounded.cpp).
#include "capture/json_bounded.h"

#include <gtest/gtest.h>

#include <string>

namespace mcptap::capture {
namespace {

std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// {"a":{"a":...{"a":1}...}} with `depth` objects.
std::string nested_objects(size_t depth) {
  std::string text;
  text.reserve(depth * 6 + 1);
  for (size_t i = 0; i < depth; ++i) text += "{\"a\":";
  text += "1";
  text.append(depth, '}');
  return text;
}

TEST(JsonBounded, ParsesOrdinaryMessage) {
  std::string error;
  auto document = parse_json_bounded(
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","arguments":[1,2.5,true,null,"s"]}})",
      kDefaultMaxJsonDepth, &error);
  ASSERT_TRUE(document) << error;
  EXPECT_EQ((*document)["id"], 3);
  EXPECT_EQ((*document)["method"], "tools/call");
  EXPECT_EQ((*document)["params"]["arguments"].size(), 5u);
  EXPECT_EQ((*document)["params"]["arguments"][1], 2.5);
  EXPECT_TRUE((*document)["params"]["arguments"][3].is_null());
  EXPECT_TRUE(error.empty());
}

TEST(JsonBounded, MatchesNlohmannOnMixedDocument) {
  const std::string text =
      R"({"a":[{"b":[[],{},[1,[2,[3]]]]},-7,18446744073709551615,1e300,"é\u00e9"],"c":{"d":{"e":false}}})";
  std::string error;
  auto document = parse_json_bounded(text, kDefaultMaxJsonDepth, &error);
  ASSERT_TRUE(document) << error;
  EXPECT_EQ(*document, nlohmann::json::parse(text));
  EXPECT_EQ(document->dump(), nlohmann::json::parse(text).dump());
}

TEST(JsonBounded, ScalarsAtTopLevel) {
  std::string error;
  EXPECT_EQ(*parse_json_bounded("42", 0, &error), 42);
  EXPECT_EQ(*parse_json_bounded("\"x\"", 0, &error), "x");
  EXPECT_TRUE(parse_json_bounded("null", 0, &error)->is_null());
}

TEST(JsonBounded, RepeatedKeyKeepsLastValue) {
  std::string error;
  auto document = parse_json_bounded(R"({"k":[1,2],"k":{"x":1},"k":5})", 8, &error);
  ASSERT_TRUE(document) << error;
  EXPECT_EQ(*document, nlohmann::json::parse(R"({"k":5})"));
}

TEST(JsonBounded, RejectsMalformedTextWithShortReason) {
  for (const char* text : {"", "{", "[1,]", "{\"a\" 1}", "nul", "[1] x", "\"\xff\"", "{'a':1}"}) {
    std::string error;
    EXPECT_FALSE(parse_json_bounded(text, kDefaultMaxJsonDepth, &error)) << text;
    EXPECT_EQ(error.rfind("not JSON: ", 0), 0u) << error;
    EXPECT_EQ(error.find("[json.exception"), std::string::npos) << error;
  }
}

TEST(JsonBounded, ReasonNeverQuotesTheBrokenToken) {
  // The text is not JSON, so the redactor never sees it: the reason must not carry it.
  std::string error;
  EXPECT_FALSE(parse_json_bounded("{\"password\":\"hunter2\xff\"}", 8, &error));
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  EXPECT_NE(error.find("ill-formed UTF-8"), std::string::npos) << error;

  const std::string unterminated = "[\"" + std::string(100000, 'x');
  EXPECT_FALSE(parse_json_bounded(unterminated, 8, &error));
  EXPECT_LT(error.size(), 200u) << error;

  EXPECT_FALSE(parse_json_bounded("[1] secret", 8, &error));
  EXPECT_EQ(error.find("secret"), std::string::npos) << error;
  EXPECT_NE(error.find("expected end of input"), std::string::npos) << error;
}

TEST(JsonBounded, NullErrorPointerIsAllowed) {
  EXPECT_FALSE(parse_json_bounded("[[", 1, nullptr));
  EXPECT_FALSE(parse_json_bounded("{", 4, nullptr));
}

TEST(JsonBounded, ArrayDepthAtLimitPassesOneMoreFails) {
  std::string error;
  auto at_limit = parse_json_bounded(nested_arrays(128), 128, &error);
  ASSERT_TRUE(at_limit) << error;
  EXPECT_EQ(at_limit->dump(), nested_arrays(128));  // dumping a document at the limit is safe

  EXPECT_FALSE(parse_json_bounded(nested_arrays(129), 128, &error));
  EXPECT_EQ(error, "nesting deeper than 128");
}

TEST(JsonBounded, ObjectDepthAtLimitPassesOneMoreFails) {
  std::string error;
  auto at_limit = parse_json_bounded(nested_objects(5), 5, &error);
  ASSERT_TRUE(at_limit) << error;
  EXPECT_EQ((*at_limit)["a"]["a"]["a"]["a"]["a"], 1);
  EXPECT_EQ(at_limit->dump(), nested_objects(5));

  EXPECT_FALSE(parse_json_bounded(nested_objects(6), 5, &error));
  EXPECT_EQ(error, "nesting deeper than 5");
}

TEST(JsonBounded, MixedNestingCountsBothKinds) {
  std::string error;
  EXPECT_TRUE(parse_json_bounded(R"([{"a":[{"b":1}]}])", 4, &error)) << error;
  EXPECT_FALSE(parse_json_bounded(R"([{"a":[{"b":[]}]}])", 4, &error));
  EXPECT_EQ(error, "nesting deeper than 4");
}

TEST(JsonBounded, DepthCountsNestingNotSiblings) {
  std::string error;
  EXPECT_TRUE(parse_json_bounded("[[],[],{},{\"a\":[]},[[]]]", 3, &error)) << error;
}

TEST(JsonBounded, ZeroDepthAllowsOnlyScalars) {
  std::string error;
  EXPECT_FALSE(parse_json_bounded("[]", 0, &error));
  EXPECT_EQ(error, "nesting deeper than 0");
}

TEST(JsonBounded, HundredThousandDeepArraysFailWithoutOverflow) {
  std::string error;
  EXPECT_FALSE(parse_json_bounded(nested_arrays(100000), kDefaultMaxJsonDepth, &error));
  EXPECT_EQ(error, "nesting deeper than 128");
  // Unterminated, as an attacker would send it.
  EXPECT_FALSE(parse_json_bounded(std::string(100000, '['), kDefaultMaxJsonDepth, &error));
  EXPECT_EQ(error, "nesting deeper than 128");
}

TEST(JsonBounded, HundredThousandDeepObjectsFailWithoutOverflow) {
  std::string error;
  EXPECT_FALSE(parse_json_bounded(nested_objects(100000), kDefaultMaxJsonDepth, &error));
  EXPECT_EQ(error, "nesting deeper than 128");
}

TEST(JsonBounded, BuildingAndDestroyingHundredThousandDeepDocumentIsIterative) {
  // With a limit above the depth the whole document is built; building it and destroying
  // it must not recurse per level either.
  std::string error;
  auto arrays = parse_json_bounded(nested_arrays(100000), 100000, &error);
  ASSERT_TRUE(arrays) << error;
  EXPECT_EQ(arrays->size(), 1u);
  arrays.reset();
  auto objects = parse_json_bounded(nested_objects(100000), 100000, &error);
  ASSERT_TRUE(objects) << error;
  EXPECT_TRUE(objects->contains("a"));
}

}  // namespace
}  // namespace mcptap::capture

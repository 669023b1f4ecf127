// Tests for depth-bounded JSON parsing (capture/json_bounded.cpp).
#include "capture/json_bounded.h"

#include <gtest/gtest.h>

#include <string>

namespace mcptap::capture {
namespace {

// Why a parse that must fail failed; a parse that succeeds fails the test.
std::string failure_of(const base::Result<nlohmann::json>& parsed) {
  EXPECT_FALSE(parsed.ok());
  return parsed.ok() ? "" : parsed.error().message;
}

// What to print when a parse that must succeed did not.
std::string reason(const base::Result<nlohmann::json>& parsed) {
  return parsed.ok() ? "" : parsed.error().message;
}

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
  auto document = parse_json_bounded(
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","arguments":[1,2.5,true,null,"s"]}})",
      kDefaultMaxJsonDepth);
  ASSERT_TRUE(document) << reason(document);
  EXPECT_EQ((*document)["id"], 3);
  EXPECT_EQ((*document)["method"], "tools/call");
  EXPECT_EQ((*document)["params"]["arguments"].size(), 5u);
  EXPECT_EQ((*document)["params"]["arguments"][1], 2.5);
  EXPECT_TRUE((*document)["params"]["arguments"][3].is_null());
}

TEST(JsonBounded, MatchesNlohmannOnMixedDocument) {
  const std::string text =
      R"({"a":[{"b":[[],{},[1,[2,[3]]]]},-7,18446744073709551615,1e300,"é\u00e9"],"c":{"d":{"e":false}}})";
  auto document = parse_json_bounded(text, kDefaultMaxJsonDepth);
  ASSERT_TRUE(document) << reason(document);
  EXPECT_EQ(*document, nlohmann::json::parse(text));
  EXPECT_EQ(document->dump(), nlohmann::json::parse(text).dump());
}

TEST(JsonBounded, ScalarsAtTopLevel) {
  EXPECT_EQ(*parse_json_bounded("42", 0), 42);
  EXPECT_EQ(*parse_json_bounded("\"x\"", 0), "x");
  EXPECT_TRUE(parse_json_bounded("null", 0)->is_null());
}

TEST(JsonBounded, RepeatedKeyKeepsLastValue) {
  auto document = parse_json_bounded(R"({"k":[1,2],"k":{"x":1},"k":5})", 8);
  ASSERT_TRUE(document) << reason(document);
  EXPECT_EQ(*document, nlohmann::json::parse(R"({"k":5})"));
}

TEST(JsonBounded, RejectsMalformedTextWithShortReason) {
  for (const char* text : {"", "{", "[1,]", "{\"a\" 1}", "nul", "[1] x", "\"\xff\"", "{'a':1}"}) {
    SCOPED_TRACE(text);
    std::string error = failure_of(parse_json_bounded(text, kDefaultMaxJsonDepth));
    EXPECT_EQ(error.rfind("not JSON: ", 0), 0u) << error;
    EXPECT_EQ(error.find("[json.exception"), std::string::npos) << error;
  }
}

TEST(JsonBounded, ReasonNeverQuotesTheBrokenToken) {
  // The text is not JSON, so the redactor never sees it: the reason must not carry it.
  std::string error = failure_of(parse_json_bounded("{\"password\":\"hunter2\xff\"}", 8));
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  EXPECT_NE(error.find("ill-formed UTF-8"), std::string::npos) << error;

  const std::string unterminated = "[\"" + std::string(100000, 'x');
  error = failure_of(parse_json_bounded(unterminated, 8));
  EXPECT_LT(error.size(), 200u) << error;

  error = failure_of(parse_json_bounded("[1] secret", 8));
  EXPECT_EQ(error.find("secret"), std::string::npos) << error;
  EXPECT_NE(error.find("expected end of input"), std::string::npos) << error;
}

TEST(JsonBounded, UnterminatedContainersFailWithTheirReason) {
  EXPECT_EQ(failure_of(parse_json_bounded("[[", 1)), "nesting deeper than 1");
  EXPECT_EQ(failure_of(parse_json_bounded("{", 4)).rfind("not JSON: ", 0), 0u);
}

TEST(JsonBounded, ArrayDepthAtLimitPassesOneMoreFails) {
  auto at_limit = parse_json_bounded(nested_arrays(128), 128);
  ASSERT_TRUE(at_limit) << reason(at_limit);
  EXPECT_EQ(at_limit->dump(), nested_arrays(128));  // dumping a document at the limit is safe

  EXPECT_EQ(failure_of(parse_json_bounded(nested_arrays(129), 128)), "nesting deeper than 128");
}

TEST(JsonBounded, ObjectDepthAtLimitPassesOneMoreFails) {
  auto at_limit = parse_json_bounded(nested_objects(5), 5);
  ASSERT_TRUE(at_limit) << reason(at_limit);
  EXPECT_EQ((*at_limit)["a"]["a"]["a"]["a"]["a"], 1);
  EXPECT_EQ(at_limit->dump(), nested_objects(5));

  EXPECT_EQ(failure_of(parse_json_bounded(nested_objects(6), 5)), "nesting deeper than 5");
}

TEST(JsonBounded, MixedNestingCountsBothKinds) {
  EXPECT_TRUE(parse_json_bounded(R"([{"a":[{"b":1}]}])", 4).ok());
  EXPECT_EQ(failure_of(parse_json_bounded(R"([{"a":[{"b":[]}]}])", 4)), "nesting deeper than 4");
}

TEST(JsonBounded, DepthCountsNestingNotSiblings) {
  EXPECT_TRUE(parse_json_bounded("[[],[],{},{\"a\":[]},[[]]]", 3).ok());
}

TEST(JsonBounded, ZeroDepthAllowsOnlyScalars) {
  std::string error = failure_of(parse_json_bounded("[]", 0));
  EXPECT_EQ(error, "nesting deeper than 0");
}

TEST(JsonBounded, HundredThousandDeepArraysFailWithoutOverflow) {
  std::string error = failure_of(parse_json_bounded(nested_arrays(100000), kDefaultMaxJsonDepth));
  EXPECT_EQ(error, "nesting deeper than 128");
  // Unterminated, as an attacker would send it.
  EXPECT_EQ(failure_of(parse_json_bounded(std::string(100000, '['), kDefaultMaxJsonDepth)),
            "nesting deeper than 128");
}

TEST(JsonBounded, HundredThousandDeepObjectsFailWithoutOverflow) {
  std::string error = failure_of(parse_json_bounded(nested_objects(100000), kDefaultMaxJsonDepth));
  EXPECT_EQ(error, "nesting deeper than 128");
}

TEST(JsonBounded, BuildingAndDestroyingHundredThousandDeepDocumentIsIterative) {
  // With a limit above the depth the whole document is built; building it and destroying
  // it must not recurse per level either.
  auto arrays = parse_json_bounded(nested_arrays(100000), 100000);
  ASSERT_TRUE(arrays) << reason(arrays);
  EXPECT_EQ(arrays->size(), 1u);
  arrays = nlohmann::json();
  auto objects = parse_json_bounded(nested_objects(100000), 100000);
  ASSERT_TRUE(objects) << reason(objects);
  EXPECT_TRUE(objects->contains("a"));
}

}  // namespace
}  // namespace mcptap::capture

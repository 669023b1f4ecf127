// Tests for capture/json_text.cpp: the text is dump()'s, byte for byte, whatever the value;
// invalid UTF-8 is replaced instead of throwing.
#include "base/json_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace mcptap::capture {
namespace {

using nlohmann::json;

std::string reference(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<std::string> tricky_strings() {
  std::vector<std::string> strings = {
      "",
      "plain ascii / with: punctuation {} [] , ~",
      "quote \" and backslash \\",
      "tab\tnewline\ncarriage\rbackspace\bformfeed\f",
      std::string("nul \0 inside", 12),
      "\x01\x1f control",
      "del \x7f",
      "utf-8 ünï ✓ 😀",
      "invalid \xff\xfe bytes",
      "truncated \xe2\x9c",
      "overlong \xc0\xaf",
      "surrogate \xed\xa0\x80",
  };
  for (int c = 0; c < 256; ++c) strings.push_back(std::string(1, static_cast<char>(c)));
  return strings;
}

TEST(JsonTextTest, ScalarsAreWrittenAsDumpWritesThem) {
  std::vector<json> values = {
      nullptr,
      true,
      false,
      0,
      -1,
      std::numeric_limits<int64_t>::min(),
      std::numeric_limits<int64_t>::max(),
      std::numeric_limits<uint64_t>::max(),
      0.0,
      -0.0,
      1.0,
      0.1,
      1e300,
      -2.5e-308,
      std::numeric_limits<double>::quiet_NaN(),
      std::numeric_limits<double>::infinity(),
      json::binary({1, 2, 3}),
  };
  for (const json& value : values)
    EXPECT_EQ(base::json_text(value), reference(value)) << reference(value);
}

TEST(JsonTextTest, EveryStringAndKeyIsWrittenAsDumpWritesIt) {
  for (const std::string& text : tricky_strings()) {
    EXPECT_EQ(base::json_text(json(text)), reference(json(text))) << text;
    json object = {{text, text}, {"k", 1}};
    EXPECT_EQ(base::json_text(object), reference(object)) << text;
  }
}

TEST(JsonTextTest, NestedValuesAreWrittenAsDumpWritesThem) {
  json meta = json::parse(R"({"http":{"path":"/mcp?x=1","method":"POST","status":200,
      "headers":{"host":"127.0.0.1:8080","set-cookie":["a=1","b=2"],"x-empty":""}},
      "batch":[{"id":1},{"id":"two","nested":[[],{},[null,true,1.5]]}],
      "_meta":{"progressToken":"t-1","weird key \"quoted\"":"v\u00e9"}})");
  meta["bytes"] = "not utf-8 \xff";
  EXPECT_EQ(base::json_text(meta), reference(meta));
  EXPECT_EQ(base::json_text(json::array()), "[]");
  EXPECT_EQ(base::json_text(json::object()), "{}");
}

TEST(JsonTextTest, InvalidUtf8BecomesTheReplacementCharacterInsteadOfThrowing) {
  EXPECT_EQ(base::json_text(json("a\xff"
                                 "b")),
            "\"a\xEF\xBF\xBD"
            "b\"");
  std::string out = "prefix:";
  base::append_json_text(json({{"k", "v"}}), out);
  EXPECT_EQ(out, "prefix:{\"k\":\"v\"}");
}

}  // namespace
}  // namespace mcptap::capture

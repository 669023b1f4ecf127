// Standard request headers (2026-07-28 "Request Metadata"): reading them from a head,
// the Base64 sentinel, and every way a header can disagree with its body.
#include "capture/standard_headers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/sha256.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

base::HttpHead head_with(std::vector<std::pair<std::string, std::string>> headers) {
  base::HttpHead head;
  head.method = "POST";
  head.target = "/mcp";
  head.headers = std::move(headers);
  return head;
}

OperationFacts facts_of(std::optional<std::string> name, std::string version = "2026-07-28") {
  OperationFacts facts;
  facts.name = std::move(name);
  facts.identity.protocol_version = std::move(version);
  return facts;
}

// A mismatch as the meta shows it, for compact expectations.
std::vector<json> meta_of(const std::vector<HeaderMismatch>& mismatches) {
  json meta = to_meta(mismatches);
  return std::vector<json>(meta.begin(), meta.end());
}

const ToolHeaderMap kNoTools;

TEST(StandardHeaders, DecodesTheSpecificationsSentinelExamples) {
  EXPECT_EQ(decode_header_value("us-west1"), "us-west1");
  EXPECT_EQ(decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?="), "Hello, 世界");
  EXPECT_EQ(decode_header_value("=?base64?IHBhZGRlZCA=?="), " padded ");
  EXPECT_EQ(decode_header_value("=?base64?bGluZTEKbGluZTI=?="), "line1\nline2");
  EXPECT_EQ(decode_header_value("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="), "=?base64?literal?=");
  EXPECT_EQ(decode_header_value("=?base64?SGk?="), "Hi");  // padding left out
  // The markers are case-sensitive: anything else is a plain value.
  EXPECT_EQ(decode_header_value("=?BASE64?SGk=?="), "=?BASE64?SGk=?=");
  EXPECT_EQ(decode_header_value("=?base64?not base64!?="), std::nullopt);
  EXPECT_EQ(decode_header_value("=?base64?S?="), std::nullopt);
}

TEST(StandardHeaders, NamesAreReadWhateverTheirCase) {
  StandardHeaders headers = read_standard_headers(head_with({{"Content-Type", "application/json"},
                                                             {"MCP-METHOD", "tools/call"},
                                                             {"mcp-name", " get_weather "},
                                                             {"Mcp-Protocol-Version", "2026-07-28"},
                                                             {"MCP-Param-Region", "us-west1"},
                                                             {"mcp-method", "ignored/second"}}));
  EXPECT_EQ(headers.method, "tools/call");
  EXPECT_EQ(headers.name, "get_weather");
  EXPECT_EQ(headers.protocol_version, "2026-07-28");
  ASSERT_EQ(headers.params.size(), 1u);
  EXPECT_EQ(headers.params[0], (std::pair<std::string, std::string>{"region", "us-west1"}));
  EXPECT_FALSE(headers.overflow);
  EXPECT_TRUE(read_standard_headers(head_with({{"Accept", "*/*"}})).empty());
}

TEST(StandardHeaders, LongValuesAndTooManyParamsOverflow) {
  StandardHeaders cut = read_standard_headers(
      head_with({{"Mcp-Name", std::string(kMaxStandardHeaderBytes + 10, 'n')}}));
  EXPECT_EQ(cut.name->size(), kMaxStandardHeaderBytes);
  EXPECT_TRUE(cut.overflow);

  std::vector<std::pair<std::string, std::string>> many;
  for (size_t i = 0; i < kMaxParamHeaders + 3; ++i) {
    many.emplace_back("Mcp-Param-P" + std::to_string(i), "v");
  }
  StandardHeaders crowded = read_standard_headers(head_with(many));
  EXPECT_EQ(crowded.params.size(), kMaxParamHeaders);
  EXPECT_TRUE(crowded.overflow);
}

TEST(StandardHeaders, TheSpecificationsExampleAgrees) {
  StandardHeaders headers = read_standard_headers(head_with({{"MCP-Protocol-Version", "2026-07-28"},
                                                             {"Mcp-Method", "tools/call"},
                                                             {"Mcp-Name", "get_weather"}}));
  EXPECT_TRUE(
      check_standard_headers(headers, "tools/call", facts_of("get_weather"), nullptr, kNoTools)
          .empty());
  StandardHeaders read =
      read_standard_headers(head_with({{"MCP-Protocol-Version", "2026-07-28"},
                                       {"Mcp-Method", "resources/read"},
                                       {"Mcp-Name", "file:///projects/myapp/config.json"}}));
  EXPECT_TRUE(check_standard_headers(read, "resources/read",
                                     facts_of("file:///projects/myapp/config.json"), nullptr,
                                     kNoTools)
                  .empty());
}

TEST(StandardHeaders, MissingMcpNameOnToolsCall) {
  StandardHeaders headers = read_standard_headers(
      head_with({{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/call"}}));
  auto mismatches =
      check_standard_headers(headers, "tools/call", facts_of("get_weather"), nullptr, kNoTools);
  EXPECT_EQ(meta_of(mismatches),
            std::vector<json>{json::parse(
                R"({"header":"mcp-name","reason":"missing","body_value":"get_weather"})")});
  // A method without a name needs none: only Mcp-Method differs here.
  EXPECT_EQ(check_standard_headers(headers, "tools/list", facts_of(std::nullopt), nullptr, kNoTools)
                .size(),
            1u);
}

TEST(StandardHeaders, ProtocolVersionIsComparedWithMeta) {
  StandardHeaders headers = read_standard_headers(
      head_with({{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "ping"}}));
  auto mismatches = check_standard_headers(headers, "ping", facts_of(std::nullopt, "2026-09-30"),
                                           nullptr, kNoTools);
  EXPECT_EQ(meta_of(mismatches),
            std::vector<json>{json::parse(R"({"header":"mcp-protocol-version","reason":"differs",
                "header_value":"2026-07-28","body_value":"2026-09-30"})")});

  // A 2026 body without the header.
  StandardHeaders no_version = read_standard_headers(head_with({{"Mcp-Method", "ping"}}));
  EXPECT_EQ(meta_of(check_standard_headers(no_version, "ping", facts_of(std::nullopt), nullptr,
                                           kNoTools)),
            std::vector<json>{json::parse(R"({"header":"mcp-protocol-version","reason":"missing",
                "body_value":"2026-07-28"})")});
}

TEST(StandardHeaders, MethodMustMatch) {
  StandardHeaders headers = read_standard_headers(head_with(
      {{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/list"}, {"Mcp-Name", "x"}}));
  EXPECT_EQ(
      meta_of(check_standard_headers(headers, "tools/call", facts_of("x"), nullptr, kNoTools)),
      std::vector<json>{json::parse(R"({"header":"mcp-method","reason":"differs",
                "header_value":"tools/list","body_value":"tools/call"})")});
  StandardHeaders lower = read_standard_headers(head_with(
      {{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "TOOLS/CALL"}, {"Mcp-Name", "x"}}));
  EXPECT_EQ(check_standard_headers(lower, "tools/call", facts_of("x"), nullptr, kNoTools).size(),
            1u)
      << "values are case-sensitive";
}

TEST(StandardHeaders, EncodedNamesAreDecodedBeforeComparing) {
  auto check_name = [](std::string value, std::string body) {
    StandardHeaders headers =
        read_standard_headers(head_with({{"MCP-Protocol-Version", "2026-07-28"},
                                         {"Mcp-Method", "prompts/get"},
                                         {"Mcp-Name", value}}));
    return meta_of(
        check_standard_headers(headers, "prompts/get", facts_of(body), nullptr, kNoTools));
  };
  EXPECT_TRUE(check_name("=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, 世界").empty());
  EXPECT_EQ(check_name("=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello")[0]["reason"], "differs");
  EXPECT_EQ(check_name("=?base64?%%%?=", "Hello")[0]["reason"], "undecodable");
  auto invalid = check_name("Hello, 世界", "Hello, 世界");
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_EQ(invalid[0]["reason"], "invalid_characters");
  EXPECT_EQ(check_name(std::string("a\x01") + "b", "a")[0]["reason"], "invalid_characters");
  // A value cut on reading cannot be judged.
  std::string long_name(kMaxStandardHeaderBytes + 100, 'x');
  EXPECT_TRUE(check_name(long_name, "sha256:" + std::string(64, '0')).empty());
}

std::string sha256_text(std::string_view value) {
  base::Sha256 hasher;
  hasher.update(value);
  return "sha256:" + hasher.finish_hex();
}

// A task id longer than the facts keep is kept as its digest; the header is compared so.
TEST(StandardHeaders, LongTaskIdsCompareThroughTheirDigest) {
  std::string task_id(kMaxTaskIdBytes + 44, 't');
  OperationFacts facts = facts_of(std::nullopt);
  facts.task_id = sha256_text(task_id);
  auto check = [&](std::string value) {
    StandardHeaders headers =
        read_standard_headers(head_with({{"MCP-Protocol-Version", "2026-07-28"},
                                         {"Mcp-Method", "tasks/get"},
                                         {"Mcp-Name", value}}));
    return check_standard_headers(headers, "tasks/get", facts, nullptr, kNoTools);
  };
  EXPECT_TRUE(check(task_id).empty());
  EXPECT_EQ(check(task_id + "u").size(), 1u);
}

TEST(StandardHeaders, TaskMethodsCarryTheTaskIdInMcpName) {
  OperationFacts facts = facts_of(std::nullopt);
  facts.task_id = "786512e2";
  StandardHeaders good = read_standard_headers(head_with({{"MCP-Protocol-Version", "2026-07-28"},
                                                          {"Mcp-Method", "tasks/get"},
                                                          {"Mcp-Name", "786512e2"}}));
  EXPECT_TRUE(check_standard_headers(good, "tasks/get", facts, nullptr, kNoTools).empty());
  StandardHeaders missing = read_standard_headers(
      head_with({{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tasks/cancel"}}));
  auto mismatches =
      meta_of(check_standard_headers(missing, "tasks/cancel", facts, nullptr, kNoTools));
  ASSERT_EQ(mismatches.size(), 1u);
  EXPECT_EQ(mismatches[0]["header"], "mcp-name");
  EXPECT_EQ(mismatches[0]["reason"], "missing");
}

TEST(StandardHeaders, RequestsBefore2026WithoutHeadersAreNotJudged) {
  OperationFacts old_facts = facts_of("get_weather", "");
  EXPECT_TRUE(check_standard_headers(StandardHeaders{}, "tools/call", old_facts, nullptr, kNoTools)
                  .empty());
  StandardHeaders old_version =
      read_standard_headers(head_with({{"MCP-Protocol-Version", "2025-06-18"}}));
  EXPECT_TRUE(
      check_standard_headers(old_version, "tools/call", old_facts, nullptr, kNoTools).empty());
  OperationFacts legacy = facts_of("get_weather", "2025-11-25");
  EXPECT_TRUE(check_standard_headers(old_version, "tools/call", legacy, nullptr, kNoTools).empty());
  // A 2026 body is judged even without any header.
  EXPECT_EQ(check_standard_headers(StandardHeaders{}, "tools/call", facts_of("get_weather"),
                                   nullptr, kNoTools)
                .size(),
            3u);
  // So is an older request that carries one of the headers.
  StandardHeaders with_method = read_standard_headers(head_with({{"Mcp-Method", "tools/call"}}));
  auto judged =
      meta_of(check_standard_headers(with_method, "tools/call", old_facts, nullptr, kNoTools));
  ASSERT_EQ(judged.size(), 2u);
  EXPECT_EQ(judged[0]["header"], "mcp-protocol-version");
  EXPECT_EQ(judged[1]["header"], "mcp-name");
}

const char* kToolsList = R"({"tools":[
  {"name":"execute_sql","inputSchema":{"type":"object","properties":{
     "region":{"type":"string","x-mcp-header":"Region"},
     "query":{"type":"string"},
     "options":{"type":"object","properties":{
        "limit":{"type":"integer","x-mcp-header":"Limit"},
        "dry_run":{"type":"boolean","x-mcp-header":"Dry-Run"}}},
     "rows":{"type":"array","items":{"type":"object","properties":{
        "id":{"type":"integer","x-mcp-header":"Row"}}}}}}},
  {"name":"plain","inputSchema":{"type":"object","properties":{"q":{"type":"string"}}}},
  {"name":"invalid","inputSchema":{"type":"object","properties":{
     "a":{"type":"string","x-mcp-header":"Same"},"b":{"type":"string","x-mcp-header":"same"}}}}
]})";

json sql_call(json arguments) {
  return {{"jsonrpc", "2.0"},
          {"id", 1},
          {"method", "tools/call"},
          {"params", {{"name", "execute_sql"}, {"arguments", std::move(arguments)}}}};
}

std::vector<json> check_sql(const ToolHeaderMap& tools, const json& request,
                            std::vector<std::pair<std::string, std::string>> params) {
  std::vector<std::pair<std::string, std::string>> all = {{"MCP-Protocol-Version", "2026-07-28"},
                                                          {"Mcp-Method", "tools/call"},
                                                          {"Mcp-Name", "execute_sql"}};
  all.insert(all.end(), params.begin(), params.end());
  return meta_of(check_standard_headers(read_standard_headers(head_with(all)), "tools/call",
                                        facts_of("execute_sql"), &request, tools));
}

TEST(StandardHeaders, ToolHeaderMapLearnsPropertiesChainsOnly) {
  ToolHeaderMap tools;
  tools.learn(json::parse(kToolsList));
  EXPECT_EQ(tools.tools(), 1u);  // "plain" has nothing to mirror, "invalid" repeats a name
  const auto* map = tools.find("execute_sql");
  ASSERT_NE(map, nullptr);
  ASSERT_EQ(map->size(), 3u);  // in the order nlohmann::json keeps keys: sorted
  EXPECT_EQ((*map)[0].header_name, "dry-run");
  EXPECT_EQ((*map)[0].path, (std::vector<std::string>{"options", "dry_run"}));
  EXPECT_EQ((*map)[1].header_name, "limit");
  EXPECT_EQ((*map)[1].path, (std::vector<std::string>{"options", "limit"}));
  EXPECT_EQ((*map)[2].header_name, "region");
  EXPECT_EQ((*map)[2].path, std::vector<std::string>{"region"});
  EXPECT_EQ(tools.find("plain"), nullptr);
  EXPECT_GT(tools.bytes(), 0u);
  // A new definition replaces the old one.
  tools.learn(json::parse(R"({"tools":[{"name":"execute_sql","inputSchema":{"properties":{
      "region":{"type":"string","x-mcp-header":"Zone"}}}}]})"));
  ASSERT_EQ(tools.find("execute_sql")->size(), 1u);
  EXPECT_EQ(tools.find("execute_sql")->at(0).header_name, "zone");
}

TEST(StandardHeaders, ToolHeaderMapIsBounded) {
  ToolHeaderMap tools;
  json list = {{"tools", json::array()}};
  for (size_t i = 0; i < ToolHeaderMap::kMaxTools + 10; ++i) {
    list["tools"].push_back(
        {{"name", "tool-" + std::to_string(i)},
         {"inputSchema", {{"properties", {{"r", {{"type", "string"}, {"x-mcp-header", "R"}}}}}}}});
  }
  tools.learn(list);
  EXPECT_EQ(tools.tools(), ToolHeaderMap::kMaxTools);
  EXPECT_EQ(tools.find("tool-0"), nullptr);
  EXPECT_NE(tools.find("tool-" + std::to_string(ToolHeaderMap::kMaxTools + 9)), nullptr);
}

// Schemas come from the wire: long property names are not followed and the map's bytes
// stay bounded whatever the tools' count.
TEST(StandardHeaders, ToolHeaderMapBytesAreBounded) {
  ToolHeaderMap tools;
  json list = {{"tools", json::array()}};
  for (size_t i = 0; i < ToolHeaderMap::kMaxTools; ++i) {
    json properties = json::object();
    for (int p = 0; p < 16; ++p) {
      properties[std::to_string(p) + std::string(250, 'k')] = {
          {"type", "string"}, {"x-mcp-header", "H" + std::to_string(p)}};
    }
    properties[std::string(300, 'x')] = {{"type", "string"}, {"x-mcp-header", "Long"}};
    list["tools"].push_back({{"name", "tool-" + std::to_string(i)},
                             {"inputSchema", {{"properties", std::move(properties)}}}});
  }
  tools.learn(list);
  EXPECT_LE(tools.bytes(), size_t{4} << 20);
  EXPECT_LT(tools.tools(), ToolHeaderMap::kMaxTools);
  const auto* newest = tools.find("tool-" + std::to_string(ToolHeaderMap::kMaxTools - 1));
  ASSERT_NE(newest, nullptr);
  EXPECT_EQ(newest->size(), 16u);  // the 300-byte property is not kept
}

TEST(StandardHeaders, ParamHeadersMirrorTheArgumentsTheToolNames) {
  ToolHeaderMap tools;
  tools.learn(json::parse(kToolsList));
  json call = sql_call({{"region", "us-west1"},
                        {"query", "SELECT 1"},
                        {"options", {{"limit", 42}, {"dry_run", true}}}});
  EXPECT_TRUE(check_sql(tools, call,
                        {{"Mcp-Param-Region", "us-west1"},
                         {"Mcp-Param-Limit", "42.0"},  // integers compare numerically
                         {"mcp-param-dry-run", "true"}})
                  .empty());
  auto wrong = check_sql(
      tools, call,
      {{"Mcp-Param-Limit", "43"}, {"Mcp-Param-Dry-Run", "True"}, {"Mcp-Param-Unknown", "ignored"}});
  ASSERT_EQ(wrong.size(), 3u);
  EXPECT_EQ(wrong[0], json::parse(R"({"header":"mcp-param-dry-run","reason":"differs",
      "header_value":"True","body_value":"true"})"));
  EXPECT_EQ(wrong[1], json::parse(R"({"header":"mcp-param-limit","reason":"differs",
      "header_value":"43","body_value":"42"})"));
  EXPECT_EQ(wrong[2], json::parse(R"({"header":"mcp-param-region","reason":"missing",
      "body_value":"us-west1"})"));

  // Encoded values decode first; an absent (or null) argument needs no header.
  json greeting = sql_call({{"region", " padded "}, {"options", {{"limit", nullptr}}}});
  EXPECT_TRUE(
      check_sql(tools, greeting, {{"Mcp-Param-Region", "=?base64?IHBhZGRlZCA=?="}}).empty());
  EXPECT_EQ(check_sql(tools, greeting, {{"Mcp-Param-Region", "=?base64?@@?="}})[0]["reason"],
            "undecodable");
  // The header's own padding is trimmed (HTTP's optional whitespace), so it differs; a
  // header for an absent argument differs too.
  auto padded =
      check_sql(tools, greeting, {{"Mcp-Param-Region", " padded "}, {"Mcp-Param-Limit", "1"}});
  ASSERT_EQ(padded.size(), 2u);
  EXPECT_EQ(padded[0], json::parse(R"({"header":"mcp-param-limit","reason":"differs",
      "header_value":"1"})"));
  EXPECT_EQ(padded[1]["header"], "mcp-param-region");

  // Without the request, or for a tool never listed, params are not judged.
  StandardHeaders headers = read_standard_headers(head_with({{"MCP-Protocol-Version", "2026-07-28"},
                                                             {"Mcp-Method", "tools/call"},
                                                             {"Mcp-Name", "execute_sql"}}));
  EXPECT_TRUE(check_standard_headers(headers, "tools/call", facts_of("execute_sql"), nullptr, tools)
                  .empty());
  EXPECT_TRUE(
      check_standard_headers(headers, "tools/call", facts_of("execute_sql"), &call, kNoTools)
          .empty());
}

TEST(StandardHeaders, MismatchValuesAreCut) {
  std::string long_name(600, 'y');
  StandardHeaders headers = read_standard_headers(head_with({{"MCP-Protocol-Version", "2026-07-28"},
                                                             {"Mcp-Method", "tools/call"},
                                                             {"Mcp-Name", long_name}}));
  auto mismatches = check_standard_headers(headers, "tools/call", facts_of(std::string(500, 'z')),
                                           nullptr, kNoTools);
  ASSERT_EQ(mismatches.size(), 1u);
  EXPECT_EQ(mismatches[0].header_value->size(), 256u);
  EXPECT_EQ(mismatches[0].body_value->size(), 256u);
}

}  // namespace
}  // namespace mcptap::capture

// MCP's standard request headers (2026-07-28 Streamable HTTP, "Request Metadata"): the
// Mcp-Method, Mcp-Name, Mcp-Param-* and MCP-Protocol-Version a client copies out of the body
// so that gateways can route without parsing it. A header that disagrees with the body is
// what servers reject with -32020 HeaderMismatch; mcptap records the disagreement and still
// forwards the bytes as they are.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/http_message_parser.h"
#include "capture/operation_facts.h"

namespace mcptap::capture {

constexpr size_t kMaxStandardHeaderBytes = 1024;  // longer values are cut and marked
constexpr size_t kMaxParamHeaders = 16;           // Mcp-Param-* kept per request

// The raw values, taken from the request head before any redaction.
struct StandardHeaders {
  std::optional<std::string> method;            // Mcp-Method
  std::optional<std::string> name;              // Mcp-Name
  std::optional<std::string> protocol_version;  // MCP-Protocol-Version
  // Mcp-Param-{Name}: Name lower-cased (header names are case-insensitive), raw value.
  std::vector<std::pair<std::string, std::string>> params;
  bool overflow = false;  // more Mcp-Param-* than kMaxParamHeaders, or a value cut
  bool empty() const { return !method && !name && !protocol_version && params.empty(); }
};

StandardHeaders read_standard_headers(const base::HttpHead& head);

// One disagreement between a header and the body.
struct HeaderMismatch {
  std::string header;  // lower-case name: "mcp-name", "mcp-param-region", ...
  std::string reason;  // "differs", "missing", "undecodable", "invalid_characters"
  std::optional<std::string> header_value;  // as sent (cut to 256 bytes)
  std::optional<std::string> body_value;    // what the body says (cut to 256 bytes)
};
nlohmann::json to_meta(const std::vector<HeaderMismatch>& mismatches);

// Which tool arguments a client must mirror into Mcp-Param-* headers: the properties of a
// tool's inputSchema marked "x-mcp-header", learned from tools/list answers. Bounded: at
// most kMaxTools tools (the oldest learned is forgotten first).
class ToolHeaderMap {
 public:
  static constexpr size_t kMaxTools = 1024;
  struct ParamHeader {
    std::string header_name;        // lower-cased {Name} of Mcp-Param-{Name}
    std::vector<std::string> path;  // property names from arguments down to the value
  };
  // Learns from the result of a tools/list answer (replaces what a tool had).
  void learn(const nlohmann::json& tools_list_result);
  const std::vector<ParamHeader>* find(std::string_view tool) const;
  size_t tools() const;
  size_t bytes() const;

 private:
  std::vector<std::pair<std::string, std::vector<ParamHeader>>> tools_;  // oldest first
  size_t bytes_ = 0;
};

// Compares the headers of one request with its body. `request` is the whole request
// document when Mcp-Param-* headers need the arguments (null: those are not judged);
// `tools` says which arguments a tool mirrors. Requests of revisions before 2026-07-28
// that carry none of the headers are not judged. Returns nothing when all agree.
std::vector<HeaderMismatch> check_standard_headers(const StandardHeaders& headers,
                                                   std::string_view method,
                                                   const OperationFacts& facts,
                                                   const nlohmann::json* request,
                                                   const ToolHeaderMap& tools);

// Decodes a header value sent as =?base64?{Base64 of UTF-8}?=; other values come back as
// they are. nullopt: the sentinel is there but its content does not decode.
std::optional<std::string> decode_header_value(std::string_view value);

}  // namespace mcptap::capture

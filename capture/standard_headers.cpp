// Reading MCP's standard request headers and judging them against the body, as a server
// validating them would (2026-07-28 Streamable HTTP, "Request Metadata").
#include "capture/standard_headers.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "base/ascii_case.h"
#include "base/text.h"

namespace mcptap::capture {
namespace {

constexpr std::string_view kMethodHeader = "mcp-method";
constexpr std::string_view kNameHeader = "mcp-name";
constexpr std::string_view kVersionHeader = "mcp-protocol-version";
constexpr std::string_view kParamPrefix = "mcp-param-";
constexpr std::string_view kSentinelPrefix = "=?base64?";
constexpr std::string_view kSentinelSuffix = "?=";
// The first revision whose requests carry the headers.
constexpr std::string_view kHeaderRevision = "2026-07-28";
constexpr size_t kMaxMismatchValueBytes = 256;
constexpr size_t kMaxSchemaDepth = 8;  // properties chains followed for x-mcp-header
// Tool schemas come from the wire: property names and header names past these are not
// kept, and the whole map stays under kMaxToolMapBytes (the oldest tools go first).
constexpr size_t kMaxPropertyNameBytes = 256;
constexpr size_t kMaxHeaderNameBytes = 128;
constexpr size_t kMaxToolMapBytes = size_t{4} << 20;

// Cut to kMaxMismatchValueBytes without splitting a UTF-8 sequence.
std::string cut_value(std::string_view value) {
  if (value.size() <= kMaxMismatchValueBytes) return std::string(value);
  size_t end = kMaxMismatchValueBytes;
  while (end > 0 && (static_cast<uint8_t>(value[end]) & 0xC0) == 0x80) --end;
  return std::string(value.substr(0, end));
}

void add(std::vector<HeaderMismatch>& out, std::string header, std::string reason,
         std::optional<std::string_view> header_value, std::optional<std::string_view> body_value) {
  HeaderMismatch mismatch{std::move(header), std::move(reason), std::nullopt, std::nullopt};
  if (header_value) mismatch.header_value = cut_value(*header_value);
  if (body_value) mismatch.body_value = cut_value(*body_value);
  out.push_back(std::move(mismatch));
}

// RFC 9110 field values: visible ASCII, space and horizontal tab.
bool valid_field_value(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    auto byte = static_cast<uint8_t>(c);
    return byte == '\t' || (byte >= 0x20 && byte <= 0x7E);
  });
}

// RFC 9110 tchar, for x-mcp-header names.
bool valid_token(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// A protocol revision is a date: YYYY-MM-DD compares as text.
bool is_revision(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return true;
}

bool at_least_header_revision(const std::optional<std::string>& version) {
  return version && is_revision(*version) && *version >= kHeaderRevision;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard Base64; the padding may be left out, but nothing may follow it.
std::optional<std::string> decode_base64(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t bits = 0;
  int held = 0;
  for (char c : text) {
    int value = base64_value(c);
    if (value < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(value);
    held += 6;
    if (held >= 8) {
      held -= 8;
      out.push_back(static_cast<char>((bits >> held) & 0xFF));
    }
  }
  return out;
}

// A header cut at kMaxStandardHeaderBytes says nothing reliable about the body.
bool was_cut(const StandardHeaders& headers, std::string_view raw) {
  return headers.overflow && raw.size() >= kMaxStandardHeaderBytes;
}

// Compares a header that may use the Base64 sentinel with a body string the facts kept
// (itself a digest when longer than `kept_limit`).
void compare_encoded(const StandardHeaders& headers, std::string_view header_name,
                     std::string_view raw, const std::optional<std::string>& body,
                     size_t kept_limit, std::vector<HeaderMismatch>& out) {
  if (!valid_field_value(raw)) {
    add(out, std::string(header_name), "invalid_characters", raw, body);
    return;
  }
  std::optional<std::string> decoded = decode_header_value(raw);
  if (!decoded) {
    add(out, std::string(header_name), "undecodable", raw, body);
    return;
  }
  if (was_cut(headers, raw)) return;
  std::string comparable = digest_if_longer(*decoded, kept_limit);
  if (!body || comparable != *body) add(out, std::string(header_name), "differs", raw, body);
}

// The value at a chain of property names under params.arguments; null when absent.
const nlohmann::json* argument_at(const nlohmann::json& request,
                                  const std::vector<std::string>& path) {
  auto params = request.find("params");
  if (params == request.end() || !params->is_object()) return nullptr;
  auto arguments = params->find("arguments");
  if (arguments == params->end()) return nullptr;
  const nlohmann::json* value = &*arguments;
  for (const std::string& key : path) {
    if (!value->is_object()) return nullptr;
    auto next = value->find(key);
    if (next == value->end()) return nullptr;
    value = &*next;
  }
  return value->is_null() ? nullptr : value;
}

std::optional<double> parse_number(const std::string& text) {
  if (text.empty() || base::trim(text).size() != text.size()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// How the body value reads in a header: strings as they are, integers in decimal,
// booleans as true/false. Numbers compare numerically ("42.0" is 42).
bool header_matches(const std::string& header, const nlohmann::json& body) {
  if (body.is_string()) return header == body.get_ref<const std::string&>();
  if (body.is_boolean()) return header == (body.get<bool>() ? "true" : "false");
  if (body.is_number()) {
    std::optional<double> number = parse_number(header);
    return number && *number == body.get<double>();
  }
  return true;  // not a primitive: x-mcp-header does not apply, nothing to judge
}

std::string body_text(const nlohmann::json& body) {
  if (body.is_string()) return body.get<std::string>();
  return body.dump();
}

void check_params(const StandardHeaders& headers,
                  const std::vector<ToolHeaderMap::ParamHeader>& map, const nlohmann::json& request,
                  std::vector<HeaderMismatch>& out) {
  for (const ToolHeaderMap::ParamHeader& param : map) {
    std::string header_name = std::string(kParamPrefix) + param.header_name;
    auto sent = std::find_if(headers.params.begin(), headers.params.end(),
                             [&](const auto& kept) { return kept.first == param.header_name; });
    const nlohmann::json* body = argument_at(request, param.path);
    if (sent == headers.params.end()) {
      // With headers left out for overflow, absence proves nothing.
      bool all_kept = !(headers.overflow && headers.params.size() >= kMaxParamHeaders);
      if (body && all_kept) add(out, header_name, "missing", std::nullopt, body_text(*body));
      continue;
    }
    const std::string& raw = sent->second;
    std::optional<std::string> shown;
    if (body) shown = body_text(*body);
    if (!valid_field_value(raw)) {
      add(out, header_name, "invalid_characters", raw, shown);
      continue;
    }
    std::optional<std::string> decoded = decode_header_value(raw);
    if (!decoded) {
      add(out, header_name, "undecodable", raw, shown);
      continue;
    }
    if (was_cut(headers, raw)) continue;
    if (!body || !header_matches(*decoded, *body)) add(out, header_name, "differs", raw, shown);
  }
}

// Mcp-Name's body value: the name or uri, or the task id of the tasks extension's methods.
std::optional<std::pair<const std::optional<std::string>*, size_t>> name_source(
    std::string_view method, const OperationFacts& facts) {
  if (method == "tools/call" || method == "prompts/get" || method == "resources/read") {
    return std::make_pair(&facts.name, kMaxOperationNameBytes);
  }
  if (method == "tasks/get" || method == "tasks/update" || method == "tasks/cancel") {
    return std::make_pair(&facts.task_id, kMaxTaskIdBytes);
  }
  return std::nullopt;
}

void collect_param_headers(const nlohmann::json& schema, std::vector<std::string>& path,
                           std::vector<ToolHeaderMap::ParamHeader>& out, bool& valid) {
  auto properties = schema.find("properties");
  if (properties == schema.end() || !properties->is_object()) return;
  for (auto property = properties->begin(); property != properties->end(); ++property) {
    if (!property->is_object() || property.key().size() > kMaxPropertyNameBytes) continue;
    path.push_back(property.key());
    auto header = property->find("x-mcp-header");
    if (header != property->end()) {
      if (!header->is_string() || !valid_token(header->get_ref<const std::string&>())) {
        valid = false;
      } else {
        std::string name = base::lowercase_ascii(header->get<std::string>());
        bool repeated = std::any_of(out.begin(), out.end(),
                                    [&](const auto& known) { return known.header_name == name; });
        if (repeated || out.size() >= kMaxParamHeaders) valid = false;
        if (valid && name.size() <= kMaxHeaderNameBytes) out.push_back({std::move(name), path});
      }
    }
    if (path.size() < kMaxSchemaDepth) collect_param_headers(*property, path, out, valid);
    path.pop_back();
  }
}

size_t entry_bytes(const std::string& tool, const std::vector<ToolHeaderMap::ParamHeader>& map) {
  size_t bytes = sizeof(std::pair<std::string, std::vector<ToolHeaderMap::ParamHeader>>) +
                 tool.size() + map.size() * sizeof(ToolHeaderMap::ParamHeader);
  for (const ToolHeaderMap::ParamHeader& param : map) {
    bytes += param.header_name.size() + param.path.size() * sizeof(std::string);
    for (const std::string& key : param.path) bytes += key.size();
  }
  return bytes;
}

}  // namespace

StandardHeaders read_standard_headers(const base::HttpHead& head) {
  StandardHeaders headers;
  auto keep = [&](std::string_view value) {
    value = base::trim(value);
    if (value.size() > kMaxStandardHeaderBytes) {
      headers.overflow = true;
      value = value.substr(0, kMaxStandardHeaderBytes);
    }
    return std::string(value);
  };
  for (const auto& [name, value] : head.headers) {
    // The first of a repeated header is the one judged, as a server reading one value would.
    if (base::equals_folded(name, kMethodHeader)) {
      if (!headers.method) headers.method = keep(value);
    } else if (base::equals_folded(name, kNameHeader)) {
      if (!headers.name) headers.name = keep(value);
    } else if (base::equals_folded(name, kVersionHeader)) {
      if (!headers.protocol_version) headers.protocol_version = keep(value);
    } else if (base::starts_with_folded(name, kParamPrefix) && name.size() > kParamPrefix.size()) {
      std::string param = base::lowercase_ascii(name.substr(kParamPrefix.size()));
      bool seen = std::any_of(headers.params.begin(), headers.params.end(),
                              [&](const auto& kept) { return kept.first == param; });
      if (seen) continue;
      if (headers.params.size() >= kMaxParamHeaders) {
        headers.overflow = true;
        continue;
      }
      headers.params.emplace_back(std::move(param), keep(value));
    }
  }
  return headers;
}

nlohmann::json to_meta(const std::vector<HeaderMismatch>& mismatches) {
  nlohmann::json out = nlohmann::json::array();
  for (const HeaderMismatch& mismatch : mismatches) {
    nlohmann::json item = {{"header", mismatch.header}, {"reason", mismatch.reason}};
    if (mismatch.header_value) item["header_value"] = *mismatch.header_value;
    if (mismatch.body_value) item["body_value"] = *mismatch.body_value;
    out.push_back(std::move(item));
  }
  return out;
}

void ToolHeaderMap::learn(const nlohmann::json& tools_list_result) {
  if (!tools_list_result.is_object()) return;
  auto tools = tools_list_result.find("tools");
  if (tools == tools_list_result.end() || !tools->is_array()) return;
  for (const nlohmann::json& tool : *tools) {
    if (!tool.is_object()) continue;
    auto name = tool.find("name");
    if (name == tool.end() || !name->is_string()) continue;
    // Named as the facts name it, so that a long name still finds its entry.
    const std::string& sent_name = name->get_ref<const std::string&>();
    std::string tool_name = bounded_operation_name(sent_name);
    auto known = std::find_if(tools_.begin(), tools_.end(),
                              [&](const auto& entry) { return entry.first == tool_name; });
    if (known != tools_.end()) {
      bytes_ -= entry_bytes(known->first, known->second);
      tools_.erase(known);
    }
    std::vector<ParamHeader> map;
    std::vector<std::string> path;
    bool valid = true;
    auto schema = tool.find("inputSchema");
    if (schema != tool.end() && schema->is_object())
      collect_param_headers(*schema, path, map, valid);
    // A tool with an invalid annotation is one clients must not call; one without any has
    // nothing to judge. Neither is kept.
    if (!valid || map.empty()) continue;
    size_t bytes = entry_bytes(tool_name, map);
    while (!tools_.empty() && (tools_.size() >= kMaxTools || bytes_ + bytes > kMaxToolMapBytes)) {
      bytes_ -= entry_bytes(tools_.front().first, tools_.front().second);
      tools_.erase(tools_.begin());
    }
    bytes_ += bytes;
    tools_.emplace_back(std::move(tool_name), std::move(map));
  }
}

const std::vector<ToolHeaderMap::ParamHeader>* ToolHeaderMap::find(std::string_view tool) const {
  for (const auto& [name, map] : tools_) {
    if (name == tool) return &map;
  }
  return nullptr;
}

size_t ToolHeaderMap::tools() const {
  return tools_.size();
}

size_t ToolHeaderMap::bytes() const {
  return bytes_;
}

std::vector<HeaderMismatch> check_standard_headers(const StandardHeaders& headers,
                                                   std::string_view method,
                                                   const OperationFacts& facts,
                                                   const nlohmann::json* request,
                                                   const ToolHeaderMap& tools) {
  std::vector<HeaderMismatch> out;
  const std::string& body_version = facts.identity.protocol_version;
  bool judged = at_least_header_revision(headers.protocol_version) ||
                (is_revision(body_version) && body_version >= kHeaderRevision) || headers.method ||
                headers.name || !headers.params.empty();
  if (!judged) return out;

  std::optional<std::string> shown_version;
  if (!body_version.empty()) shown_version = body_version;
  if (!headers.protocol_version) {
    add(out, std::string(kVersionHeader), "missing", std::nullopt, shown_version);
  } else if (!valid_field_value(*headers.protocol_version)) {
    add(out, std::string(kVersionHeader), "invalid_characters", *headers.protocol_version,
        shown_version);
  } else if (!body_version.empty() && *headers.protocol_version != body_version) {
    add(out, std::string(kVersionHeader), "differs", *headers.protocol_version, shown_version);
  }

  if (!headers.method) {
    add(out, std::string(kMethodHeader), "missing", std::nullopt, method);
  } else if (!valid_field_value(*headers.method)) {
    add(out, std::string(kMethodHeader), "invalid_characters", *headers.method, method);
  } else if (*headers.method != method) {
    add(out, std::string(kMethodHeader), "differs", *headers.method, method);
  }

  if (auto source = name_source(method, facts)) {
    const std::optional<std::string>& body = *source->first;
    if (!headers.name) {
      add(out, std::string(kNameHeader), "missing", std::nullopt, body);
    } else {
      compare_encoded(headers, kNameHeader, *headers.name, body, source->second, out);
    }
  }

  if (request && method == "tools/call" && facts.name) {
    if (const std::vector<ToolHeaderMap::ParamHeader>* map = tools.find(*facts.name)) {
      check_params(headers, *map, *request, out);
    }
  }
  return out;
}

std::optional<std::string> decode_header_value(std::string_view value) {
  if (value.size() < kSentinelPrefix.size() + kSentinelSuffix.size() ||
      value.substr(0, kSentinelPrefix.size()) != kSentinelPrefix ||
      value.substr(value.size() - kSentinelSuffix.size()) != kSentinelSuffix) {
    return std::string(value);
  }
  return decode_base64(value.substr(
      kSentinelPrefix.size(), value.size() - kSentinelPrefix.size() - kSentinelSuffix.size()));
}

}  // namespace mcptap::capture

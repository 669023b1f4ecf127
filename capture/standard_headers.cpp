// Placeholder until the checks land: headers are read as absent and never judged.
#include "capture/standard_headers.h"

namespace mcptap::capture {

StandardHeaders read_standard_headers(const base::HttpHead&) {
  return {};
}
nlohmann::json to_meta(const std::vector<HeaderMismatch>&) {
  return nlohmann::json::array();
}
void ToolHeaderMap::learn(const nlohmann::json&) {}
const std::vector<ToolHeaderMap::ParamHeader>* ToolHeaderMap::find(std::string_view) const {
  return nullptr;
}
size_t ToolHeaderMap::tools() const {
  return tools_.size();
}
size_t ToolHeaderMap::bytes() const {
  return bytes_;
}
std::vector<HeaderMismatch> check_standard_headers(const StandardHeaders&, std::string_view,
                                                   const OperationFacts&, const nlohmann::json*,
                                                   const ToolHeaderMap&) {
  return {};
}
std::optional<std::string> decode_header_value(std::string_view value) {
  return std::string(value);
}

}  // namespace mcptap::capture

// Placeholder until the extraction lands: no facts.
#include "capture/operation_facts.h"

namespace mcptap::capture {

OperationFacts extract_operation_facts(const nlohmann::json&) {
  return {};
}

std::string_view error_code_name(int64_t, bool) {
  return {};
}

}  // namespace mcptap::capture

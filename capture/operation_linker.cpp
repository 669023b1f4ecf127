// Placeholder until the linker lands: nothing is linked.
#include "capture/operation_linker.h"

namespace mcptap::capture {

struct OperationLinker::State {
  OperationStats stats;
};

std::string_view to_string(OperationLink) {
  return {};
}
nlohmann::json to_meta(const OperationSummary&) {
  return nlohmann::json::object();
}
std::string_view to_string(OperationEviction) {
  return {};
}
std::string_view to_string(Unlinked) {
  return {};
}

OperationLinker::OperationLinker(OperationLimits) : state_(std::make_unique<State>()) {}
OperationLinker::~OperationLinker() = default;
LinkedOperation OperationLinker::link_request(const OperationRequest&) {
  return {};
}
void OperationLinker::on_request(const base::Uuid&, const OperationRequest&) {}
std::optional<OperationSummary> OperationLinker::on_answer(const OperationAnswer&) {
  return std::nullopt;
}
LinkedOperation OperationLinker::link_notification(std::string_view, const OperationFacts&,
                                                   const base::Uuid*) {
  return {};
}
void OperationLinker::end_stream(const base::Uuid&) {}
void OperationLinker::forget_session(std::string_view) {}
const OperationStats& OperationLinker::stats() const {
  return state_->stats;
}

}  // namespace mcptap::capture

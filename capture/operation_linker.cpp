// The linking rules: which later exchange continues which operation (a retry by its
// requestState or by a unique match, a task poll by its task id, a notification by its
// subscription), and which answer ends one. What they remember is in OperationTable.
#include "capture/operation_linker.h"

#include <memory>
#include <string>
#include <utility>

#include "capture/operation_table.h"

namespace mcptap::capture {
namespace {

using Node = OperationTable::Node;
using Operation = OperationTable::Operation;

constexpr std::string_view kListenMethod = "subscriptions/listen";
constexpr std::string_view kTaskResultMethod = "tasks/result";
constexpr std::string_view kTaskCancelMethod = "tasks/cancel";
constexpr std::string_view kTaskGetMethod = "tasks/get";

bool is_multi_round_trip_method(std::string_view method) {
  return method == "tools/call" || method == "prompts/get" || method == "resources/read";
}

// Task methods that name one task (tasks/list names none: it is not linked).
bool is_task_method(std::string_view method) {
  return method == kTaskGetMethod || method == "tasks/update" || method == kTaskCancelMethod ||
         method == kTaskResultMethod;
}

bool is_terminal_task_status(std::string_view status) {
  return status == "completed" || status == "failed" || status == "cancelled";
}

// Whether this answer ends its operation: a complete answer or an error to a multi
// round-trip request; for a task, its outcome (tasks/result in 2025-11-25, the terminal
// tasks/get state of the 2026 extension, a failure or cancellation in either).
bool final_answer(const Operation& op, const OperationAnswer& answer) {
  std::string_view method = answer.request_method;
  if (method == kListenMethod) return true;
  if (!op.is_task) {
    if (!is_multi_round_trip_method(method)) return false;
    return answer.is_error || !answer.facts.result_type || *answer.facts.result_type == "complete";
  }
  if (method == kTaskResultMethod || method == kTaskCancelMethod) return true;
  if (method != kTaskGetMethod || answer.is_error || !answer.facts.task_status) return false;
  const std::string& status = *answer.facts.task_status;
  if (!is_terminal_task_status(status)) return false;
  return status != "completed" || !op.task_result_expected;
}

}  // namespace

std::string_view to_string(OperationLink link) {
  switch (link) {
    case OperationLink::None:
      return "";
    case OperationLink::RequestState:
      return "request_state";
    case OperationLink::Heuristic:
      return "heuristic";
    case OperationLink::Task:
      return "task";
    case OperationLink::Subscription:
      return "subscription";
  }
  return "";
}

std::string_view to_string(OperationEviction reason) {
  switch (reason) {
    case OperationEviction::Operations:
      return "operations";
    case OperationEviction::Bytes:
      return "bytes";
    case OperationEviction::Idle:
      return "idle";
  }
  return "";
}

std::string_view to_string(Unlinked reason) {
  switch (reason) {
    case Unlinked::AmbiguousRetry:
      return "ambiguous_retry";
    case Unlinked::UnknownSubscription:
      return "unknown_subscription";
    case Unlinked::SubscriptionMismatch:
      return "subscription_mismatch";
  }
  return "";
}

nlohmann::json to_meta(const OperationSummary& summary) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const InputAsked& input : summary.inputs) {
    inputs.push_back({{"key", input.key}, {"method", input.method}});
  }
  nlohmann::json meta = {{"round_trips", summary.round_trips},
                         {"elapsed_us", summary.elapsed_us},
                         {"inputs", std::move(inputs)}};
  if (summary.inputs_truncated) meta["inputs_truncated"] = true;
  return meta;
}

OperationLinker::OperationLinker(OperationLimits limits)
    : table_(std::make_unique<OperationTable>(limits)) {}
OperationLinker::~OperationLinker() = default;

LinkedOperation OperationLinker::link_request(const OperationRequest& request) {
  OperationTable& table = *table_;
  table.advance(request.at_us);
  const OperationFacts& facts = request.facts;
  if (facts.request_state_sha256) {
    std::optional<base::Uuid> found = table.find_by_state(*facts.request_state_sha256);
    if (found) return {*found, OperationLink::RequestState};
  }
  if (facts.task_id) {
    std::optional<base::Uuid> found = table.find_by_task(*facts.task_id);
    if (found) return {*found, OperationLink::Task};
  }
  if (!facts.request_state_sha256 && facts.has_input_responses &&
      is_multi_round_trip_method(request.method)) {
    return table.heuristic_link(request);
  }
  return {};
}

void OperationLinker::on_request(const base::Uuid& operation_id, const OperationRequest& request) {
  OperationTable& table = *table_;
  table.advance(request.at_us);
  const OperationFacts& facts = request.facts;
  const bool spans_exchanges = is_multi_round_trip_method(request.method) || facts.task_requested ||
                               is_task_method(request.method) || request.method == kListenMethod;
  Node* node = table.find(operation_id);
  if (!node) {
    // Other requests (one exchange each) and linking turned off keep nothing.
    if (!spans_exchanges || table.limits().max_operations == 0) return;
    node = &table.create(operation_id, request);
  }
  Operation& op = node->second;
  // A request the server sends during a task (related-task _meta) only keeps it alive.
  if (spans_exchanges) ++op.round_trips;
  table.touch(*node, request.at_us);
  if (facts.task_requested || request.method == kTaskResultMethod) {
    op.is_task = true;
    op.task_result_expected = true;
  }
  if (is_task_method(request.method)) {
    op.is_task = true;
    // A task created before capture began: its later polls group with this one.
    if (facts.task_id) table.add_task(*node, *facts.task_id, false);
  }
  if (request.method == kListenMethod && !request.id_text.empty()) {
    table.add_listen(*node, request.session_id, request.id_text);
  }
  table.refresh(*node);
  table.enforce_bounds(node);
}

std::optional<OperationSummary> OperationLinker::on_answer(const OperationAnswer& answer) {
  OperationTable& table = *table_;
  table.advance(answer.at_us);
  Node* node = table.find(answer.operation_id);
  if (!node) return std::nullopt;
  Operation& op = node->second;
  table.touch(*node, answer.at_us);
  const OperationFacts& facts = answer.facts;
  const bool input_required = !answer.is_error && facts.result_type == "input_required";
  if (!answer.is_error) {
    table.add_inputs(op, facts);
    if (input_required && facts.request_state_sha256) {
      table.add_state(*node, *facts.request_state_sha256);
    }
    if (facts.task_id) {
      // An answer to anything but a task method that names a task created it: 2026 answers
      // flat (resultType "task"), 2025-11-25 nests it in result.task.
      bool creates = answer.request_method.substr(0, 6) != "tasks/";
      table.add_task(*node, *facts.task_id, creates);
      if (creates) {
        op.is_task = true;
        if (facts.result_type != "task") op.task_result_expected = true;
      }
    }
  }
  if (input_required && is_multi_round_trip_method(answer.request_method) && !op.is_task) {
    table.await_input(*node, answer.at_us, facts.inputs);
  } else {
    table.stop_awaiting(*node);
  }
  std::optional<OperationSummary> summary;
  if (final_answer(op, answer)) {
    if (answer.request_method == kListenMethod) table.drop_listen(*node);
    if (!op.final_written && op.round_trips > 1) {
      summary = OperationSummary{op.round_trips, answer.at_us - op.first_request_us, op.inputs,
                                 op.inputs_truncated};
      op.final_written = true;
    }
    table.close(*node);
    if (!table.owns_index_entries(op)) {
      // Nothing can name it any more: keeping it would only crowd out live operations.
      table.erase(*node);
      return summary;
    }
  }
  table.refresh(*node);
  table.enforce_bounds(node);
  return summary;
}

LinkedOperation OperationLinker::link_notification(std::string_view session_id,
                                                   const OperationFacts& facts,
                                                   const base::Uuid* stream_operation) {
  OperationTable& table = *table_;
  if (facts.task_id) {
    if (std::optional<base::Uuid> found = table.find_by_task(*facts.task_id)) {
      base::Uuid id = *found;
      if (Node* node = table.find(id)) table.touch(*node, table.now_us());
      return {id, OperationLink::Task};
    }
  }
  if (facts.subscription_id) {
    if (stream_operation) {
      // The stream a notification came on is authoritative; a tag naming another
      // subscription is counted, not followed.
      if (Node* node = table.find(*stream_operation)) {
        if (node->second.listen_id != *facts.subscription_id) {
          table.count_unlinked(Unlinked::SubscriptionMismatch);
        }
        table.touch(*node, table.now_us());
      }
      return {*stream_operation, OperationLink::Subscription};
    }
    // Without a stream, only a listen of the same session can claim it.
    std::optional<base::Uuid> found = table.find_listen(session_id, *facts.subscription_id);
    if (!found) {
      table.count_unlinked(Unlinked::UnknownSubscription);
      return {};
    }
    base::Uuid id = *found;
    if (Node* node = table.find(id)) table.touch(*node, table.now_us());
    return {id, OperationLink::Subscription};
  }
  if (stream_operation) {
    if (Node* node = table.find(*stream_operation)) table.touch(*node, table.now_us());
    return {*stream_operation, OperationLink::None};
  }
  return {};
}

void OperationLinker::end_stream(const base::Uuid& operation_id) {
  OperationTable& table = *table_;
  Node* node = table.find(operation_id);
  if (!node || !node->second.listening) return;
  table.drop_listen(*node);
  table.close(*node);
  if (!table.owns_index_entries(node->second)) {
    table.erase(*node);
    return;
  }
  table.refresh(*node);
}

void OperationLinker::forget_session(std::string_view session_id) {
  OperationTable& table = *table_;
  std::vector<base::Uuid> ids = table.listens_of(session_id);  // a copy: drop_listen edits it
  for (const base::Uuid& id : ids) {
    if (Node* node = table.find(id)) {
      table.drop_listen(*node);
      table.refresh(*node);
    }
  }
}

const OperationStats& OperationLinker::stats() const {
  return table_->stats();
}

}  // namespace mcptap::capture

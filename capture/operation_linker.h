// Ties the exchanges of one logical MCP operation together, across the connections of a
// route: multi round-trip retries (by the requestState they echo, or by a unique match
// within a window), task polls (by task id) and subscription streams (by subscription id).
// Everything it keeps comes from the wire, so it is bounded by operations and bytes, and
// the least recently active operation is forgotten first.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "base/uuid.h"
#include "capture/operation_facts.h"

namespace mcptap::capture {

class OperationTable;

struct OperationLimits {
  size_t max_operations = 50000;
  size_t max_bytes = size_t{16} << 20;                // estimated memory
  int64_t idle_timeout_us = int64_t{3600} * 1000000;  // 0: never idle out
  int64_t retry_window_us = int64_t{300} * 1000000;   // heuristic retry window
};

// How a message was tied to an operation it did not start.
enum class OperationLink : uint8_t {
  None,          // it starts its own, or belongs to its request's (answers, progress)
  RequestState,  // a retry echoing the requestState of an interim answer
  Heuristic,     // a retry without requestState: same client, method and name, one candidate
  Task,          // names the task its operation created
  Subscription,  // a notification tagged with (or streamed on) a subscriptions/listen
};
std::string_view to_string(OperationLink link);  // "", "request_state", "heuristic", ...

struct LinkedOperation {
  std::optional<base::Uuid> operation_id;
  OperationLink link = OperationLink::None;
};

// A request as the linker sees it.
struct OperationRequest {
  std::string_view session_id;
  std::string_view id_text;  // JSON text of the id
  std::string_view method;
  std::string_view client_key;  // who asks: client name/version when known, else the session
  const OperationFacts& facts;
  int64_t at_us = 0;  // when its last byte passed (Unix microseconds)
};

// An answer (response or error) to a request of a known operation.
struct OperationAnswer {
  const base::Uuid& operation_id;
  std::string_view request_method;
  const OperationFacts& facts;
  bool is_error = false;
  int64_t at_us = 0;
};

// Written as meta.operation on the final answer of an operation of several requests.
struct OperationSummary {
  uint32_t round_trips = 0;        // requests of the operation, the final one included
  int64_t elapsed_us = 0;          // first request's last byte to the final answer's
  std::vector<InputAsked> inputs;  // every input asked along the way, once per key
  bool inputs_truncated = false;
};
nlohmann::json to_meta(const OperationSummary& summary);

enum class OperationEviction : uint8_t { Operations, Bytes, Idle };
constexpr size_t kOperationEvictionReasons = 3;
std::string_view to_string(OperationEviction reason);  // "operations", "bytes", "idle"

// Why a message that looked like part of an operation was left on its own.
enum class Unlinked : uint8_t {
  AmbiguousRetry,        // a retry without requestState matched several operations
  UnknownSubscription,   // a subscription id no listen of its session announced
  SubscriptionMismatch,  // a subscription id other than the listen stream it came on
};
constexpr size_t kUnlinkedReasons = 3;
std::string_view to_string(Unlinked reason);  // "ambiguous_retry", ...

struct OperationStats {
  size_t operations = 0;
  size_t bytes = 0;  // estimate
  std::array<uint64_t, kOperationEvictionReasons> evicted{};
  std::array<uint64_t, kUnlinkedReasons> unlinked{};
};

class OperationLinker {
 public:
  explicit OperationLinker(OperationLimits limits = {});
  ~OperationLinker();
  OperationLinker(const OperationLinker&) = delete;
  OperationLinker& operator=(const OperationLinker&) = delete;

  // The operation a request continues, if any: a retry echoing a known requestState, a
  // retry without one that matches exactly one operation awaiting input, a task method (or
  // a request carrying related-task _meta) naming a known task. None: it starts its own.
  LinkedOperation link_request(const OperationRequest& request);
  // Every request, after link_request, with the operation it belongs to (its correlation id
  // when it starts one). State is kept only for requests that may span several exchanges
  // (tools/call, prompts/get, resources/read, task requests, subscriptions/listen).
  void on_request(const base::Uuid& operation_id, const OperationRequest& request);
  // An answer to a request of an operation. Learns task ids and request states; returns
  // the summary when it is the final answer of an operation of more than one request.
  std::optional<OperationSummary> on_answer(const OperationAnswer& answer);
  // A notification no request claims: a task status naming a known task, or one tagged
  // with a subscription id. stream_operation is the operation of the HTTP request whose
  // response stream carried it (null on other transports).
  LinkedOperation link_notification(std::string_view session_id, const OperationFacts& facts,
                                    const base::Uuid* stream_operation);
  // A listen stream (or a whole session) ended: its subscription ids mean nothing now.
  void end_stream(const base::Uuid& operation_id);
  void forget_session(std::string_view session_id);

  const OperationStats& stats() const;

 private:
  std::unique_ptr<OperationTable> table_;
};

}  // namespace mcptap::capture

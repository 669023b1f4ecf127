// Per-route operation linking: one table of operations in use order, and the indexes that
// find an operation from what a later message names (a requestState digest, a task id, a
// listen's subscription id, a retry's client + method + name). Every index entry belongs to
// exactly one operation and is erased with it, so one bound covers everything.
#include "capture/operation_linker.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>

#include "base/sha256.h"
#include "base/text.h"

namespace mcptap::capture {
namespace {

// How much one operation may hold in each index. A server that keeps issuing fresh
// requestStates (or task ids) only ever links by its latest ones.
constexpr size_t kMaxStatesPerOperation = 4;
constexpr size_t kMaxTasksPerOperation = 4;
constexpr size_t kMaxListensPerSession = 64;
// Operations awaiting input under one (client, method, name). Past it a retry without
// requestState is always ambiguous: scanning stays bounded and nothing is mixed up.
constexpr size_t kMaxHeuristicCandidates = 16;
// Client keys and names longer than this are kept as their digest (they still compare).
constexpr size_t kMaxKeptTextBytes = 256;

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

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

struct UuidHash {
  // The last 8 bytes of a UUIDv7 are random; the first ones are a clock.
  size_t operator()(const base::Uuid& id) const {
    uint64_t bits = 0;
    std::memcpy(&bits, id.bytes.data() + 8, sizeof bits);
    return std::hash<uint64_t>{}(bits);
  }
};

// The first 128 bits of a requestState's SHA-256.
using Digest = std::array<uint8_t, 16>;

struct DigestHash {
  size_t operator()(const Digest& digest) const {
    uint64_t bits = 0;
    std::memcpy(&bits, digest.data(), sizeof bits);
    return static_cast<size_t>(bits);
  }
};

Digest digest_of(std::string_view sha256_hex) {
  Digest digest{};
  bool valid = sha256_hex.size() >= 2 * digest.size();
  for (size_t i = 0; valid && i < digest.size(); ++i) {
    int high = base::hex_value(sha256_hex[2 * i]);
    int low = base::hex_value(sha256_hex[2 * i + 1]);
    valid = high >= 0 && low >= 0;
    digest[i] = static_cast<uint8_t>(high * 16 + low);
  }
  if (valid) return digest;
  // Not the hex digest the facts promise: hash whatever it is, so it still compares.
  base::Sha256 hasher;
  hasher.update(sha256_hex);
  std::array<uint8_t, 32> full = hasher.finish();
  std::copy_n(full.begin(), digest.size(), digest.begin());
  return digest;
}

std::string kept_text(std::string_view text) {
  if (text.size() <= kMaxKeptTextBytes) return std::string(text);
  base::Sha256 hasher;
  hasher.update(text);
  return "sha256:" + hasher.finish_hex();
}

// A (session, id) pair as one key; the length prefix keeps every pair distinct.
std::string listen_key(std::string_view session_id, std::string_view id_text) {
  std::string key = std::to_string(session_id.size());
  key += ':';
  key += session_id;
  key += id_text;
  return key;
}

std::string heuristic_key(std::string_view client_key, std::string_view method,
                          std::string_view name) {
  std::string key = std::to_string(client_key.size());
  key += ':';
  key += client_key;
  key += std::to_string(method.size());
  key += ':';
  key += method;
  key += name;
  return key;
}

struct Operation;
using OperationNode = std::pair<const base::Uuid, Operation>;

// One logical operation: what its summary needs, and the index keys it owns.
struct Operation {
  OperationNode* used_before = nullptr;  // its neighbours in its use list
  OperationNode* used_after = nullptr;
  bool closed = false;         // its final answer came: first to go
  bool final_written = false;  // its summary was returned
  bool is_task = false;
  bool task_result_expected = false;  // 2025-11-25 task: tasks/result carries the outcome
  bool awaiting_input = false;        // listed under heuristic_key
  bool listening = false;             // listed under (listen_session, listen_id)
  bool inputs_truncated = false;
  uint32_t round_trips = 0;
  int64_t first_request_us = 0;
  int64_t last_active_us = 0;
  int64_t awaiting_since_us = 0;
  std::string method;
  std::string name;
  std::string client_key;
  std::vector<InputAsked> inputs;       // every input asked, once per key
  std::vector<std::string> last_asked;  // keys of the latest input_required answer
  std::vector<Digest> states;           // oldest first
  std::vector<std::string> tasks;       // oldest first
  std::string listen_session;
  std::string listen_id;  // kept after the stream ends, to judge tagged notifications
  size_t bytes = 0;       // what stats().bytes holds for it
};

// Operations of one kind, least recently active first.
struct UseList {
  OperationNode* least = nullptr;
  OperationNode* most = nullptr;
};

struct Candidates {
  std::vector<base::Uuid> operations;
  bool crowded = false;  // more than kMaxHeuristicCandidates wanted in
};

// The memory estimate: heap bytes of strings and vectors plus a fixed share for each hash
// node and bucket. It errs high, so that the bound holds for what malloc really keeps.
constexpr size_t kNodeOverhead = 64;
constexpr size_t kMallocOverhead = 16;

size_t heap_bytes(const std::string& text) {
  return text.capacity() > 15 ? text.capacity() + 1 + kMallocOverhead : 0;
}

template <class T>
size_t vector_bytes(const std::vector<T>& items) {
  return items.capacity() == 0 ? 0 : items.capacity() * sizeof(T) + kMallocOverhead;
}

size_t operation_bytes(const Operation& op) {
  size_t bytes = sizeof(OperationNode) + kNodeOverhead;
  bytes += heap_bytes(op.method) + heap_bytes(op.name) + heap_bytes(op.client_key);
  bytes += vector_bytes(op.inputs);
  for (const InputAsked& input : op.inputs)
    bytes += heap_bytes(input.key) + heap_bytes(input.method);
  bytes += vector_bytes(op.last_asked);
  for (const std::string& key : op.last_asked) bytes += heap_bytes(key);
  // Each digest and task id is also a node of its index.
  bytes += vector_bytes(op.states);
  bytes += op.states.size() * (kNodeOverhead + sizeof(std::pair<const Digest, base::Uuid>));
  bytes += vector_bytes(op.tasks);
  for (const std::string& task : op.tasks) {
    bytes +=
        2 * heap_bytes(task) + kNodeOverhead + sizeof(std::pair<const std::string, base::Uuid>);
  }
  bytes += heap_bytes(op.listen_session) + heap_bytes(op.listen_id);
  if (op.listening) {
    // Its listen key, and its share of the session's entry (charged whole to each listen).
    size_t key = op.listen_session.size() + op.listen_id.size() + 24;
    bytes += key + kMallocOverhead + 2 * kNodeOverhead +
             sizeof(std::pair<const std::string, base::Uuid>) + heap_bytes(op.listen_session) +
             sizeof(std::pair<const std::string, std::vector<base::Uuid>>) + sizeof(base::Uuid);
  }
  if (op.awaiting_input) {
    size_t key = op.client_key.size() + op.method.size() + op.name.size() + 24;
    bytes += key + kMallocOverhead + kNodeOverhead +
             sizeof(std::pair<const std::string, Candidates>) + sizeof(base::Uuid) +
             kMallocOverhead;
  }
  return bytes;
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

struct OperationLinker::State {
  explicit State(const OperationLimits& bounds) : limits(bounds) {}

  // ---- the table and its use order ------------------------------------------------------
  OperationNode* find(const base::Uuid& id);
  OperationNode& create(const base::Uuid& id, const OperationRequest& request);
  UseList& list_of(const Operation& op) { return op.closed ? closed : open; }
  void unlink_use(OperationNode& node);
  void link_most(OperationNode& node);
  void touch(OperationNode& node, int64_t at_us);
  void close(OperationNode& node);
  void refresh(OperationNode& node);
  void erase(OperationNode& node);
  bool owns_index_entries(const Operation& op) const {
    return !op.states.empty() || !op.tasks.empty() || op.listening || op.awaiting_input;
  }

  // ---- bounds -------------------------------------------------------------------------
  void advance(int64_t at_us);
  void expire_idle();
  OperationNode* victim(const OperationNode* keep);
  void evict(OperationNode& node, OperationEviction reason);
  void enforce_bounds(OperationNode* current);

  // ---- indexes ------------------------------------------------------------------------
  void add_state(OperationNode& node, const Digest& digest);
  void add_task(OperationNode& node, std::string_view task_id, bool takes_over);
  void add_listen(OperationNode& node, std::string_view session_id, std::string_view id_text);
  void drop_listen(OperationNode& node);
  void await_input(OperationNode& node, int64_t at_us, const std::vector<InputAsked>& asked);
  void stop_awaiting(OperationNode& node);
  void add_inputs(Operation& op, const OperationFacts& facts);
  LinkedOperation heuristic_link(const OperationRequest& request);
  bool final_answer(Operation& op, const OperationAnswer& answer);

  OperationLimits limits;
  OperationStats stats;
  int64_t now_us = 0;
  std::unordered_map<base::Uuid, Operation, UuidHash> operations;
  // Closed operations go before open ones: they are only kept for late polls and retries.
  UseList closed;
  UseList open;
  std::unordered_map<Digest, base::Uuid, DigestHash> by_state;
  std::unordered_map<std::string, base::Uuid, StringHash, std::equal_to<>> by_task;
  std::unordered_map<std::string, base::Uuid, StringHash, std::equal_to<>> listens;
  std::unordered_map<std::string, std::vector<base::Uuid>, StringHash, std::equal_to<>>
      listens_by_session;
  std::unordered_map<std::string, Candidates, StringHash, std::equal_to<>> awaiting;
};

OperationNode* OperationLinker::State::find(const base::Uuid& id) {
  auto found = operations.find(id);
  return found == operations.end() ? nullptr : &*found;
}

OperationNode& OperationLinker::State::create(const base::Uuid& id,
                                              const OperationRequest& request) {
  OperationNode& node = *operations.try_emplace(id).first;
  Operation& op = node.second;
  op.method = std::string(request.method);
  op.name = kept_text(request.facts.name.value_or(""));
  op.client_key = kept_text(request.client_key);
  op.first_request_us = request.at_us;
  op.last_active_us = request.at_us;
  link_most(node);
  stats.operations = operations.size();
  return node;
}

void OperationLinker::State::unlink_use(OperationNode& node) {
  Operation& op = node.second;
  UseList& list = list_of(op);
  if (op.used_before) op.used_before->second.used_after = op.used_after;
  if (op.used_after) op.used_after->second.used_before = op.used_before;
  if (list.least == &node) list.least = op.used_after;
  if (list.most == &node) list.most = op.used_before;
  op.used_before = op.used_after = nullptr;
}

void OperationLinker::State::link_most(OperationNode& node) {
  UseList& list = list_of(node.second);
  node.second.used_before = list.most;
  if (list.most) list.most->second.used_after = &node;
  list.most = &node;
  if (!list.least) list.least = &node;
}

void OperationLinker::State::touch(OperationNode& node, int64_t at_us) {
  node.second.last_active_us = std::max(node.second.last_active_us, at_us);
  if (list_of(node.second).most == &node) return;
  unlink_use(node);
  link_most(node);
}

void OperationLinker::State::close(OperationNode& node) {
  if (node.second.closed) return;
  unlink_use(node);
  node.second.closed = true;
  link_most(node);
}

void OperationLinker::State::refresh(OperationNode& node) {
  Operation& op = node.second;
  stats.bytes -= op.bytes;
  op.bytes = operation_bytes(op);
  stats.bytes += op.bytes;
}

// Removes an operation with every index entry it owns. An entry another operation has
// taken over since (the same task id or state again) stays with that one.
void OperationLinker::State::erase(OperationNode& node) {
  const base::Uuid id = node.first;
  Operation& op = node.second;
  for (const Digest& digest : op.states) {
    auto found = by_state.find(digest);
    if (found != by_state.end() && found->second == id) by_state.erase(found);
  }
  for (const std::string& task : op.tasks) {
    auto found = by_task.find(task);
    if (found != by_task.end() && found->second == id) by_task.erase(found);
  }
  drop_listen(node);
  stop_awaiting(node);
  unlink_use(node);
  stats.bytes -= op.bytes;
  operations.erase(operations.find(id));
  stats.operations = operations.size();
}

void OperationLinker::State::advance(int64_t at_us) {
  now_us = std::max(now_us, at_us);
  expire_idle();
}

// Each list is in activity order, so its least recent operation is the one idle longest.
void OperationLinker::State::expire_idle() {
  if (limits.idle_timeout_us <= 0) return;
  for (UseList* list : {&closed, &open}) {
    while (list->least && now_us - list->least->second.last_active_us > limits.idle_timeout_us) {
      evict(*list->least, OperationEviction::Idle);
    }
  }
}

OperationNode* OperationLinker::State::victim(const OperationNode* keep) {
  for (const UseList* list : {&closed, &open}) {
    OperationNode* candidate = list->least;
    if (candidate == keep) candidate = candidate->second.used_after;
    if (candidate) return candidate;
  }
  return nullptr;
}

void OperationLinker::State::evict(OperationNode& node, OperationEviction reason) {
  ++stats.evicted[static_cast<size_t>(reason)];
  erase(node);
}

// Others go first; the current operation only when it alone is past the byte bound.
void OperationLinker::State::enforce_bounds(OperationNode* current) {
  while (operations.size() > limits.max_operations) {
    OperationNode* node = victim(current);
    if (!node) node = current;
    evict(*node, OperationEviction::Operations);
    if (node == current) return;
  }
  while (stats.bytes > limits.max_bytes && !operations.empty()) {
    OperationNode* node = victim(current);
    if (!node) node = current;
    evict(*node, OperationEviction::Bytes);
    if (node == current) return;
  }
}

void OperationLinker::State::add_state(OperationNode& node, const Digest& digest) {
  Operation& op = node.second;
  auto [entry, inserted] = by_state.try_emplace(digest, node.first);
  if (!inserted) {
    if (entry->second == node.first) return;
    entry->second = node.first;  // the latest answer that issued it wins
  }
  op.states.push_back(digest);
  if (op.states.size() > kMaxStatesPerOperation) {
    auto oldest = by_state.find(op.states.front());
    if (oldest != by_state.end() && oldest->second == node.first) by_state.erase(oldest);
    op.states.erase(op.states.begin());
  }
}

// takes_over: the answer that created the task claims its id even from another operation
// (one that polled it before its creation was seen); a poll only claims an unknown id.
void OperationLinker::State::add_task(OperationNode& node, std::string_view task_id,
                                      bool takes_over) {
  Operation& op = node.second;
  auto found = by_task.find(task_id);
  if (found != by_task.end()) {
    if (found->second == node.first || !takes_over) return;
    found->second = node.first;
  } else {
    by_task.emplace(std::string(task_id), node.first);
  }
  op.tasks.emplace_back(task_id);
  if (op.tasks.size() > kMaxTasksPerOperation) {
    auto oldest = by_task.find(op.tasks.front());
    if (oldest != by_task.end() && oldest->second == node.first) by_task.erase(oldest);
    op.tasks.erase(op.tasks.begin());
  }
}

void OperationLinker::State::add_listen(OperationNode& node, std::string_view session_id,
                                        std::string_view id_text) {
  drop_listen(node);
  std::string key = listen_key(session_id, id_text);
  auto previous = listens.find(key);
  if (previous != listens.end()) {
    // The same id listened again in this session: the newer listen owns it.
    if (OperationNode* other = find(previous->second)) {
      drop_listen(*other);
      refresh(*other);
    }
  }
  // A session's oldest listen makes room (it has at least one more, so its entry stays).
  std::vector<base::Uuid>& of_session = listens_by_session[std::string(session_id)];
  while (of_session.size() >= kMaxListensPerSession) {
    OperationNode* oldest = find(of_session.front());
    if (!oldest) {
      of_session.erase(of_session.begin());
      continue;
    }
    drop_listen(*oldest);
    refresh(*oldest);
  }
  of_session.push_back(node.first);
  listens[key] = node.first;
  Operation& op = node.second;
  op.listening = true;
  op.listen_session = std::string(session_id);
  op.listen_id = std::string(id_text);
}

void OperationLinker::State::drop_listen(OperationNode& node) {
  Operation& op = node.second;
  if (!op.listening) return;
  op.listening = false;
  auto found = listens.find(listen_key(op.listen_session, op.listen_id));
  if (found != listens.end() && found->second == node.first) listens.erase(found);
  auto session = listens_by_session.find(op.listen_session);
  if (session == listens_by_session.end()) return;
  std::vector<base::Uuid>& ids = session->second;
  ids.erase(std::remove(ids.begin(), ids.end(), node.first), ids.end());
  if (ids.empty()) listens_by_session.erase(session);
}

void OperationLinker::State::await_input(OperationNode& node, int64_t at_us,
                                         const std::vector<InputAsked>& asked) {
  stop_awaiting(node);
  Operation& op = node.second;
  op.last_asked.clear();
  for (const InputAsked& input : asked) op.last_asked.push_back(input.key);
  Candidates& candidates = awaiting[heuristic_key(op.client_key, op.method, op.name)];
  if (candidates.operations.size() >= kMaxHeuristicCandidates) {
    candidates.crowded = true;
    return;
  }
  candidates.operations.push_back(node.first);
  op.awaiting_input = true;
  op.awaiting_since_us = at_us;
}

void OperationLinker::State::stop_awaiting(OperationNode& node) {
  Operation& op = node.second;
  if (!op.awaiting_input) return;
  op.awaiting_input = false;
  auto found = awaiting.find(heuristic_key(op.client_key, op.method, op.name));
  if (found == awaiting.end()) return;
  std::vector<base::Uuid>& ids = found->second.operations;
  ids.erase(std::remove(ids.begin(), ids.end(), node.first), ids.end());
  if (ids.empty()) awaiting.erase(found);  // crowding ends with its last candidate
}

void OperationLinker::State::add_inputs(Operation& op, const OperationFacts& facts) {
  if (facts.inputs_truncated) op.inputs_truncated = true;
  for (const InputAsked& input : facts.inputs) {
    auto same_key = [&](const InputAsked& kept) { return kept.key == input.key; };
    if (std::any_of(op.inputs.begin(), op.inputs.end(), same_key)) continue;
    if (op.inputs.size() >= kMaxInputsPerMessage) {
      op.inputs_truncated = true;
      break;
    }
    op.inputs.push_back(input);
  }
}

// A retry without requestState: the one operation of the same client, method and name
// that awaits input, was asked within the window, and was asked every key it answers.
LinkedOperation OperationLinker::State::heuristic_link(const OperationRequest& request) {
  auto found = awaiting.find(heuristic_key(kept_text(request.client_key), request.method,
                                           kept_text(request.facts.name.value_or(""))));
  if (found == awaiting.end()) return {};
  const bool crowded = found->second.crowded;
  std::vector<base::Uuid> ids = found->second.operations;  // stop_awaiting edits the list
  std::optional<base::Uuid> match;
  size_t matches = 0;
  for (const base::Uuid& id : ids) {
    OperationNode* node = find(id);
    if (!node) continue;
    Operation& op = node->second;
    if (request.at_us - op.awaiting_since_us > limits.retry_window_us) {
      stop_awaiting(*node);  // time only moves on: it cannot match again
      refresh(*node);
      continue;
    }
    bool answers_what_was_asked = std::all_of(
        request.facts.input_response_keys.begin(), request.facts.input_response_keys.end(),
        [&](const std::string& key) {
          return std::find(op.last_asked.begin(), op.last_asked.end(), key) != op.last_asked.end();
        });
    if (!answers_what_was_asked) continue;
    ++matches;
    match = id;
  }
  if (matches == 1 && !crowded) return {match, OperationLink::Heuristic};
  if (matches >= 1) ++stats.unlinked[static_cast<size_t>(Unlinked::AmbiguousRetry)];
  return {};
}

// Whether this answer ends its operation: a complete answer or an error to a multi
// round-trip request; for a task, its outcome (tasks/result in 2025-11-25, the terminal
// tasks/get state of the 2026 extension, a failure or cancellation in either).
bool OperationLinker::State::final_answer(Operation& op, const OperationAnswer& answer) {
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

OperationLinker::OperationLinker(OperationLimits limits)
    : state_(std::make_unique<State>(limits)) {}
OperationLinker::~OperationLinker() = default;

LinkedOperation OperationLinker::link_request(const OperationRequest& request) {
  State& s = *state_;
  s.advance(request.at_us);
  const OperationFacts& facts = request.facts;
  if (facts.request_state_sha256) {
    auto found = s.by_state.find(digest_of(*facts.request_state_sha256));
    if (found != s.by_state.end()) return {found->second, OperationLink::RequestState};
  }
  if (facts.task_id) {
    auto found = s.by_task.find(*facts.task_id);
    if (found != s.by_task.end()) return {found->second, OperationLink::Task};
  }
  if (!facts.request_state_sha256 && facts.has_input_responses &&
      is_multi_round_trip_method(request.method)) {
    return s.heuristic_link(request);
  }
  return {};
}

void OperationLinker::on_request(const base::Uuid& operation_id, const OperationRequest& request) {
  State& s = *state_;
  s.advance(request.at_us);
  const OperationFacts& facts = request.facts;
  const bool spans_exchanges = is_multi_round_trip_method(request.method) || facts.task_requested ||
                               is_task_method(request.method) || request.method == kListenMethod;
  OperationNode* node = s.find(operation_id);
  if (!node) {
    // Other requests (one exchange each) and linking turned off keep nothing.
    if (!spans_exchanges || s.limits.max_operations == 0) return;
    node = &s.create(operation_id, request);
  }
  Operation& op = node->second;
  // A request the server sends during a task (related-task _meta) only keeps it alive.
  if (spans_exchanges) ++op.round_trips;
  s.touch(*node, request.at_us);
  if (facts.task_requested || request.method == kTaskResultMethod) {
    op.is_task = true;
    op.task_result_expected = true;
  }
  if (is_task_method(request.method)) {
    op.is_task = true;
    // A task created before capture began: its later polls group with this one.
    if (facts.task_id) s.add_task(*node, *facts.task_id, false);
  }
  if (request.method == kListenMethod && !request.id_text.empty()) {
    s.add_listen(*node, request.session_id, request.id_text);
  }
  s.refresh(*node);
  s.enforce_bounds(node);
}

std::optional<OperationSummary> OperationLinker::on_answer(const OperationAnswer& answer) {
  State& s = *state_;
  s.advance(answer.at_us);
  OperationNode* node = s.find(answer.operation_id);
  if (!node) return std::nullopt;
  Operation& op = node->second;
  s.touch(*node, answer.at_us);
  const OperationFacts& facts = answer.facts;
  const bool input_required = !answer.is_error && facts.result_type == "input_required";
  if (!answer.is_error) {
    s.add_inputs(op, facts);
    if (input_required && facts.request_state_sha256) {
      s.add_state(*node, digest_of(*facts.request_state_sha256));
    }
    if (facts.task_id) {
      // An answer to anything but a task method that names a task created it: 2026 answers
      // flat (resultType "task"), 2025-11-25 nests it in result.task.
      bool creates = answer.request_method.substr(0, 6) != "tasks/";
      s.add_task(*node, *facts.task_id, creates);
      if (creates) {
        op.is_task = true;
        if (facts.result_type != "task") op.task_result_expected = true;
      }
    }
  }
  if (input_required && is_multi_round_trip_method(answer.request_method) && !op.is_task) {
    s.await_input(*node, answer.at_us, facts.inputs);
  } else {
    s.stop_awaiting(*node);
  }
  std::optional<OperationSummary> summary;
  if (s.final_answer(op, answer)) {
    if (answer.request_method == kListenMethod) s.drop_listen(*node);
    if (!op.final_written && op.round_trips > 1) {
      summary = OperationSummary{op.round_trips, answer.at_us - op.first_request_us, op.inputs,
                                 op.inputs_truncated};
      op.final_written = true;
    }
    s.close(*node);
    if (!s.owns_index_entries(op)) {
      // Nothing can name it any more: keeping it would only crowd out live operations.
      s.erase(*node);
      return summary;
    }
  }
  s.refresh(*node);
  s.enforce_bounds(node);
  return summary;
}

LinkedOperation OperationLinker::link_notification(std::string_view session_id,
                                                   const OperationFacts& facts,
                                                   const base::Uuid* stream_operation) {
  State& s = *state_;
  if (facts.task_id) {
    auto found = s.by_task.find(*facts.task_id);
    if (found != s.by_task.end()) {
      base::Uuid id = found->second;
      if (OperationNode* node = s.find(id)) s.touch(*node, s.now_us);
      return {id, OperationLink::Task};
    }
  }
  if (facts.subscription_id) {
    if (stream_operation) {
      // The stream a notification came on is authoritative; a tag naming another
      // subscription is counted, not followed.
      if (OperationNode* node = s.find(*stream_operation)) {
        if (node->second.listen_id != *facts.subscription_id) {
          ++s.stats.unlinked[static_cast<size_t>(Unlinked::SubscriptionMismatch)];
        }
        s.touch(*node, s.now_us);
      }
      return {*stream_operation, OperationLink::Subscription};
    }
    // Without a stream, only a listen of the same session can claim it.
    auto found = s.listens.find(listen_key(session_id, *facts.subscription_id));
    if (found == s.listens.end()) {
      ++s.stats.unlinked[static_cast<size_t>(Unlinked::UnknownSubscription)];
      return {};
    }
    base::Uuid id = found->second;
    if (OperationNode* node = s.find(id)) s.touch(*node, s.now_us);
    return {id, OperationLink::Subscription};
  }
  if (stream_operation) {
    if (OperationNode* node = s.find(*stream_operation)) s.touch(*node, s.now_us);
    return {*stream_operation, OperationLink::None};
  }
  return {};
}

void OperationLinker::end_stream(const base::Uuid& operation_id) {
  State& s = *state_;
  OperationNode* node = s.find(operation_id);
  if (!node || !node->second.listening) return;
  s.drop_listen(*node);
  s.close(*node);
  if (!s.owns_index_entries(node->second)) {
    s.erase(*node);
    return;
  }
  s.refresh(*node);
}

void OperationLinker::forget_session(std::string_view session_id) {
  State& s = *state_;
  auto found = s.listens_by_session.find(session_id);
  if (found == s.listens_by_session.end()) return;
  std::vector<base::Uuid> ids = found->second;  // drop_listen edits the list
  for (const base::Uuid& id : ids) {
    if (OperationNode* node = s.find(id)) {
      s.drop_listen(*node);
      s.refresh(*node);
    }
  }
}

const OperationStats& OperationLinker::stats() const {
  return state_->stats;
}

}  // namespace mcptap::capture

// The table of operations behind OperationLinker: use order, bounds, and the indexes by
// requestState digest, task id, listen and retry key. See operation_table.h.
#include "capture/operation_table.h"

#include <algorithm>

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

OperationTable::Digest digest_of(std::string_view sha256_hex) {
  OperationTable::Digest digest{};
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
  return digest_if_longer(text, kMaxKeptTextBytes);
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

}  // namespace

size_t OperationTable::operation_bytes(const Operation& op) {
  size_t bytes = sizeof(Node) + kNodeOverhead;
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

OperationTable::Node* OperationTable::find(const base::Uuid& id) {
  auto found = operations_.find(id);
  return found == operations_.end() ? nullptr : &*found;
}

OperationTable::Node& OperationTable::create(const base::Uuid& id,
                                             const OperationRequest& request) {
  Node& node = *operations_.try_emplace(id).first;
  Operation& op = node.second;
  op.method = std::string(request.method);
  op.name = kept_text(request.facts.name.value_or(""));
  op.client_key = kept_text(request.client_key);
  op.first_request_us = request.at_us;
  op.last_active_us = request.at_us;
  link_most(node);
  stats_.operations = operations_.size();
  return node;
}

void OperationTable::unlink_use(Node& node) {
  Operation& op = node.second;
  UseList& list = list_of(op);
  if (op.used_before) op.used_before->second.used_after = op.used_after;
  if (op.used_after) op.used_after->second.used_before = op.used_before;
  if (list.least == &node) list.least = op.used_after;
  if (list.most == &node) list.most = op.used_before;
  op.used_before = op.used_after = nullptr;
}

void OperationTable::link_most(Node& node) {
  UseList& list = list_of(node.second);
  node.second.used_before = list.most;
  if (list.most) list.most->second.used_after = &node;
  list.most = &node;
  if (!list.least) list.least = &node;
}

void OperationTable::touch(Node& node, int64_t at_us) {
  node.second.last_active_us = std::max(node.second.last_active_us, at_us);
  if (list_of(node.second).most == &node) return;
  unlink_use(node);
  link_most(node);
}

void OperationTable::close(Node& node) {
  if (node.second.closed) return;
  unlink_use(node);
  node.second.closed = true;
  link_most(node);
}

void OperationTable::refresh(Node& node) {
  Operation& op = node.second;
  stats_.bytes -= op.bytes;
  op.bytes = operation_bytes(op);
  stats_.bytes += op.bytes;
}

// Removes an operation with every index entry it owns. An entry another operation has
// taken over since (the same task id or state again) stays with that one.
void OperationTable::erase(Node& node) {
  const base::Uuid id = node.first;
  Operation& op = node.second;
  for (const Digest& digest : op.states) {
    auto found = by_state_.find(digest);
    if (found != by_state_.end() && found->second == id) by_state_.erase(found);
  }
  for (const std::string& task : op.tasks) {
    auto found = by_task_.find(task);
    if (found != by_task_.end() && found->second == id) by_task_.erase(found);
  }
  drop_listen(node);
  stop_awaiting(node);
  unlink_use(node);
  stats_.bytes -= op.bytes;
  operations_.erase(operations_.find(id));
  stats_.operations = operations_.size();
}

void OperationTable::advance(int64_t at_us) {
  now_us_ = std::max(now_us_, at_us);
  expire_idle();
}

// Each list is in activity order, so its least recent operation is the one idle longest.
void OperationTable::expire_idle() {
  if (limits_.idle_timeout_us <= 0) return;
  for (UseList* list : {&closed_, &open_}) {
    while (list->least && now_us_ - list->least->second.last_active_us > limits_.idle_timeout_us) {
      evict(*list->least, OperationEviction::Idle);
    }
  }
}

OperationTable::Node* OperationTable::victim(const Node* keep) {
  for (const UseList* list : {&closed_, &open_}) {
    Node* candidate = list->least;
    if (candidate == keep) candidate = candidate->second.used_after;
    if (candidate) return candidate;
  }
  return nullptr;
}

void OperationTable::evict(Node& node, OperationEviction reason) {
  ++stats_.evicted[static_cast<size_t>(reason)];
  erase(node);
}

// Others go first; the current operation only when it alone is past the byte bound.
void OperationTable::enforce_bounds(Node* current) {
  while (operations_.size() > limits_.max_operations) {
    Node* node = victim(current);
    if (!node) node = current;
    evict(*node, OperationEviction::Operations);
    if (node == current) return;
  }
  while (stats_.bytes > limits_.max_bytes && !operations_.empty()) {
    Node* node = victim(current);
    if (!node) node = current;
    evict(*node, OperationEviction::Bytes);
    if (node == current) return;
  }
}

std::optional<base::Uuid> OperationTable::find_by_state(
    std::string_view request_state_sha256) const {
  auto found = by_state_.find(digest_of(request_state_sha256));
  if (found == by_state_.end()) return std::nullopt;
  return found->second;
}

std::optional<base::Uuid> OperationTable::find_by_task(std::string_view task_id) const {
  auto found = by_task_.find(task_id);
  if (found == by_task_.end()) return std::nullopt;
  return found->second;
}

std::optional<base::Uuid> OperationTable::find_listen(std::string_view session_id,
                                                      std::string_view id_text) const {
  auto found = listens_.find(listen_key(session_id, id_text));
  if (found == listens_.end()) return std::nullopt;
  return found->second;
}

std::vector<base::Uuid> OperationTable::listens_of(std::string_view session_id) const {
  auto found = listens_by_session_.find(session_id);
  if (found == listens_by_session_.end()) return {};
  return found->second;
}

void OperationTable::add_state(Node& node, std::string_view request_state_sha256) {
  const Digest digest = digest_of(request_state_sha256);
  Operation& op = node.second;
  auto [entry, inserted] = by_state_.try_emplace(digest, node.first);
  if (!inserted) {
    if (entry->second == node.first) return;
    entry->second = node.first;  // the latest answer that issued it wins
  }
  op.states.push_back(digest);
  if (op.states.size() > kMaxStatesPerOperation) {
    auto oldest = by_state_.find(op.states.front());
    if (oldest != by_state_.end() && oldest->second == node.first) by_state_.erase(oldest);
    op.states.erase(op.states.begin());
  }
}

// takes_over: the answer that created the task claims its id even from another operation
// (one that polled it before its creation was seen); a poll only claims an unknown id.
void OperationTable::add_task(Node& node, std::string_view task_id, bool takes_over) {
  Operation& op = node.second;
  auto found = by_task_.find(task_id);
  if (found != by_task_.end()) {
    if (found->second == node.first || !takes_over) return;
    found->second = node.first;
  } else {
    by_task_.emplace(std::string(task_id), node.first);
  }
  op.tasks.emplace_back(task_id);
  if (op.tasks.size() > kMaxTasksPerOperation) {
    auto oldest = by_task_.find(op.tasks.front());
    if (oldest != by_task_.end() && oldest->second == node.first) by_task_.erase(oldest);
    op.tasks.erase(op.tasks.begin());
  }
}

void OperationTable::add_listen(Node& node, std::string_view session_id, std::string_view id_text) {
  drop_listen(node);
  std::string key = listen_key(session_id, id_text);
  auto previous = listens_.find(key);
  if (previous != listens_.end()) {
    // The same id listened again in this session: the newer listen owns it.
    if (Node* other = find(previous->second)) {
      drop_listen(*other);
      refresh(*other);
    }
  }
  // A session's oldest listen makes room (it has at least one more, so its entry stays).
  std::vector<base::Uuid>& of_session = listens_by_session_[std::string(session_id)];
  while (of_session.size() >= kMaxListensPerSession) {
    Node* oldest = find(of_session.front());
    if (!oldest) {
      of_session.erase(of_session.begin());
      continue;
    }
    drop_listen(*oldest);
    refresh(*oldest);
  }
  of_session.push_back(node.first);
  listens_[key] = node.first;
  Operation& op = node.second;
  op.listening = true;
  op.listen_session = std::string(session_id);
  op.listen_id = std::string(id_text);
}

void OperationTable::drop_listen(Node& node) {
  Operation& op = node.second;
  if (!op.listening) return;
  op.listening = false;
  auto found = listens_.find(listen_key(op.listen_session, op.listen_id));
  if (found != listens_.end() && found->second == node.first) listens_.erase(found);
  auto session = listens_by_session_.find(op.listen_session);
  if (session == listens_by_session_.end()) return;
  std::vector<base::Uuid>& ids = session->second;
  ids.erase(std::remove(ids.begin(), ids.end(), node.first), ids.end());
  if (ids.empty()) listens_by_session_.erase(session);
}

void OperationTable::await_input(Node& node, int64_t at_us, const std::vector<InputAsked>& asked) {
  stop_awaiting(node);
  Operation& op = node.second;
  op.last_asked.clear();
  for (const InputAsked& input : asked) op.last_asked.push_back(input.key);
  Candidates& candidates = awaiting_[heuristic_key(op.client_key, op.method, op.name)];
  if (candidates.operations.size() >= kMaxHeuristicCandidates) {
    candidates.crowded = true;
    return;
  }
  candidates.operations.push_back(node.first);
  op.awaiting_input = true;
  op.awaiting_since_us = at_us;
}

void OperationTable::stop_awaiting(Node& node) {
  Operation& op = node.second;
  if (!op.awaiting_input) return;
  op.awaiting_input = false;
  auto found = awaiting_.find(heuristic_key(op.client_key, op.method, op.name));
  if (found == awaiting_.end()) return;
  std::vector<base::Uuid>& ids = found->second.operations;
  ids.erase(std::remove(ids.begin(), ids.end(), node.first), ids.end());
  if (ids.empty()) awaiting_.erase(found);  // crowding ends with its last candidate
}

void OperationTable::add_inputs(Operation& op, const OperationFacts& facts) {
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
LinkedOperation OperationTable::heuristic_link(const OperationRequest& request) {
  auto found = awaiting_.find(heuristic_key(kept_text(request.client_key), request.method,
                                            kept_text(request.facts.name.value_or(""))));
  if (found == awaiting_.end()) return {};
  const bool crowded = found->second.crowded;
  std::vector<base::Uuid> ids = found->second.operations;  // stop_awaiting edits the list
  std::optional<base::Uuid> match;
  size_t matches = 0;
  for (const base::Uuid& id : ids) {
    Node* node = find(id);
    if (!node) continue;
    Operation& op = node->second;
    if (request.at_us - op.awaiting_since_us > limits_.retry_window_us) {
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
  if (matches >= 1) ++stats_.unlinked[static_cast<size_t>(Unlinked::AmbiguousRetry)];
  return {};
}

}  // namespace mcptap::capture

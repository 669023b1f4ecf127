// Request/response correlation with reused ids: per (session, direction, id) FIFOs.
#include "capture/correlator.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <limits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/string_hash.h"

namespace mcptap::capture {
namespace {

constexpr std::string_view kCancelledMethod = "notifications/cancelled";
constexpr std::string_view kProgressMethod = "notifications/progress";
constexpr uint32_t kNoSlot = std::numeric_limits<uint32_t>::max();

using base::StringHash;

// Which requests a response can answer: those sent in `direction` with this id.
struct RequestKey {
  Direction direction;
  std::string id_text;
};

struct RequestKeyView {
  Direction direction;
  std::string_view id_text;
};

struct RequestKeyHash {
  using is_transparent = void;
  size_t operator()(RequestKeyView key) const {
    return std::hash<std::string_view>{}(key.id_text) * 2 + static_cast<size_t>(key.direction);
  }
  size_t operator()(const RequestKey& key) const {
    return (*this)(RequestKeyView{key.direction, key.id_text});
  }
};

struct RequestKeyEqual {
  using is_transparent = void;
  static RequestKeyView view(const RequestKey& key) { return {key.direction, key.id_text}; }
  static RequestKeyView view(RequestKeyView key) { return key; }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    RequestKeyView left = view(a);
    RequestKeyView right = view(b);
    return left.direction == right.direction && left.id_text == right.id_text;
  }
};

// Oldest and newest request waiting under one key; the rest chain through next_same_key.
struct KeyQueue {
  uint32_t oldest = kNoSlot;
  uint32_t newest = kNoSlot;
};

using PendingByKey = std::unordered_map<RequestKey, KeyQueue, RequestKeyHash, RequestKeyEqual>;

// A request still waiting for its answer. Requests live in a slot pool and are linked
// twice by index: in age order across the whole session (for eviction) and in FIFO order
// under their key (for pairing). Both unlinks are O(1) and nothing is allocated per link.
struct PendingRequest {
  PendingByKey::value_type* key_entry = nullptr;  // unordered_map nodes never move
  uint32_t older = kNoSlot;
  uint32_t newer = kNoSlot;
  uint32_t next_same_key = kNoSlot;
  base::Uuid correlation_id;
  std::string method;
  int64_t sent_at_us = 0;
  size_t bytes = 0;  // what this request adds to its session's estimate
  std::optional<std::string> progress_token;
  bool capture_skipped = false;  // its answer is left out of capture with it
  RequestContext context;
};

// The request a progress token belongs to, as its notifications need it.
struct TokenOwner {
  base::Uuid correlation_id;
  std::optional<base::Uuid> operation_id;
  std::shared_ptr<const ClientIdentity> identity;
};

struct SessionState;
using SessionNode = std::pair<const std::string, SessionState>;

// Everything one session still waits for.
struct SessionState {
  std::vector<PendingRequest> slots;
  std::vector<uint32_t> free_slots;
  uint32_t oldest = kNoSlot;
  uint32_t newest = kNoSlot;
  size_t pending = 0;
  PendingByKey by_key;
  std::unordered_map<std::string, TokenOwner, StringHash, std::equal_to<>> progress_tokens;
  size_t bytes = 0;  // estimate of all of the above, and of the session's own entry
  int64_t last_used_us = 0;
  // A reply of this session has paired: a real session, not an id made up on the wire.
  bool answered = false;
  // Sessions in use order, for eviction (unordered_map nodes never move).
  SessionNode* used_before = nullptr;
  SessionNode* used_after = nullptr;
};

// Sessions of one kind, least recently used first.
struct UseList {
  SessionNode* least = nullptr;
  SessionNode* most = nullptr;
};

// The memory estimate: what the strings hold plus a fixed share for each hash node and
// bucket. It errs high, so that the bound holds for what malloc really keeps.
constexpr size_t kNodeOverhead = 64;
constexpr size_t kSessionOverhead = sizeof(SessionState) + 2 * kNodeOverhead;
constexpr size_t kSlotBytes = sizeof(PendingRequest) + sizeof(uint32_t);
constexpr size_t kTokenBytes = sizeof(TokenOwner);

size_t request_bytes(std::string_view method, std::string_view id_text,
                     const std::optional<std::string>& progress_token) {
  size_t bytes = method.size() + id_text.size() + kNodeOverhead;
  // A token is held twice: by the request and as the key of the token table.
  if (progress_token) bytes += 2 * progress_token->size() + kNodeOverhead + kTokenBytes;
  return bytes;
}

uint32_t allocate_slot(SessionState& session) {
  if (!session.free_slots.empty()) {
    uint32_t slot = session.free_slots.back();
    session.free_slots.pop_back();
    return slot;
  }
  size_t capacity = session.slots.capacity();
  session.slots.emplace_back();
  // Slots are kept until the session goes: their memory counts from their allocation.
  session.bytes += (session.slots.capacity() - capacity) * kSlotBytes;
  return static_cast<uint32_t>(session.slots.size() - 1);
}

void append_by_age(SessionState& session, uint32_t slot) {
  PendingRequest& request = session.slots[slot];
  request.older = session.newest;
  request.newer = kNoSlot;
  if (session.newest != kNoSlot) session.slots[session.newest].newer = slot;
  session.newest = slot;
  if (session.oldest == kNoSlot) session.oldest = slot;
}

void unlink_by_age(SessionState& session, uint32_t slot) {
  PendingRequest& request = session.slots[slot];
  if (request.older != kNoSlot) session.slots[request.older].newer = request.newer;
  if (request.newer != kNoSlot) session.slots[request.newer].older = request.older;
  if (session.oldest == slot) session.oldest = request.newer;
  if (session.newest == slot) session.newest = request.older;
}

void append_to_key(SessionState& session, RequestKeyView key, uint32_t slot) {
  auto found = session.by_key.find(key);
  if (found == session.by_key.end()) {
    found = session.by_key.emplace(RequestKey{key.direction, std::string(key.id_text)}, KeyQueue{})
                .first;
  }
  KeyQueue& queue = found->second;
  if (queue.newest != kNoSlot) session.slots[queue.newest].next_same_key = slot;
  queue.newest = slot;
  if (queue.oldest == kNoSlot) queue.oldest = slot;
  session.slots[slot].key_entry = &*found;
}

uint32_t oldest_with_key(const SessionState& session, RequestKeyView key) {
  auto found = session.by_key.find(key);
  return found == session.by_key.end() ? kNoSlot : found->second.oldest;
}

// A session left with nothing pending gives back what a burst of requests made it hold.
// Small tables are kept: a client that sends one request at a time reuses them.
void shrink_if_idle(SessionState& session) {
  constexpr size_t kKeptSlots = 16;
  if (session.pending != 0 || session.slots.capacity() <= kKeptSlots) return;
  session.bytes -= session.slots.capacity() * kSlotBytes;
  std::vector<PendingRequest>().swap(session.slots);
  std::vector<uint32_t>().swap(session.free_slots);
  PendingByKey().swap(session.by_key);
  decltype(session.progress_tokens)().swap(session.progress_tokens);
  session.oldest = session.newest = kNoSlot;
}

// Removes a request that is the oldest under its key. Every removal is of that kind: an
// answer and a cancellation take the oldest with their id, and eviction takes the oldest
// of the session, which no older request with the same key can precede. Returns how many
// progress tokens went with it (0 or 1).
size_t release_oldest_of_key(SessionState& session, uint32_t slot) {
  PendingRequest& request = session.slots[slot];
  KeyQueue& queue = request.key_entry->second;
  assert(queue.oldest == slot);
  queue.oldest = request.next_same_key;
  if (queue.oldest == kNoSlot) {
    // Erased through an iterator: erasing by a key that lives in the erased node is unsafe.
    const RequestKey& key = request.key_entry->first;
    session.by_key.erase(session.by_key.find(RequestKeyView{key.direction, key.id_text}));
  }
  size_t tokens_released = 0;
  if (request.progress_token) {
    // Another request may have announced the same token since; its entry stays.
    auto token = session.progress_tokens.find(*request.progress_token);
    if (token != session.progress_tokens.end() &&
        token->second.correlation_id == request.correlation_id) {
      session.progress_tokens.erase(token);
      tokens_released = 1;
    }
  }
  unlink_by_age(session, slot);
  session.bytes -= request.bytes;
  request = PendingRequest{};  // frees the method and token strings now
  session.free_slots.push_back(slot);
  --session.pending;
  return tokens_released;
}

// All sessions of one correlator, and the pairing rules for each kind of message.
class SessionTable {
 public:
  explicit SessionTable(const CorrelationLimits& limits) : limits_(limits) {}
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  Correlation observe_request(std::string_view session_id, Direction direction,
                              const ClassifiedMessage& message, int64_t now_us,
                              const RequestContext& context);
  // `vouches`: a reply paired by its own id shows the session is real (see SessionState).
  Correlation observe_reply(std::string_view session_id, Direction direction,
                            const ClassifiedMessage& message, int64_t now_us, bool vouches = true);
  Correlation observe_notification(std::string_view session_id, Direction direction,
                                   const ClassifiedMessage& message, int64_t now_us);
  void skip_capture(std::string_view session_id, RequestKeyView key,
                    const base::Uuid& correlation_id);
  void expire_idle(int64_t now_us);
  void forget(std::string_view session_id);
  const CorrelatorStats& stats() const { return stats_; }

 private:
  Correlation observe_progress(std::string_view session_id, const ClassifiedMessage& message,
                               int64_t now_us);
  Correlation observe_cancellation(std::string_view session_id, Direction direction,
                                   const ClassifiedMessage& message, int64_t now_us);
  SessionNode& session_for(std::string_view session_id, int64_t now_us);
  SessionNode* find_session(std::string_view session_id, int64_t now_us);
  UseList& list_of(const SessionNode& node) {
    return node.second.answered ? answered_ : unanswered_;
  }
  void touch(SessionNode& node, int64_t now_us);
  void unlink_use(SessionNode& node);
  void mark_answered(SessionNode& node);
  SessionNode* byte_victim(const SessionNode& current);
  void release(SessionNode& node, uint32_t slot, bool keep_empty = false);
  void drop_oldest(SessionNode& node, Eviction reason);
  void evict(SessionNode& node, Eviction reason);
  void erase(SessionNode& node);
  void enforce_byte_bound(SessionNode& current);

  CorrelationLimits limits_;
  CorrelatorStats stats_;
  std::unordered_map<std::string, SessionState, StringHash, std::equal_to<>> sessions_;
  // Sessions whose requests were never answered go first: an attacker inventing session
  // ids (which servers answer with id null) cannot push out sessions that really talk.
  UseList unanswered_;
  UseList answered_;
};

void SessionTable::unlink_use(SessionNode& node) {
  SessionState& session = node.second;
  UseList& list = list_of(node);
  if (session.used_before) session.used_before->second.used_after = session.used_after;
  if (session.used_after) session.used_after->second.used_before = session.used_before;
  if (list.least == &node) list.least = session.used_after;
  if (list.most == &node) list.most = session.used_before;
  session.used_before = session.used_after = nullptr;
}

void SessionTable::touch(SessionNode& node, int64_t now_us) {
  node.second.last_used_us = now_us;
  UseList& list = list_of(node);
  if (list.most == &node) return;
  unlink_use(node);
  node.second.used_before = list.most;
  if (list.most) list.most->second.used_after = &node;
  list.most = &node;
  if (!list.least) list.least = &node;
}

void SessionTable::mark_answered(SessionNode& node) {
  if (node.second.answered) return;
  unlink_use(node);
  node.second.answered = true;
  touch(node, node.second.last_used_us);
}

SessionNode& SessionTable::session_for(std::string_view session_id, int64_t now_us) {
  auto found = sessions_.find(session_id);
  if (found == sessions_.end()) {
    while (sessions_.size() >= limits_.max_sessions) {
      evict(unanswered_.least ? *unanswered_.least : *answered_.least, Eviction::Sessions);
    }
    found = sessions_.emplace(std::string(session_id), SessionState{}).first;
    found->second.bytes = kSessionOverhead + session_id.size();
    stats_.bytes += found->second.bytes;
    stats_.sessions = sessions_.size();
  }
  touch(*found, now_us);
  return *found;
}

SessionNode* SessionTable::find_session(std::string_view session_id, int64_t now_us) {
  auto found = sessions_.find(session_id);
  if (found == sessions_.end()) return nullptr;
  touch(*found, now_us);
  return &*found;
}

// Takes one request off a session. An unanswered session with nothing left pending is
// dropped; an answered one is kept (small) until it idles out or the bounds need its room,
// so that it stays known as a real session.
void SessionTable::release(SessionNode& node, uint32_t slot, bool keep_empty) {
  SessionState& session = node.second;
  size_t before = session.bytes;
  stats_.progress_tokens -= release_oldest_of_key(session, slot);
  if (!keep_empty) shrink_if_idle(session);
  stats_.bytes -= before - session.bytes;
  --stats_.pending;
  if (session.pending == 0 && !keep_empty && !session.answered) erase(node);
}

void SessionTable::drop_oldest(SessionNode& node, Eviction reason) {
  ++stats_.evicted[static_cast<size_t>(reason)];
  release(node, node.second.oldest);
}

void SessionTable::evict(SessionNode& node, Eviction reason) {
  stats_.evicted[static_cast<size_t>(reason)] += node.second.pending;
  erase(node);
}

void SessionTable::erase(SessionNode& node) {
  SessionState& session = node.second;
  unlink_use(node);
  stats_.pending -= session.pending;
  stats_.progress_tokens -= session.progress_tokens.size();
  stats_.bytes -= session.bytes;
  // Erased through an iterator: the key lives in the node being erased.
  sessions_.erase(sessions_.find(std::string_view(node.first)));
  stats_.sessions = sessions_.size();
}

// Sessions are used in clock order, so the least recently used is the one idle longest.
void SessionTable::expire_idle(int64_t now_us) {
  if (limits_.session_idle_timeout_us <= 0) return;
  for (UseList* list : {&unanswered_, &answered_}) {
    while (list->least &&
           now_us - list->least->second.last_used_us > limits_.session_idle_timeout_us) {
      evict(*list->least, Eviction::Idle);
    }
  }
}

// The session to forget for room: an unanswered one, least recently used first; an
// answered one only for an answered session. Never the current one.
SessionNode* SessionTable::byte_victim(const SessionNode& current) {
  auto other_than_current = [&](const UseList& list) {
    return list.least != &current ? list.least : current.second.used_after;
  };
  if (SessionNode* victim = other_than_current(unanswered_)) return victim;
  return current.second.answered ? other_than_current(answered_) : nullptr;
}

// Other sessions go first; when none may go, the current session's oldest requests. A
// request larger than the whole bound is not kept at all.
void SessionTable::enforce_byte_bound(SessionNode& current) {
  while (stats_.bytes > limits_.max_bytes) {
    if (SessionNode* victim = byte_victim(current)) {
      evict(*victim, Eviction::Bytes);
      continue;
    }
    if (current.second.pending == 0) return;
    bool last = current.second.pending == 1 && !current.second.answered;
    drop_oldest(current, Eviction::Bytes);  // erases an unanswered session with its last
    if (last) return;
  }
}

Correlation SessionTable::observe_request(std::string_view session_id, Direction direction,
                                          const ClassifiedMessage& message, int64_t now_us,
                                          const RequestContext& context) {
  Correlation correlation;
  correlation.correlation_id = base::Uuid::v7();
  correlation.method = message.method;
  correlation.operation_id = context.operation_id.value_or(*correlation.correlation_id);
  correlation.identity = context.identity;
  if (limits_.max_pending_per_session == 0 || limits_.max_sessions == 0 || !message.id_text) {
    return correlation;
  }

  SessionNode& node = session_for(session_id, now_us);
  SessionState& session = node.second;
  while (session.pending >= limits_.max_pending_per_session) {
    ++stats_.evicted[static_cast<size_t>(Eviction::Pending)];
    release(node, session.oldest, /*keep_empty=*/true);  // the new request follows
  }
  size_t bytes_before = session.bytes;
  uint32_t slot = allocate_slot(session);
  PendingRequest& request = session.slots[slot];
  request.correlation_id = *correlation.correlation_id;
  request.method = message.method.value_or(std::string());
  request.sent_at_us = now_us;
  request.progress_token = message.progress_token;
  request.context = context;
  request.bytes = request_bytes(request.method, *message.id_text, request.progress_token);
  if (request.progress_token) {
    auto [token, added] = session.progress_tokens.insert_or_assign(
        *request.progress_token,
        TokenOwner{request.correlation_id, context.operation_id, context.identity});
    static_cast<void>(token);
    if (added) ++stats_.progress_tokens;
  }
  append_by_age(session, slot);
  append_to_key(session, {direction, *message.id_text}, slot);
  session.bytes += request.bytes;
  stats_.bytes += session.bytes - bytes_before;
  ++session.pending;
  ++stats_.pending;
  enforce_byte_bound(node);
  return correlation;
}
Correlation SessionTable::observe_reply(std::string_view session_id, Direction direction,
                                        const ClassifiedMessage& message, int64_t now_us,
                                        bool vouches) {
  Correlation correlation;
  if (!message.id_text) return correlation;
  SessionNode* node = find_session(session_id, now_us);
  if (!node) return correlation;
  SessionState& session = node->second;
  // A reply travels against its request: a server answers what the client sent.
  uint32_t slot = oldest_with_key(session, {opposite(direction), *message.id_text});
  if (slot == kNoSlot) return correlation;
  PendingRequest& request = session.slots[slot];
  correlation.correlation_id = request.correlation_id;
  correlation.method = std::move(request.method);
  // The wall clock may step back between the two messages; a latency is never negative.
  correlation.latency_us = std::max<int64_t>(0, now_us - request.sent_at_us);
  correlation.request_skipped = request.capture_skipped;
  correlation.operation_id = request.context.operation_id.value_or(request.correlation_id);
  correlation.identity = std::move(request.context.identity);
  if (vouches) mark_answered(*node);
  release(*node, slot);
  return correlation;
}

Correlation SessionTable::observe_notification(std::string_view session_id, Direction direction,
                                               const ClassifiedMessage& message, int64_t now_us) {
  if (message.method == kProgressMethod) return observe_progress(session_id, message, now_us);
  if (message.method == kCancelledMethod) {
    return observe_cancellation(session_id, direction, message, now_us);
  }
  Correlation correlation;
  correlation.method = message.method;
  return correlation;
}

// Progress shows the session is alive: a long call reporting progress does not idle out.
Correlation SessionTable::observe_progress(std::string_view session_id,
                                           const ClassifiedMessage& message, int64_t now_us) {
  Correlation correlation;
  correlation.method = message.method;
  if (!message.progress_token) return correlation;
  SessionNode* node = find_session(session_id, now_us);
  if (!node) return correlation;
  auto& tokens = node->second.progress_tokens;
  auto token = tokens.find(*message.progress_token);
  if (token != tokens.end()) {
    correlation.correlation_id = token->second.correlation_id;
    correlation.operation_id = token->second.operation_id.value_or(token->second.correlation_id);
    correlation.identity = token->second.identity;
  }
  return correlation;
}

// A peer cancels a request it sent itself, so the request travelled the same way as the
// cancellation. The request is taken off the pending list: the MCP spec lets the receiver
// drop a cancelled request without ever answering it, and leaving it queued would pair its
// id's next response (ids are reused) with the wrong request. The cost: a response that
// races the cancellation arrives unpaired.
Correlation SessionTable::observe_cancellation(std::string_view session_id, Direction direction,
                                               const ClassifiedMessage& message, int64_t now_us) {
  Correlation correlation;
  correlation.method = message.method;
  if (!message.cancelled_request_id) return correlation;
  SessionNode* node = find_session(session_id, now_us);
  if (!node) return correlation;
  uint32_t slot = oldest_with_key(node->second, {direction, *message.cancelled_request_id});
  if (slot == kNoSlot) return correlation;
  PendingRequest& request = node->second.slots[slot];
  correlation.correlation_id = request.correlation_id;
  correlation.operation_id = request.context.operation_id.value_or(request.correlation_id);
  correlation.identity = request.context.identity;
  release(*node, slot);
  return correlation;
}

// Requests under one key are few (one, unless a peer reuses an id while it is pending), so
// walking them to the one with this correlation id is cheap.
void SessionTable::skip_capture(std::string_view session_id, RequestKeyView key,
                                const base::Uuid& correlation_id) {
  auto found = sessions_.find(session_id);  // a lookup, not a use: no touch
  if (found == sessions_.end()) return;
  SessionState* session = &found->second;
  for (uint32_t slot = oldest_with_key(*session, key); slot != kNoSlot;
       slot = session->slots[slot].next_same_key) {
    if (session->slots[slot].correlation_id == correlation_id) {
      session->slots[slot].capture_skipped = true;
      return;
    }
  }
}

void SessionTable::forget(std::string_view session_id) {
  auto found = sessions_.find(session_id);
  if (found != sessions_.end()) erase(*found);
}

}  // namespace

std::string_view to_string(Eviction reason) {
  switch (reason) {
    case Eviction::Pending:
      return "pending";
    case Eviction::Sessions:
      return "sessions";
    case Eviction::Bytes:
      return "bytes";
    case Eviction::Idle:
      return "idle";
  }
  return "unknown";
}

struct Correlator::State {
  explicit State(const CorrelationLimits& limits) : sessions(limits) {}
  SessionTable sessions;
};

Correlator::Correlator(CorrelationLimits limits) : state_(std::make_unique<State>(limits)) {}

Correlator::Correlator(size_t max_pending_per_session)
    : Correlator(CorrelationLimits{.max_pending_per_session = max_pending_per_session}) {}

Correlator::~Correlator() = default;

Correlation Correlator::observe(std::string_view session_id, Direction direction,
                                const ClassifiedMessage& message, int64_t now_us,
                                const RequestContext& context) {
  SessionTable& sessions = state_->sessions;
  sessions.expire_idle(now_us);
  switch (message.kind) {
    case Kind::Request:
      return sessions.observe_request(session_id, direction, message, now_us, context);
    case Kind::Response:
    case Kind::Error:
      return sessions.observe_reply(session_id, direction, message, now_us);
    case Kind::Notification:
      return sessions.observe_notification(session_id, direction, message, now_us);
    case Kind::Batch:  // the caller observes each item instead
    case Kind::Invalid:
      break;
  }
  return {};
}

Correlation Correlator::observe_exchange_answer(std::string_view session_id, Direction direction,
                                                std::string_view request_id_text, int64_t now_us) {
  SessionTable& sessions = state_->sessions;
  sessions.expire_idle(now_us);
  ClassifiedMessage keyed;
  keyed.kind = Kind::Error;
  keyed.id_text = std::string(request_id_text);
  return sessions.observe_reply(session_id, direction, keyed, now_us, /*vouches=*/false);
}

void Correlator::skip_capture(std::string_view session_id, Direction direction,
                              std::string_view id_text, const base::Uuid& correlation_id) {
  state_->sessions.skip_capture(session_id, {direction, id_text}, correlation_id);
}

void Correlator::forget_session(std::string_view session_id) {
  state_->sessions.forget(session_id);
}

size_t Correlator::pending_requests() const {
  return state_->sessions.stats().pending;
}

const CorrelatorStats& Correlator::stats() const {
  return state_->sessions.stats();
}

}  // namespace mcptap::capture

// Request/response correlation with reused ids: per (session, direction, id) FIFOs.
#include "capture/correlator.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <limits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mcptap::capture {
namespace {

constexpr std::string_view kCancelledMethod = "notifications/cancelled";
constexpr std::string_view kProgressMethod = "notifications/progress";
constexpr uint32_t kNoSlot = std::numeric_limits<uint32_t>::max();

// Hashing that accepts std::string and std::string_view alike, so look-ups by a view
// never build a string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

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
  Uuid correlation_id;
  std::string method;
  int64_t sent_at_us = 0;
  std::optional<std::string> progress_token;
  bool capture_skipped = false;  // its answer is left out of capture with it
};

// Everything one session still waits for.
struct SessionState {
  std::vector<PendingRequest> slots;
  std::vector<uint32_t> free_slots;
  uint32_t oldest = kNoSlot;
  uint32_t newest = kNoSlot;
  size_t pending = 0;
  PendingByKey by_key;
  std::unordered_map<std::string, Uuid, StringHash, std::equal_to<>> progress_tokens;
};

uint32_t allocate_slot(SessionState& session) {
  if (!session.free_slots.empty()) {
    uint32_t slot = session.free_slots.back();
    session.free_slots.pop_back();
    return slot;
  }
  session.slots.emplace_back();
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

// Removes a request that is the oldest under its key. Every removal is of that kind: an
// answer and a cancellation take the oldest with their id, and eviction takes the oldest
// of the session, which no older request with the same key can precede.
void release_oldest_of_key(SessionState& session, uint32_t slot) {
  PendingRequest& request = session.slots[slot];
  KeyQueue& queue = request.key_entry->second;
  assert(queue.oldest == slot);
  queue.oldest = request.next_same_key;
  if (queue.oldest == kNoSlot) {
    // Erased through an iterator: erasing by a key that lives in the erased node is unsafe.
    const RequestKey& key = request.key_entry->first;
    session.by_key.erase(session.by_key.find(RequestKeyView{key.direction, key.id_text}));
  }
  if (request.progress_token) {
    // Another request may have announced the same token since; its entry stays.
    auto token = session.progress_tokens.find(*request.progress_token);
    if (token != session.progress_tokens.end() && token->second == request.correlation_id) {
      session.progress_tokens.erase(token);
    }
  }
  unlink_by_age(session, slot);
  request = PendingRequest{};  // frees the method and token strings now
  session.free_slots.push_back(slot);
  --session.pending;
}

// All sessions of one correlator, and the pairing rules for each kind of message.
class SessionTable {
 public:
  explicit SessionTable(size_t max_pending_per_session)
      : max_pending_per_session_(max_pending_per_session) {}

  Correlation observe_request(std::string_view session_id, Direction direction,
                              const ClassifiedMessage& message, int64_t now_us);
  Correlation observe_reply(std::string_view session_id, Direction direction,
                            const ClassifiedMessage& message, int64_t now_us);
  Correlation observe_notification(std::string_view session_id, Direction direction,
                                   const ClassifiedMessage& message);
  void skip_capture(std::string_view session_id, RequestKeyView key, const Uuid& correlation_id);
  void forget(std::string_view session_id);
  size_t pending() const { return pending_total_; }

 private:
  Correlation observe_progress(std::string_view session_id, const ClassifiedMessage& message);
  Correlation observe_cancellation(std::string_view session_id, Direction direction,
                                   const ClassifiedMessage& message);
  SessionState& session_for(std::string_view session_id);
  SessionState* find_session(std::string_view session_id);
  void release(std::string_view session_id, SessionState& session, uint32_t slot);

  size_t max_pending_per_session_;
  size_t pending_total_ = 0;
  std::unordered_map<std::string, SessionState, StringHash, std::equal_to<>> sessions_;
};

SessionState& SessionTable::session_for(std::string_view session_id) {
  auto found = sessions_.find(session_id);
  if (found == sessions_.end()) {
    found = sessions_.emplace(std::string(session_id), SessionState{}).first;
  }
  return found->second;
}

SessionState* SessionTable::find_session(std::string_view session_id) {
  auto found = sessions_.find(session_id);
  return found == sessions_.end() ? nullptr : &found->second;
}

// Takes one request off a session. A session with nothing left pending is dropped, so
// sessions that are never forgotten explicitly cost nothing once their requests are done.
void SessionTable::release(std::string_view session_id, SessionState& session, uint32_t slot) {
  release_oldest_of_key(session, slot);
  --pending_total_;
  if (session.pending == 0) forget(session_id);
}

Correlation SessionTable::observe_request(std::string_view session_id, Direction direction,
                                          const ClassifiedMessage& message, int64_t now_us) {
  Correlation correlation;
  correlation.correlation_id = Uuid::v7();
  correlation.method = message.method;
  if (max_pending_per_session_ == 0 || !message.id_text) return correlation;

  SessionState& session = session_for(session_id);
  while (session.pending >= max_pending_per_session_) {
    release_oldest_of_key(session, session.oldest);
    --pending_total_;
  }
  uint32_t slot = allocate_slot(session);
  PendingRequest& request = session.slots[slot];
  request.correlation_id = *correlation.correlation_id;
  request.method = message.method.value_or(std::string());
  request.sent_at_us = now_us;
  request.progress_token = message.progress_token;
  if (request.progress_token) {
    session.progress_tokens.insert_or_assign(*request.progress_token, request.correlation_id);
  }
  append_by_age(session, slot);
  append_to_key(session, {direction, *message.id_text}, slot);
  ++session.pending;
  ++pending_total_;
  return correlation;
}

Correlation SessionTable::observe_reply(std::string_view session_id, Direction direction,
                                        const ClassifiedMessage& message, int64_t now_us) {
  Correlation correlation;
  SessionState* session = find_session(session_id);
  if (!session || !message.id_text) return correlation;
  // A reply travels against its request: a server answers what the client sent.
  uint32_t slot = oldest_with_key(*session, {opposite(direction), *message.id_text});
  if (slot == kNoSlot) return correlation;
  PendingRequest& request = session->slots[slot];
  correlation.correlation_id = request.correlation_id;
  correlation.method = std::move(request.method);
  // The wall clock may step back between the two messages; a latency is never negative.
  correlation.latency_us = std::max<int64_t>(0, now_us - request.sent_at_us);
  correlation.request_skipped = request.capture_skipped;
  release(session_id, *session, slot);
  return correlation;
}

Correlation SessionTable::observe_notification(std::string_view session_id, Direction direction,
                                               const ClassifiedMessage& message) {
  if (message.method == kProgressMethod) return observe_progress(session_id, message);
  if (message.method == kCancelledMethod) {
    return observe_cancellation(session_id, direction, message);
  }
  Correlation correlation;
  correlation.method = message.method;
  return correlation;
}

Correlation SessionTable::observe_progress(std::string_view session_id,
                                           const ClassifiedMessage& message) {
  Correlation correlation;
  correlation.method = message.method;
  SessionState* session = find_session(session_id);
  if (!session || !message.progress_token) return correlation;
  auto token = session->progress_tokens.find(*message.progress_token);
  if (token != session->progress_tokens.end()) correlation.correlation_id = token->second;
  return correlation;
}

// A peer cancels a request it sent itself, so the request travelled the same way as the
// cancellation. The request is taken off the pending list: the MCP spec lets the receiver
// drop a cancelled request without ever answering it, and leaving it queued would pair its
// id's next response (ids are reused) with the wrong request. The cost: a response that
// races the cancellation arrives unpaired.
Correlation SessionTable::observe_cancellation(std::string_view session_id, Direction direction,
                                               const ClassifiedMessage& message) {
  Correlation correlation;
  correlation.method = message.method;
  SessionState* session = find_session(session_id);
  if (!session || !message.cancelled_request_id) return correlation;
  uint32_t slot = oldest_with_key(*session, {direction, *message.cancelled_request_id});
  if (slot == kNoSlot) return correlation;
  correlation.correlation_id = session->slots[slot].correlation_id;
  release(session_id, *session, slot);
  return correlation;
}

// Requests under one key are few (one, unless a peer reuses an id while it is pending), so
// walking them to the one with this correlation id is cheap.
void SessionTable::skip_capture(std::string_view session_id, RequestKeyView key,
                                const Uuid& correlation_id) {
  SessionState* session = find_session(session_id);
  if (!session) return;
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
  if (found == sessions_.end()) return;
  pending_total_ -= found->second.pending;
  sessions_.erase(found);
}

}  // namespace

struct Correlator::State {
  explicit State(size_t max_pending_per_session) : sessions(max_pending_per_session) {}
  SessionTable sessions;
};

Correlator::Correlator(size_t max_pending_per_session)
    : state_(std::make_unique<State>(max_pending_per_session)) {}

Correlator::~Correlator() = default;

Correlation Correlator::observe(std::string_view session_id, Direction direction,
                                const ClassifiedMessage& message, int64_t now_us) {
  SessionTable& sessions = state_->sessions;
  switch (message.kind) {
    case Kind::Request:
      return sessions.observe_request(session_id, direction, message, now_us);
    case Kind::Response:
    case Kind::Error:
      return sessions.observe_reply(session_id, direction, message, now_us);
    case Kind::Notification:
      return sessions.observe_notification(session_id, direction, message);
    case Kind::Batch:  // the caller observes each item instead
    case Kind::Invalid:
      break;
  }
  return {};
}

void Correlator::skip_capture(std::string_view session_id, Direction direction,
                              std::string_view id_text, const Uuid& correlation_id) {
  state_->sessions.skip_capture(session_id, {direction, id_text}, correlation_id);
}

void Correlator::forget_session(std::string_view session_id) {
  state_->sessions.forget(session_id);
}

size_t Correlator::pending_requests() const {
  return state_->sessions.pending();
}

}  // namespace mcptap::capture

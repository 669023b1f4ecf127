// Pairs responses with their requests, and progress/cancel notifications with what they
// refer to, per session. Ids may be reused: each (session, direction, id) keeps a FIFO.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/uuid.h"
#include "capture/jsonrpc.h"
#include "capture/record.h"

namespace mcptap::capture {

// What a pending request carries to its answer, progress and cancellation.
struct RequestContext {
  std::optional<base::Uuid> operation_id;  // when it continues an operation it did not start
  std::shared_ptr<const ClientIdentity> identity;  // who sent it; null when unknown
};

struct Correlation {
  std::optional<base::Uuid> correlation_id;
  std::optional<std::string> method;  // for responses/errors: the method of the request
  std::optional<int64_t> latency_us;  // for responses/errors: time since the request passed
  // For responses/errors: their request was left out of capture (see skip_capture), so
  // the answer is left out with it.
  bool request_skipped = false;
  // The operation of the request (its own correlation id when it started one), for
  // requests, replies, progress and cancellations that found it.
  std::optional<base::Uuid> operation_id;
  std::shared_ptr<const ClientIdentity> identity;  // the request's, when it had one
};

// What one correlator may hold. Session ids, ids, methods and progress tokens all come from
// the wire, so every dimension is bounded: a peer that never answers, or that invents a
// session per request, costs at most these. A pending request forgotten to stay within
// them leaves its answer unpaired (recorded, without correlation).
struct CorrelationLimits {
  size_t max_pending_per_session = 4096;
  size_t max_sessions = 10000;          // sessions with at least one request pending
  size_t max_bytes = size_t{32} << 20;  // estimated memory of all of it
  int64_t session_idle_timeout_us = int64_t{900} * 1000000;  // 0: never idle out
};

// Why pending requests were forgotten before their answer came.
enum class Eviction : uint8_t {
  Pending,   // the session reached max_pending_per_session: its oldest request went
  Sessions,  // max_sessions reached: the least recently used session went
  Bytes,     // max_bytes reached: least recently used sessions (then oldest requests) went
  Idle,      // the session saw nothing for session_idle_timeout_us
};
constexpr size_t kEvictionReasons = 4;
std::string_view to_string(Eviction reason);

struct CorrelatorStats {
  size_t sessions = 0;
  size_t pending = 0;
  size_t bytes = 0;  // estimate: strings, slots, table nodes
  size_t progress_tokens = 0;
  std::array<uint64_t, kEvictionReasons> evicted{};  // pending requests forgotten, by reason
};

class Correlator {
 public:
  explicit Correlator(CorrelationLimits limits = {});
  // Only the per-session bound given; the others keep their defaults.
  explicit Correlator(size_t max_pending_per_session);
  ~Correlator();

  // Observes one classified message (not a batch; the caller walks batch items) that
  // passed in `direction` at now_us. Requests get a fresh correlation id; responses and
  // errors travelling the opposite way take the oldest pending request with their id.
  // notifications/progress takes the id of the pending request that announced its token;
  // notifications/cancelled takes the id of the oldest pending request with its requestId
  // sent the same way, and retires that request. Batch and Invalid messages yield nothing.
  // now_us is also the clock of the idle timeout: sessions idle past it go first.
  // A request's context (operation, identity) travels with it to what refers to it.
  Correlation observe(std::string_view session_id, Direction direction,
                      const ClassifiedMessage& message, int64_t now_us,
                      const RequestContext& context = {});

  // An answer that HTTP pairs with the request of its exchange, its own id being null or
  // absent: takes the pending request with `request_id_text` as a reply would. Unlike a
  // reply paired by its id, it does not make the session a known one: servers answer a
  // request in a session they do not know exactly this way (404, id null).
  Correlation observe_exchange_answer(std::string_view session_id, Direction direction,
                                      std::string_view request_id_text, int64_t now_us);

  // Remembers that the pending request `correlation_id` (sent in `direction` with this id)
  // is not captured, for its answer to follow. Nothing happens when it is not pending.
  void skip_capture(std::string_view session_id, Direction direction, std::string_view id_text,
                    const base::Uuid& correlation_id);

  // Drops what a session still had pending (its connection is gone).
  void forget_session(std::string_view session_id);
  size_t pending_requests() const;
  const CorrelatorStats& stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mcptap::capture

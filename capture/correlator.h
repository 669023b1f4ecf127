// Pairs responses with their requests, and progress/cancel notifications with what they
// refer to, per session. Ids may be reused: each (session, direction, id) keeps a FIFO.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "capture/jsonrpc.h"
#include "capture/record.h"
#include "capture/uuid.h"

namespace mcptap::capture {

struct Correlation {
  std::optional<Uuid> correlation_id;
  std::optional<std::string> method;  // for responses/errors: the method of the request
  std::optional<int64_t> latency_us;  // for responses/errors: time since the request passed
  // For responses/errors: their request was left out of capture (see skip_capture), so
  // the answer is left out with it.
  bool request_skipped = false;
};

class Correlator {
 public:
  // Pending requests beyond the limit are forgotten oldest first, so a peer that never
  // answers cannot grow memory without bound.
  explicit Correlator(size_t max_pending_per_session = 4096);
  ~Correlator();

  // Observes one classified message (not a batch; the caller walks batch items) that
  // passed in `direction` at now_us. Requests get a fresh correlation id; responses and
  // errors travelling the opposite way take the oldest pending request with their id.
  // notifications/progress takes the id of the pending request that announced its token;
  // notifications/cancelled takes the id of the oldest pending request with its requestId
  // sent the same way, and retires that request. Batch and Invalid messages yield nothing.
  Correlation observe(std::string_view session_id, Direction direction,
                      const ClassifiedMessage& message, int64_t now_us);

  // Remembers that the pending request `correlation_id` (sent in `direction` with this id)
  // is not captured, for its answer to follow. Nothing happens when it is not pending.
  void skip_capture(std::string_view session_id, Direction direction, std::string_view id_text,
                    const Uuid& correlation_id);

  // Drops what a session still had pending (its connection is gone).
  void forget_session(std::string_view session_id);
  size_t pending_requests() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mcptap::capture

// The bounded table behind OperationLinker (internal to capture/): every operation that may
// span several exchanges, in two use lists (closed operations first to go, then the least
// recently active open ones), and the indexes that find an operation from what a later
// message names: a requestState digest, a task id, a listen's (session, subscription id), a
// retry's client + method + name. Every index entry belongs to exactly one operation and is
// erased with it, so the bounds of OperationLimits (operations, estimated bytes, idle time)
// cover everything, and each operation holds at most a few entries of each index.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/string_hash.h"
#include "base/uuid.h"
#include "capture/operation_facts.h"
#include "capture/operation_linker.h"

namespace mcptap::capture {

class OperationTable {
 public:
  // The first 128 bits of a requestState's SHA-256.
  using Digest = std::array<uint8_t, 16>;
  struct Operation;
  using Node = std::pair<const base::Uuid, Operation>;

  // One logical operation: what its summary needs, and the index keys it owns.
  struct Operation {
    Node* used_before = nullptr;  // its neighbours in its use list
    Node* used_after = nullptr;
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

  explicit OperationTable(const OperationLimits& limits) : limits_(limits) {}
  OperationTable(const OperationTable&) = delete;
  OperationTable& operator=(const OperationTable&) = delete;

  const OperationLimits& limits() const { return limits_; }
  const OperationStats& stats() const { return stats_; }
  void count_unlinked(Unlinked reason) { ++stats_.unlinked[static_cast<size_t>(reason)]; }
  int64_t now_us() const { return now_us_; }

  // ---- the table and its use order ------------------------------------------------------
  Node* find(const base::Uuid& id);
  Node& create(const base::Uuid& id, const OperationRequest& request);
  void touch(Node& node, int64_t at_us);
  void close(Node& node);
  // Recomputes its byte estimate after a change; every change is followed by one.
  void refresh(Node& node);
  void erase(Node& node);
  bool owns_index_entries(const Operation& op) const {
    return !op.states.empty() || !op.tasks.empty() || op.listening || op.awaiting_input;
  }

  // ---- bounds -------------------------------------------------------------------------
  // Moves the clock (it never goes back) and expires operations idle past the timeout.
  void advance(int64_t at_us);
  void enforce_bounds(Node* current);

  // ---- indexes ------------------------------------------------------------------------
  std::optional<base::Uuid> find_by_state(std::string_view request_state_sha256) const;
  std::optional<base::Uuid> find_by_task(std::string_view task_id) const;
  std::optional<base::Uuid> find_listen(std::string_view session_id,
                                        std::string_view id_text) const;
  std::vector<base::Uuid> listens_of(std::string_view session_id) const;
  void add_state(Node& node, std::string_view request_state_sha256);
  void add_task(Node& node, std::string_view task_id, bool takes_over);
  void add_listen(Node& node, std::string_view session_id, std::string_view id_text);
  void drop_listen(Node& node);
  void await_input(Node& node, int64_t at_us, const std::vector<InputAsked>& asked);
  void stop_awaiting(Node& node);
  void add_inputs(Operation& op, const OperationFacts& facts);
  LinkedOperation heuristic_link(const OperationRequest& request);

 private:
  struct UuidHash {
    // The last 8 bytes of a UUIDv7 are random; the first ones are a clock.
    size_t operator()(const base::Uuid& id) const {
      uint64_t bits = 0;
      std::memcpy(&bits, id.bytes.data() + 8, sizeof bits);
      return std::hash<uint64_t>{}(bits);
    }
  };

  struct DigestHash {
    size_t operator()(const Digest& digest) const {
      uint64_t bits = 0;
      std::memcpy(&bits, digest.data(), sizeof bits);
      return static_cast<size_t>(bits);
    }
  };

  // Operations of one kind, least recently active first.
  struct UseList {
    Node* least = nullptr;
    Node* most = nullptr;
  };

  struct Candidates {
    std::vector<base::Uuid> operations;
    bool crowded = false;  // more than kMaxHeuristicCandidates wanted in
  };

  template <class Value>
  using ByText = std::unordered_map<std::string, Value, base::StringHash, std::equal_to<>>;

  static size_t operation_bytes(const Operation& op);
  UseList& list_of(const Operation& op) { return op.closed ? closed_ : open_; }
  void unlink_use(Node& node);
  void link_most(Node& node);
  void expire_idle();
  Node* victim(const Node* keep);
  void evict(Node& node, OperationEviction reason);

  OperationLimits limits_;
  OperationStats stats_;
  int64_t now_us_ = 0;
  std::unordered_map<base::Uuid, Operation, UuidHash> operations_;
  // Closed operations go before open ones: they are only kept for late polls and retries.
  UseList closed_;
  UseList open_;
  std::unordered_map<Digest, base::Uuid, DigestHash> by_state_;
  ByText<base::Uuid> by_task_;
  ByText<base::Uuid> listens_;
  ByText<std::vector<base::Uuid>> listens_by_session_;
  ByText<Candidates> awaiting_;
};

}  // namespace mcptap::capture

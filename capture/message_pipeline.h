// From a complete message to a record: parse, classify, correlate, redact, hand to the sink.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "capture/capture_budget.h"
#include "capture/capture_rate.h"
#include "capture/correlator.h"
#include "capture/json_bounded.h"
#include "capture/jsonrpc_envelope.h"
#include "capture/operation_linker.h"
#include "capture/record.h"
#include "capture/redactor.h"
#include "capture/session_identities.h"
#include "capture/standard_headers.h"

namespace mcptap::capture {

struct CaptureOptions {
  uint64_t max_payload_bytes = 16u << 20;  // per message; past it the record is truncated
  int max_json_depth = kDefaultMaxJsonDepth;
  size_t max_pending_requests_per_session = 4096;
  CaptureBudgetLimits budget;  // capture.max_*_per_second: every route's default
  // Correlation state of a route, across all its connections (HTTP sessions span them).
  size_t max_sessions = 10000;
  size_t max_correlation_bytes = size_t{32} << 20;
  int64_t session_idle_timeout_s = 900;  // 0: sessions never idle out
  // Operation linking state of a route (retries, tasks, subscriptions).
  size_t max_operations = 50000;
  size_t max_operation_bytes = size_t{16} << 20;
  int64_t operation_idle_timeout_s = 3600;  // 0: operations never idle out
  int64_t retry_link_window_s = 300;        // a retry without requestState links within it
};

// The single request an HTTP exchange carried: what the server sends back on that exchange
// answers it, whatever id (or none) the answer has.
struct RequestRef {
  std::string id_text;  // JSON text of the request's id
  std::string session_id;
  std::string method;
  base::Uuid correlation_id;
  base::Uuid operation_id;
};

// An HTTP error answer whose body is not JSON-RPC (a 401 with an HTML page, a 502).
struct HttpErrorBody {
  std::string_view excerpt;  // the first bytes of the decoded body
  uint64_t body_bytes = 0;   // the whole decoded body
  bool excerpt_truncated = false;
};
constexpr size_t kHttpErrorExcerptBytes = 1024;

// A message as a transport decoder delivers it.
struct CapturedMessage {
  Direction direction = Direction::ClientToServer;
  Transport transport = Transport::Tcp;
  std::string_view session_id;  // empty: the connection id
  std::string_view payload;     // at most max_payload_bytes of the message
  uint64_t size = 0;            // full size on the wire (after WebSocket decompression)
  bool truncated = false;
  std::string_view sha256_hex;                     // of the full message, when truncated
  nlohmann::json meta = nlohmann::json::object();  // transport details
  int64_t passed_at_us = 0;                        // when its last byte passed; 0 means now
  const nlohmann::json* tls = nullptr;             // the connection's meta.tls; null: no TLS
  // HTTP only. The request's standard headers (null: none, or not HTTP).
  const StandardHeaders* headers = nullptr;
  // The request of the HTTP exchange this message came back on (a response body or an SSE
  // event of its stream); null otherwise.
  const RequestRef* answers = nullptr;
  int http_status = 0;  // the status of the HTTP answer that carried it; 0: not one
};

// Counters of one route's capture, read for status and metrics (loop thread only).
struct CaptureCounters {
  uint64_t messages[2] = {0, 0};   // seen while capture was on, by Direction
  uint64_t captured = 0;           // records handed to the sink
  uint64_t dropped = 0;            // records the sink refused (spool or queue full)
  uint64_t invalid = 0;            // records of kind invalid
  uint64_t redacted = 0;           // records with at least one value replaced
  uint64_t filtered = 0;           // left out by the sample rate or the method filter
  uint64_t budget_skipped = 0;     // exchanges (and lone messages) past the volume budget
  uint64_t header_mismatches = 0;  // requests whose standard headers disagree with the body
};

// What a route captures, switchable at runtime.
struct CaptureSwitch {
  bool enabled = true;
  double sample = 1.0;               // fraction of exchanges kept, 0..1
  std::vector<std::string> methods;  // only these methods (responses: their request's); empty = all

  // A request and its response share a correlation id, so sampling on it keeps or drops
  // whole exchanges; uncorrelated messages sample on their own id.
  bool admits(const Record& record) const;
};

// One per route, shared by its connections: HTTP sessions span connections, so the
// correlator lives here rather than in a connection.
class MessagePipeline {
 public:
  MessagePipeline(std::string route, CaptureOptions options, const Redactor& redactor,
                  RecordConsumer& consumer);

  const std::string& route() const { return route_; }
  const CaptureOptions& options() const { return options_; }
  const Redactor& redactor() const { return redactor_; }
  bool enabled() const { return switch_.enabled; }
  void set_enabled(bool enabled) { switch_.enabled = enabled; }
  const CaptureSwitch& capture_switch() const { return switch_; }
  void set_capture_switch(CaptureSwitch value) { switch_ = std::move(value); }
  const CaptureCounters& counters() const { return counters_; }
  const CaptureBudgetLimits& budget() const { return budget_.limits(); }
  // Applies from the next exchange on; exchanges already decided keep their decision.
  void set_budget(const CaptureBudgetLimits& limits) { budget_.set_limits(limits, clock_()); }
  // Rows and bytes handed to the sink per second, over the last few seconds.
  CaptureRates rates() const { return rates_.rates(clock_()); }
  // Where budgets and rates read the time (tests move it by hand).
  void set_clock(int64_t (*clock)());
  const CorrelatorStats& correlation_stats() const { return correlator_.stats(); }
  const OperationStats& operation_stats() const { return linker_.stats(); }
  // Sees every record just before it goes to the sink (live tail, latency metrics).
  void set_record_observer(std::function<void(const Record&)> observer) {
    record_observer_ = std::move(observer);
  }

  // Returns the request when the message was one single request (HTTP pairs what comes
  // back on its exchange with it).
  std::optional<RequestRef> submit(std::string_view connection_id, CapturedMessage&& message);
  // An HTTP error answer whose body is not JSON-RPC: one record of kind error, paired with
  // `answers` when there is one. message.meta holds meta.http; its payload is ignored.
  void submit_http_error(std::string_view connection_id, CapturedMessage&& message,
                         const HttpErrorBody& body);
  // Capture of a stream stopped (a decoder refused its bytes): one invalid record says why.
  void submit_failure(std::string_view connection_id, std::string_view session_id,
                      Transport transport, Direction direction, std::string_view reason);
  void forget_session(std::string_view session_id);
  // Records submitted in between are stored together (one write) when the batch ends: see
  // DeliveryBatch. The consumer is only held once a record comes, so bytes that complete
  // none (most reads, and every read while capture is off) cost it nothing.
  void hold_deliveries() { ++batch_depth_; }
  void release_deliveries();

 private:
  // How a record stands to the budget, found while correlating it.
  struct Exchange {
    enum class Role {
      OnItsOwn,        // a request, notification or unpaired message: charged on its own
      AnswersKept,     // answers a captured request: kept and charged whatever the budget
      AnswersSkipped,  // answers a request left out: left out too
    };
    Role role = Role::OnItsOwn;
    // The requests of a batch (id text, correlation id), left out with it if it is.
    std::vector<std::pair<std::string, base::Uuid>> batch_requests;
    // The message was one single request: what HTTP pairs its exchange's answers with.
    std::optional<RequestRef> request;
  };

  // Where a message came from, beyond its bytes: what classification and linking read.
  struct Source {
    std::string_view session_id;
    const StandardHeaders* headers = nullptr;
    const RequestRef* answers = nullptr;
    int http_status = 0;
    // The envelope's digest of the requestState (the document path hashes it itself).
    const std::optional<std::string>* request_state_sha256 = nullptr;
    bool whole_document = false;  // the document is the whole message, not its envelope
    std::string_view payload;     // the message's text
  };

  Record make_record(std::string_view connection_id, const CapturedMessage& message) const;
  // Classifies, correlates and redacts a whole (not truncated) JSON payload into record.
  void capture_json(Record& record, std::string_view payload, const CapturedMessage& message,
                    nlohmann::json& meta, Exchange& exchange);
  void classify_and_correlate(Record& record, const nlohmann::json& document, const Source& source,
                              nlohmann::json& meta, Exchange& exchange);
  // The columns a correlation fills in, and how the record stands to the budget.
  void apply_correlation(Record& record, const ClassifiedMessage& classified, const Correlation& c,
                         nlohmann::json& meta, Exchange& exchange);
  void classify_batch(Record& record, const ClassifiedMessage& classified,
                      std::string_view session_id, nlohmann::json& meta, Exchange& exchange);
  // The operation steps (message_operations.cpp): one request, answer or notification.
  Correlation observe_request(Record& record, const ClassifiedMessage& message,
                              const Source& source, const nlohmann::json& document,
                              nlohmann::json& meta);
  Correlation observe_answer(Record& record, const ClassifiedMessage& message, const Source& source,
                             const nlohmann::json& document, nlohmann::json& meta);
  Correlation observe_notification(Record& record, const ClassifiedMessage& message,
                                   const Source& source, nlohmann::json& meta);
  void learn_tool_headers(const Source& source, const nlohmann::json& document);
  std::shared_ptr<const ClientIdentity> identity_of(const OperationFacts& facts,
                                                    std::string_view session_id);
  void deliver(Record&& record, const Exchange& exchange);
  bool within_budget(const Record& record, const Exchange& exchange, int64_t now_us);
  static void copy_request_meta(const nlohmann::json& document, nlohmann::json& meta);

  std::string route_;
  CaptureOptions options_;
  const Redactor& redactor_;
  RecordConsumer& consumer_;
  int batch_depth_ = 0;
  bool consumer_held_ = false;  // consumer_.hold() called for the current batch
  Correlator correlator_;
  OperationLinker linker_;
  SessionIdentities identities_;
  ToolHeaderMap tool_headers_;
  CaptureCounters counters_;
  CaptureSwitch switch_;
  int64_t (*clock_)() = base::monotonic_now_us;
  CaptureBudget budget_;
  CaptureRateWindow rates_;
  base::LogRateLimiter budget_log_{10000};
  std::function<void(const Record&)> record_observer_;
};

// The records one chunk of bytes completes are stored with one write, before the chunk is
// forwarded (the scope ends inside the tap's on_bytes).
class DeliveryBatch {
 public:
  explicit DeliveryBatch(MessagePipeline& pipeline) : pipeline_(pipeline) {
    pipeline_.hold_deliveries();
  }
  ~DeliveryBatch() { pipeline_.release_deliveries(); }
  DeliveryBatch(const DeliveryBatch&) = delete;
  DeliveryBatch& operator=(const DeliveryBatch&) = delete;

 private:
  MessagePipeline& pipeline_;
};

}  // namespace mcptap::capture

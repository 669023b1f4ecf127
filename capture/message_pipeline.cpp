// The per-message capture steps shared by every transport.
#include "capture/message_pipeline.h"

#include <time.h>

#include <algorithm>

#include "base/clock.h"
#include "base/json_text.h"

namespace mcptap::capture {

MessagePipeline::MessagePipeline(std::string route, CaptureOptions options,
                                 const Redactor& redactor, RecordConsumer& consumer)
    : route_(std::move(route)),
      options_(options),
      redactor_(redactor),
      consumer_(consumer),
      correlator_(
          CorrelationLimits{.max_pending_per_session = options.max_pending_requests_per_session,
                            .max_sessions = options.max_sessions,
                            .max_bytes = options.max_correlation_bytes,
                            .session_idle_timeout_us = options.session_idle_timeout_s * 1000000}),
      linker_(OperationLimits{.max_operations = options.max_operations,
                              .max_bytes = options.max_operation_bytes,
                              .idle_timeout_us = options.operation_idle_timeout_s * 1000000,
                              .retry_window_us = options.retry_link_window_s * 1000000}),
      identities_(options.max_sessions),
      budget_(options.budget, clock_()),
      rates_(clock_()) {}

void MessagePipeline::set_clock(int64_t (*clock)()) {
  clock_ = clock;
  budget_ = CaptureBudget(budget_.limits(), clock_());
  rates_ = CaptureRateWindow(clock_());
}

Record MessagePipeline::make_record(std::string_view connection_id,
                                    const CapturedMessage& message) const {
  Record record;
  record.id = base::Uuid::v7();
  record.captured_at_us = message.passed_at_us ? message.passed_at_us : base::unix_now_us();
  record.route = route_;
  record.connection_id = connection_id;
  record.session_id = message.session_id.empty() ? connection_id : message.session_id;
  record.transport = message.transport;
  record.direction = message.direction;
  record.payload_bytes = static_cast<int64_t>(message.size);
  record.truncated = message.truncated;
  return record;
}

bool CaptureSwitch::admits(const Record& record) const {
  if (!methods.empty()) {
    if (!record.method) return false;
    if (std::find(methods.begin(), methods.end(), *record.method) == methods.end()) return false;
  }
  if (sample >= 1.0) return true;
  if (sample <= 0.0) return false;
  // The random tail of a UUIDv7 is uniform: its first 8 bytes as a fraction of 2^64.
  const base::Uuid& key = record.correlation_id ? *record.correlation_id : record.id;
  uint64_t bits = 0;
  for (int i = 8; i < 16; ++i) bits = bits << 8 | key.bytes[i];
  return static_cast<double>(bits & ~(uint64_t{0xC0} << 56)) /
             static_cast<double>(uint64_t{1} << 62) <
         sample;
}

std::optional<RequestRef> MessagePipeline::submit(std::string_view connection_id,
                                                  CapturedMessage&& message) {
  if (!switch_.enabled) return std::nullopt;
  ++counters_.messages[static_cast<int>(message.direction)];
  Record record = make_record(connection_id, message);
  Exchange exchange;
  nlohmann::json& meta = message.meta;
  if (message.truncated) {
    // A cut message is not JSON any more; its full size and hash still identify it.
    meta["full_size"] = message.size;
    meta["sha256"] = message.sha256_hex;
    meta["reason"] = "payload larger than capture.max_payload_bytes";
    record.kind = Kind::Invalid;
  } else {
    capture_json(record, message.payload, message, meta, exchange);
  }
  if (message.tls != nullptr) meta["tls"] = *message.tls;
  record.meta_json = base::json_text(meta);
  deliver(std::move(record), exchange);
  return std::move(exchange.request);
}

void MessagePipeline::capture_json(Record& record, std::string_view payload,
                                   const CapturedMessage& message, nlohmann::json& meta,
                                   Exchange& exchange) {
  Source source{.session_id = record.session_id,
                .headers = message.headers,
                .answers = message.answers,
                .http_status = message.http_status,
                .payload = payload};
  // Most messages hold no secret: the envelope alone classifies them, and the text as it
  // came is the payload — no document of the arguments or results is ever built. Integers
  // past 64 bits also reach jsonb with every digit (a document holds them as doubles).
  // Mcp-Param-* headers are judged against the arguments, which only the whole document has.
  const bool arguments_needed = message.headers != nullptr && !message.headers->params.empty();
  auto envelope = arguments_needed
                      ? std::nullopt
                      : read_jsonrpc_envelope(payload, options_.max_json_depth, redactor_);
  if (envelope && !envelope->needs_redaction) {
    source.request_state_sha256 = &envelope->request_state_sha256;
    classify_and_correlate(record, envelope->document, source, meta, exchange);
    copy_request_meta(envelope->document, meta);
    record.payload = std::string(payload);
    return;
  }
  // Something to redact, or text the envelope left: the whole document, which also says
  // why a text is not JSON.
  base::Result<nlohmann::json> document = parse_json_bounded(payload, options_.max_json_depth);
  if (!document) {
    record.kind = Kind::Invalid;
    meta["reason"] = document.error().message;
    return;
  }
  source.whole_document = true;
  classify_and_correlate(record, *document, source, meta, exchange);
  record.redacted = redactor_.redact_json(*document);
  copy_request_meta(*document, meta);
  record.payload = record.redacted ? base::json_text(*document) : std::string(payload);
}

void MessagePipeline::classify_and_correlate(Record& record, const nlohmann::json& document,
                                             const Source& source, nlohmann::json& meta,
                                             Exchange& exchange) {
  ClassifiedMessage classified = classify_jsonrpc(document);
  if (source.request_state_sha256 != nullptr && *source.request_state_sha256) {
    classified.facts.request_state_sha256 = *source.request_state_sha256;
  }
  if (classified.kind == Kind::Batch) {
    record.kind = Kind::Batch;
    classify_batch(record, classified, source.session_id, meta, exchange);
    return;
  }
  Correlation c;
  switch (classified.kind) {
    case Kind::Request:
      c = observe_request(record, classified, source, document, meta);
      break;
    case Kind::Notification:
      c = observe_notification(record, classified, source, meta);
      break;
    case Kind::Response:
    case Kind::Error:
    case Kind::Invalid:
      // An HTTP answer that is not a JSON-RPC response to an id may still answer the
      // exchange's request.
      c = observe_answer(record, classified, source, document, meta);
      break;
    case Kind::Batch:
      break;
  }
  if (record.kind == Kind::Invalid) return;
  apply_correlation(record, classified, c, meta, exchange);
  if (record.kind == Kind::Request && classified.id_text && c.correlation_id) {
    exchange.request = RequestRef{.id_text = *classified.id_text,
                                  .session_id = std::string(source.session_id),
                                  .method = classified.method.value_or(std::string()),
                                  .correlation_id = *c.correlation_id,
                                  .operation_id = c.operation_id.value_or(*c.correlation_id)};
  }
}

void MessagePipeline::apply_correlation(Record& record, const ClassifiedMessage& classified,
                                        const Correlation& c, nlohmann::json& meta,
                                        Exchange& exchange) {
  record.jsonrpc_id = classified.id_text;
  record.method = c.method ? c.method : classified.method;
  record.correlation_id = c.correlation_id;
  record.latency_us = c.latency_us;
  record.operation_id = c.operation_id;
  if (classified.tool_error) {
    // Whatever the request's method: a reply whose request was not seen is still a failure.
    record.tool_error = true;
    meta["tool_error"] = true;
  }
  bool answer = record.kind == Kind::Response || record.kind == Kind::Error;
  if (answer && c.correlation_id) {
    exchange.role =
        c.request_skipped ? Exchange::Role::AnswersSkipped : Exchange::Role::AnswersKept;
  }
}

void MessagePipeline::classify_batch(Record& record, const ClassifiedMessage& classified,
                                     std::string_view session_id, nlohmann::json& meta,
                                     Exchange& exchange) {
  // One row for the batch; each element is still correlated, and listed in meta. The row
  // is kept with any captured request it answers, and left out when all it answers were.
  // Operations are not linked inside batches: the revisions that have them have no batches.
  nlohmann::json items = nlohmann::json::array();
  bool answers_kept = false;
  bool answers_skipped = false;
  for (const ClassifiedMessage& item : classified.batch_items) {
    Correlation c = correlator_.observe(session_id, record.direction, item, record.captured_at_us);
    bool answer = item.kind == Kind::Response || item.kind == Kind::Error;
    if (answer && c.correlation_id) (c.request_skipped ? answers_skipped : answers_kept) = true;
    if (item.kind == Kind::Request && item.id_text && c.correlation_id) {
      exchange.batch_requests.emplace_back(*item.id_text, *c.correlation_id);
    }
    nlohmann::json entry = {{"kind", to_string(item.kind)}};
    if (item.id_text) entry["jsonrpc_id"] = *item.id_text;
    if (c.method) entry["method"] = *c.method;
    if (c.correlation_id) entry["correlation_id"] = c.correlation_id->to_string();
    if (c.latency_us) entry["latency_us"] = *c.latency_us;
    if (item.tool_error) entry["tool_error"] = true;
    items.push_back(std::move(entry));
  }
  meta["batch"] = std::move(items);
  if (answers_kept) {
    exchange.role = Exchange::Role::AnswersKept;
  } else if (answers_skipped && exchange.batch_requests.empty()) {
    exchange.role = Exchange::Role::AnswersSkipped;
  }
}

void MessagePipeline::copy_request_meta(const nlohmann::json& document, nlohmann::json& meta) {
  // Stateless MCP (2026-07-28) carries the protocol version, client info and trace context
  // in params._meta rather than in a session: meta keeps them where queries expect them.
  if (!document.is_object()) return;
  auto params = document.find("params");
  if (params == document.end() || !params->is_object()) return;
  auto request_meta = params->find("_meta");
  if (request_meta == params->end() || !request_meta->is_object()) return;
  constexpr size_t kMaxEntries = 32;
  nlohmann::json kept = nlohmann::json::object();
  for (auto it = request_meta->begin(); it != request_meta->end() && kept.size() < kMaxEntries;
       ++it) {
    if (it.key() != "progressToken") kept[it.key()] = it.value();
  }
  if (!kept.empty()) meta["_meta"] = std::move(kept);
}

void MessagePipeline::submit_failure(std::string_view connection_id, std::string_view session_id,
                                     Transport transport, Direction direction,
                                     std::string_view reason) {
  if (!switch_.enabled) return;
  CapturedMessage message;
  message.direction = direction;
  message.transport = transport;
  message.session_id = session_id;
  Record record = make_record(connection_id, message);
  record.kind = Kind::Invalid;
  // The reason may quote a peer's bytes.
  record.meta_json = base::json_text({{"reason", reason}, {"capture", "stopped"}});
  deliver(std::move(record), Exchange{});
}

void MessagePipeline::deliver(Record&& record, const Exchange& exchange) {
  if (record.kind != Kind::Invalid && !switch_.admits(record)) {
    ++counters_.filtered;
    return;
  }
  const int64_t now_us = clock_();
  if (!within_budget(record, exchange, now_us)) return;
  if (record_observer_) record_observer_(record);
  if (record.kind == Kind::Invalid) ++counters_.invalid;
  if (record.redacted) ++counters_.redacted;
  if (batch_depth_ > 0 && !consumer_held_) {
    consumer_.hold();
    consumer_held_ = true;
  }
  const auto bytes = static_cast<uint64_t>(record.payload_bytes);
  if (consumer_.consume(std::move(record))) {
    ++counters_.captured;
    rates_.add(bytes, now_us);
  } else {
    ++counters_.dropped;
  }
}

// The decision is taken once per exchange, when its request is seen (after the sample rate
// and method filter, so what they leave out costs nothing); its answer follows it.
bool MessagePipeline::within_budget(const Record& record, const Exchange& exchange,
                                    int64_t now_us) {
  const auto bytes = static_cast<uint64_t>(record.payload_bytes);
  switch (exchange.role) {
    case Exchange::Role::AnswersSkipped:
      return false;  // counted once, when its request was left out
    case Exchange::Role::AnswersKept:
      budget_.charge(bytes, now_us);
      return true;
    case Exchange::Role::OnItsOwn:
      break;
  }
  if (budget_.admit(bytes, now_us)) return true;
  ++counters_.budget_skipped;
  if (record.kind == Kind::Request && record.jsonrpc_id && record.correlation_id) {
    correlator_.skip_capture(record.session_id, record.direction, *record.jsonrpc_id,
                             *record.correlation_id);
  }
  for (const auto& [id_text, correlation_id] : exchange.batch_requests) {
    correlator_.skip_capture(record.session_id, record.direction, id_text, correlation_id);
  }
  if (uint64_t suppressed = 0; budget_log_.allow(&suppressed)) {
    const CaptureBudgetLimits& limits = budget_.limits();
    base::log_warn("capture budget exceeded: exchanges are not captured (forwarding goes on)",
                   {{"route", route_},
                    {"skipped_total", counters_.budget_skipped},
                    {"max_messages_per_second", limits.max_messages_per_second},
                    {"max_bytes_per_second", limits.max_bytes_per_second}});
  }
  return false;
}

void MessagePipeline::release_deliveries() {
  if (--batch_depth_ > 0 || !consumer_held_) return;
  consumer_held_ = false;
  consumer_.release();
}

void MessagePipeline::forget_session(std::string_view session_id) {
  correlator_.forget_session(session_id);
  linker_.forget_session(session_id);
  identities_.forget(session_id);
}

}  // namespace mcptap::capture

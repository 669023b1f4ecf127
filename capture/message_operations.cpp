// The operation step of the pipeline: which operation each message belongs to, who sent it,
// and what it says about the operation (result type, error name, the standard headers).
// Requests open or continue operations; answers, progress and cancellations take their
// request's through the correlator; other notifications ask the linker.
#include <string>

#include "base/json_text.h"
#include "capture/message_pipeline.h"

namespace mcptap::capture {
namespace {

constexpr std::string_view kNullId = "null";

bool answers_without_id(const ClassifiedMessage& message) {
  return !message.id_text || *message.id_text == kNullId;
}

// An answer's kind when the exchange pairs it: JSON-RPC-shaped replies keep theirs, and any
// other JSON an HTTP error carries is an error.
Kind kind_paired_by_exchange(const ClassifiedMessage& message, const nlohmann::json& document,
                             int http_status) {
  if (message.kind == Kind::Response || message.kind == Kind::Error) return message.kind;
  if (document.is_object() && !document.contains("method")) {
    if (document.contains("error")) return Kind::Error;
    if (document.contains("result")) return Kind::Response;
  }
  return http_status >= 400 ? Kind::Error : Kind::Invalid;
}

// The excerpt ends where the byte budget did, maybe inside a character: that partial
// character goes (it would otherwise be written as U+FFFD, longer than the budget).
std::string_view without_partial_last_character(std::string_view text) {
  size_t lead = text.size();
  size_t continuation = 0;
  while (lead > 0 && continuation < 3 &&
         (static_cast<unsigned char>(text[lead - 1]) & 0xC0) == 0x80) {
    --lead;
    ++continuation;
  }
  if (lead == 0) return text;
  const auto first = static_cast<unsigned char>(text[lead - 1]);
  size_t length = first >= 0xF0 ? 4 : first >= 0xE0 ? 3 : first >= 0xC0 ? 2 : 1;
  return continuation + 1 < length ? text.substr(0, lead - 1) : text;
}

std::string client_key(const ClientIdentity* identity, std::string_view session_id) {
  if (identity == nullptr || identity->client_name.empty()) return std::string(session_id);
  return identity->client_name + '\n' + identity->client_version;
}

}  // namespace

std::shared_ptr<const ClientIdentity> MessagePipeline::identity_of(const OperationFacts& facts,
                                                                   std::string_view session_id) {
  // 2026-07-28 requests say who they are in their own _meta; earlier ones said it once, in
  // initialize, for their session.
  if (!facts.identity.empty()) return identities_.intern(facts.identity);
  return identities_.find(session_id);
}

Correlation MessagePipeline::observe_request(Record& record, const ClassifiedMessage& message,
                                             const Source& source, const nlohmann::json& document,
                                             nlohmann::json& meta) {
  record.kind = Kind::Request;
  const OperationFacts& facts = message.facts;
  const std::string method = message.method.value_or(std::string());
  if (method == "initialize") identities_.remember(source.session_id, facts.identity);
  std::shared_ptr<const ClientIdentity> identity = identity_of(facts, source.session_id);
  const std::string key = client_key(identity.get(), source.session_id);
  const std::string id_text = message.id_text.value_or(std::string());
  const OperationRequest request{.session_id = source.session_id,
                                 .id_text = id_text,
                                 .method = method,
                                 .client_key = key,
                                 .facts = facts,
                                 .at_us = record.captured_at_us};
  LinkedOperation linked = linker_.link_request(request);
  Correlation c =
      correlator_.observe(source.session_id, record.direction, message, record.captured_at_us,
                          RequestContext{linked.operation_id, identity});
  if (c.operation_id) linker_.on_request(*c.operation_id, request);
  if (linked.link != OperationLink::None) meta["operation_link"] = to_string(linked.link);
  if (identity && method != "initialize" && identities_.find(source.session_id) != identity) {
    // What the server sends on this session (notifications, its own requests) answers the
    // client whose requests name themselves in _meta: the latest one speaks for it.
    identities_.remember(source.session_id, *identity);
  }
  if (source.headers != nullptr) {
    std::vector<HeaderMismatch> mismatches = check_standard_headers(
        *source.headers, method, facts, source.whole_document ? &document : nullptr, tool_headers_);
    if (!mismatches.empty()) {
      // The values quote the request: a token in a header is still a token.
      nlohmann::json listed = to_meta(mismatches);
      redactor_.redact_json(listed);
      meta["header_mismatch"] = std::move(listed);
      ++counters_.header_mismatches;
    }
  }
  if (identity) write_identity_meta(*identity, meta);
  return c;
}

Correlation MessagePipeline::observe_answer(Record& record, const ClassifiedMessage& message,
                                            const Source& source, const nlohmann::json& document,
                                            nlohmann::json& meta) {
  record.kind = message.kind;
  Correlation c;
  std::string_view session_id = source.session_id;
  const bool paired_by_exchange = source.answers != nullptr && answers_without_id(message);
  if (paired_by_exchange) {
    // HTTP pairs an answer with the request of its exchange, whatever id it carries: a
    // server that rejects a request (a 403 for a bad Host) often cannot say its id.
    record.kind = kind_paired_by_exchange(message, document, source.http_status);
    if (record.kind == Kind::Invalid) {
      meta["reason"] = message.invalid_reason;
      return c;
    }
    session_id = source.answers->session_id;
    c = correlator_.observe_exchange_answer(session_id, record.direction, source.answers->id_text,
                                            record.captured_at_us);
    // A request the correlator had to forget still names what this answers.
    if (!c.method) c.method = source.answers->method;
    if (!c.operation_id) c.operation_id = source.answers->operation_id;
    meta["paired_by"] = "http_exchange";
    if (message.kind == Kind::Invalid) {
      meta["reason"] = "HTTP " + std::to_string(source.http_status) +
                       " answer is not a JSON-RPC message: " + message.invalid_reason;
    }
  } else if (message.kind == Kind::Invalid) {
    meta["reason"] = message.invalid_reason;
    return c;
  } else {
    c = correlator_.observe(session_id, record.direction, message, record.captured_at_us);
  }

  const OperationFacts& facts = message.facts;
  const std::string method = c.method.value_or(std::string());
  if (c.operation_id) {
    std::optional<OperationSummary> summary =
        linker_.on_answer(OperationAnswer{.operation_id = *c.operation_id,
                                          .request_method = method,
                                          .facts = facts,
                                          .is_error = record.kind == Kind::Error,
                                          .at_us = record.captured_at_us});
    if (summary) meta["operation"] = to_meta(*summary);
  }
  if (record.kind == Kind::Response && facts.result_type) meta["result_type"] = *facts.result_type;
  if (record.kind == Kind::Error && facts.error_code) {
    std::string_view name = error_code_name(*facts.error_code);
    if (!name.empty()) meta["error_name"] = name;
  }
  if (record.kind == Kind::Response && method == "tools/list") learn_tool_headers(source, document);

  std::shared_ptr<const ClientIdentity> identity = std::move(c.identity);
  if (method == "initialize" && !facts.identity.protocol_version.empty()) {
    // The answer says which version was negotiated, for the rest of the session.
    ClientIdentity negotiated;
    negotiated.protocol_version = facts.identity.protocol_version;
    identities_.remember(session_id, negotiated);
    identity = identities_.find(session_id);
  } else if (!identity) {
    identity = identities_.find(session_id);
  }
  if (identity) write_identity_meta(*identity, meta);
  return c;
}

Correlation MessagePipeline::observe_notification(Record& record, const ClassifiedMessage& message,
                                                  const Source& source, nlohmann::json& meta) {
  record.kind = Kind::Notification;
  Correlation c =
      correlator_.observe(source.session_id, record.direction, message, record.captured_at_us);
  if (c.operation_id) {
    // A cancelled subscriptions/listen (stdio, WebSocket) ends its stream.
    if (message.cancelled_request_id) linker_.end_stream(*c.operation_id);
  } else {
    const base::Uuid* stream_operation =
        source.answers != nullptr ? &source.answers->operation_id : nullptr;
    LinkedOperation linked =
        linker_.link_notification(source.session_id, message.facts, stream_operation);
    c.operation_id = linked.operation_id;
    if (linked.link != OperationLink::None) meta["operation_link"] = to_string(linked.link);
  }
  std::shared_ptr<const ClientIdentity> identity =
      c.identity ? std::move(c.identity) : identity_of(message.facts, source.session_id);
  if (identity) write_identity_meta(*identity, meta);
  return c;
}

void MessagePipeline::learn_tool_headers(const Source& source, const nlohmann::json& document) {
  // Which arguments a tool mirrors into Mcp-Param-* headers is in its inputSchema, which
  // the envelope leaves out: tools/list answers are rare enough to read whole.
  auto learn = [this](const nlohmann::json& answer) {
    auto result = answer.find("result");
    if (answer.is_object() && result != answer.end()) tool_headers_.learn(*result);
  };
  if (source.whole_document) return learn(document);
  base::Result<nlohmann::json> whole = parse_json_bounded(source.payload, options_.max_json_depth);
  if (whole) learn(*whole);
}

void MessagePipeline::submit_http_error(std::string_view connection_id, CapturedMessage&& message,
                                        const HttpErrorBody& body) {
  if (!switch_.enabled) return;
  ++counters_.messages[static_cast<int>(message.direction)];
  Record record = make_record(connection_id, message);
  record.kind = Kind::Error;
  record.payload_bytes = static_cast<int64_t>(body.body_bytes);
  nlohmann::json& meta = message.meta;
  nlohmann::json& http = meta["http"];
  if (!http.is_object()) http = nlohmann::json::object();
  // An error page may reflect what the request sent (a token in a query string, say).
  std::string excerpt(without_partial_last_character(body.excerpt));
  record.redacted = redactor_.redact_string(excerpt);
  http["body_excerpt"] = std::move(excerpt);
  http["body_bytes"] = body.body_bytes;
  http["body_truncated"] = body.excerpt_truncated;
  meta["reason"] =
      "HTTP " + std::to_string(message.http_status) + " answer without a JSON-RPC body";
  // No JSON-RPC id: paired by its exchange when it has one, as a null-id error is.
  ClassifiedMessage classified;
  classified.kind = Kind::Error;
  Source source;
  source.session_id = record.session_id;
  source.answers = message.answers;
  source.http_status = message.http_status;
  Exchange exchange;
  Correlation c = observe_answer(record, classified, source, nlohmann::json(), meta);
  apply_correlation(record, classified, c, meta, exchange);
  if (message.tls != nullptr) meta["tls"] = *message.tls;
  record.meta_json = base::json_text(meta);
  deliver(std::move(record), exchange);
}

}  // namespace mcptap::capture

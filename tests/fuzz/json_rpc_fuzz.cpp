// Fuzzes the depth-bounded JSON parser, JSON-RPC classification and the redactor behind it,
// and checks the envelope against them: nothing the parser refuses is accepted, the same
// classification (tool failures included) and params._meta, and redaction asked for
// whenever the whole document has a secret (and perhaps more often: a secret under a key
// that a later duplicate replaces); the same operation facts, its request state's digest
// computed in place; and base::json_text against dump().
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/json_text.h"
#include "capture/json_bounded.h"
#include "capture/jsonrpc.h"
#include "capture/jsonrpc_envelope.h"
#include "capture/operation_facts.h"
#include "capture/redactor.h"

namespace {

using namespace mcptap::capture;

void require(bool condition) {
  if (!condition) std::abort();
}

// Every fact but request_state_sha256, which the envelope reports on its own.
void require_same_facts(const OperationFacts& a, const OperationFacts& b) {
  require(a.name == b.name && a.task_id == b.task_id && a.task_requested == b.task_requested &&
          a.input_response_keys == b.input_response_keys &&
          a.has_input_responses == b.has_input_responses && a.result_type == b.result_type &&
          a.task_status == b.task_status && a.inputs == b.inputs &&
          a.inputs_truncated == b.inputs_truncated && a.subscription_id == b.subscription_id &&
          a.error_code == b.error_code && a.identity == b.identity);
}

void require_same(const ClassifiedMessage& a, const ClassifiedMessage& b) {
  require_same_facts(a.facts, b.facts);
  require(a.kind == b.kind && a.id_text == b.id_text && a.method == b.method &&
          a.progress_token == b.progress_token &&
          a.cancelled_request_id == b.cancelled_request_id && a.tool_error == b.tool_error &&
          a.invalid_reason == b.invalid_reason && a.batch_items.size() == b.batch_items.size());
  for (size_t i = 0; i < a.batch_items.size(); ++i)
    require_same(a.batch_items[i], b.batch_items[i]);
}

// params._meta, which the row's meta copies, is in the envelope whole.
void require_same_request_meta(const nlohmann::json& envelope, const nlohmann::json& document) {
  if (!document.is_object()) return;
  auto params = document.find("params");
  if (params == document.end() || !params->is_object() || !params->contains("_meta")) return;
  require(envelope.at("params").at("_meta") == params->at("_meta"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  static const Redactor redactor{RedactOptions{}};
  auto document = parse_json_bounded(text, kDefaultMaxJsonDepth);
  auto envelope = read_jsonrpc_envelope(text, kDefaultMaxJsonDepth, redactor);
  if (!document) {
    // Refused alike; or stopped early for redaction, the whole parse then saying why.
    require(!envelope || envelope->needs_redaction);
    return 0;
  }
  ClassifiedMessage message = classify_jsonrpc(*document);
  // The facts of the message as it came, before anything is redacted.
  const OperationFacts facts = extract_operation_facts(*document);
  const bool redacted = redactor.redact_json(*document);
  // No envelope (a key with an escape, a byte order mark): the whole document decides.
  if (envelope) {
    require(envelope->needs_redaction || !redacted);
    if (!envelope->needs_redaction) {
      require_same(classify_jsonrpc(envelope->document), message);
      require_same_request_meta(envelope->document, *document);
      const OperationFacts envelope_facts = extract_operation_facts(envelope->document);
      require_same_facts(envelope_facts, facts);
      require(!envelope_facts.request_state_sha256);
      require(envelope->request_state_sha256 == facts.request_state_sha256);
    }
  }
  // base::json_text writes what dump() writes, fast path or not.
  require(mcptap::base::json_text(*document) ==
          document->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return 0;
}

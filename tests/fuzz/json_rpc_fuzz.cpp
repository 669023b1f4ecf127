// Fuzzes the depth-bounded JSON parser, JSON-RPC classification and the redactor behind it,
// and checks the envelope against them: the same verdict on every text, the same
// classification, and redaction asked for whenever the whole document has a secret (and
// perhaps more often: a secret under a key that a later duplicate replaces).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "capture/json_bounded.h"
#include "capture/jsonrpc.h"
#include "capture/envelope_scanner.h"
#include "capture/jsonrpc_envelope.h"
#include "capture/redactor.h"

namespace {

using namespace mcptap::capture;

void require(bool condition) {
  if (!condition) std::abort();
}

void require_same(const ClassifiedMessage& a, const ClassifiedMessage& b) {
  require(a.kind == b.kind && a.id_text == b.id_text && a.method == b.method &&
          a.progress_token == b.progress_token &&
          a.cancelled_request_id == b.cancelled_request_id &&
          a.invalid_reason == b.invalid_reason && a.batch_items.size() == b.batch_items.size());
  for (size_t i = 0; i < a.batch_items.size(); ++i) require_same(a.batch_items[i], b.batch_items[i]);
}

// The hand-written scan answers only where the general path agrees with it exactly.
void require_scan_agrees(std::string_view text, const Redactor& redactor) {
  auto scanned = scan_jsonrpc_envelope(text, kDefaultMaxJsonDepth, redactor);
  if (!scanned) return;
  std::string error;
  auto parsed = parse_jsonrpc_envelope(text, kDefaultMaxJsonDepth, redactor, &error);
  require(parsed.has_value() && parsed->needs_redaction == scanned->needs_redaction);
  if (!scanned->needs_redaction) require(parsed->document == scanned->document);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  static const Redactor redactor{RedactOptions{}};
  require_scan_agrees(text, redactor);
  std::string error, envelope_error;
  auto document = parse_json_bounded(text, kDefaultMaxJsonDepth, &error);
  auto envelope = read_jsonrpc_envelope(text, kDefaultMaxJsonDepth, redactor, &envelope_error);
  if (!document) {
    // Refused alike, for the same reason; or stopped early for redaction, the full parse
    // then reporting the error.
    require(!envelope ? envelope_error == error : envelope->needs_redaction);
    return 0;
  }
  require(envelope.has_value());
  ClassifiedMessage message = classify_jsonrpc(*document);
  const bool redacted = redactor.redact_json(*document);
  require(envelope->needs_redaction || !redacted);
  if (!envelope->needs_redaction) require_same(classify_jsonrpc(envelope->document), message);
  (void)document->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}

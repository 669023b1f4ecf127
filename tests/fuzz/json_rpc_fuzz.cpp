// Fuzzes the depth-bounded JSON parser, JSON-RPC classification and the redactor behind it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "capture/json_bounded.h"
#include "capture/jsonrpc.h"
#include "capture/redactor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto document =
      mcptap::capture::parse_json_bounded(text, mcptap::capture::kDefaultMaxJsonDepth, &error);
  if (!document) return 0;
  mcptap::capture::ClassifiedMessage message = mcptap::capture::classify_jsonrpc(*document);
  static const mcptap::capture::Redactor redactor{mcptap::capture::RedactOptions{}};
  redactor.redact_json(*document);
  (void)document->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return message.batch_items.size() == 12345 ? 1 : 0;
}

// Fuzzes the redactor's hand-written secret matchers on strings and request-targets.
#include <cstddef>
#include <cstdint>
#include <string>

#include "capture/redactor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mcptap::capture::Redactor redactor = [] {
    mcptap::capture::RedactOptions options;
    options.extra_value_prefixes = {"xai-"};
    return mcptap::capture::Redactor(options);
  }();
  std::string text(reinterpret_cast<const char*>(data), size);
  std::string copy = text;
  if (redactor.redact_string(copy) && copy.find("[REDACTED]") == std::string::npos) {
    __builtin_trap();  // a replacement always leaves the marker
  }
  (void)redactor.redact_target(text);
  return 0;
}

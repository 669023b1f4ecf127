// Fuzzes the configuration parser: any text either loads or is refused with an error; an
// exception escaping parse_config (which returns a Result) ends the run as a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cli/config_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  mcptap::base::Result<mcptap::cli::Config> parsed = mcptap::cli::parse_config(text);
  if (!parsed && parsed.error().message.empty()) __builtin_trap();  // an error says what is wrong
  return 0;
}

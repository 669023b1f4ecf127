// Fuzzes the configuration parser: any text either loads or throws a std::exception.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "cli/config_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)mcptap::cli::parse_config(text);
  } catch (const std::exception&) {
    // Rejecting bad configuration with an exception is the contract at start-up.
  }
  return 0;
}

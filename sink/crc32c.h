// CRC32C (Castagnoli), the checksum that guards every spool frame and the checkpoint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mcptap::sink {

// Continues a CRC32C over `data`; start with crc = 0. Uses the SSE4.2 crc32 instruction
// when the CPU has it (checked once at run time), else slicing-by-8 tables.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);

inline uint32_t crc32c(std::string_view data) {
  return crc32c_extend(0, data.data(), data.size());
}

// The portable path alone, so tests can compare it with the hardware one.
uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t size);
bool crc32c_hardware_available();

}  // namespace mcptap::sink

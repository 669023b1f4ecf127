// memcpy into a file mapping that survives the file's blocks going missing.
#pragma once

#include <cstddef>

namespace mcptap::sink {

// Copies n bytes to dst, which lies in a shared file mapping. Returns false, instead of the
// process dying of SIGBUS, when a page of dst cannot be backed (the file shrank under the
// mapping, or a filesystem that ignores preallocation ran out of space); bytes before the
// fault may have been copied. Any other SIGBUS goes to the handler that was there before.
bool guarded_copy(void* dst, const void* src, size_t n);

}  // namespace mcptap::sink

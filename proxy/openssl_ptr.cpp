// drain_openssl_errors(): the thread's OpenSSL error queue as one bounded, printable line.
#include "proxy/openssl_ptr.h"

#include <openssl/err.h>

namespace mcptap::proxy {
namespace {

constexpr size_t kMaxLine = 512;

// Error data can carry file names or parsed text: keep it printable so a log line stays one
// line.
void append_printable(std::string* line, const char* text) {
  for (const char* p = text; *p != '\0' && line->size() < kMaxLine; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    line->push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
}

}  // namespace

std::string drain_openssl_errors() {
  std::string line;
  const char* data = nullptr;
  int flags = 0;
  unsigned long code;
  while ((code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
    if (line.size() >= kMaxLine) continue;  // keep draining: the queue must end empty
    if (!line.empty()) line += "; ";
    const char* library = ERR_lib_error_string(code);
    const char* reason = ERR_reason_error_string(code);
    if (library != nullptr) {
      append_printable(&line, library);
      line += ": ";
    }
    if (reason != nullptr) {
      append_printable(&line, reason);
    } else {
      line += "error " + std::to_string(ERR_GET_REASON(code));
    }
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && data[0] != '\0') {
      line += " (";
      append_printable(&line, data);
      line += ")";
    }
  }
  if (line.size() > kMaxLine) line.resize(kMaxLine);
  return line;
}

}  // namespace mcptap::proxy

// Fuzzes HttpMessageParser (llhttp underneath) for requests and responses, fed in pieces.
#include <cstddef>
#include <cstdint>

#include "base/http_message_parser.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using mcptap::base::HttpHead;
using mcptap::base::HttpMessageParser;

// Touches what the parser hands out so ASan sees any dangling view.
class TouchingListener : public HttpMessageParser::Listener {
 public:
  bool on_head(const HttpHead& head) override {
    checksum_ += head.method.size() + head.target.size() + head.headers.size();
    (void)head.header("content-length");
    (void)head.header_has_token("connection", "upgrade");
    return !(head.target.size() & 1) || head.is_request;
  }
  void on_body(std::string_view chunk) override {
    for (char c : chunk) checksum_ += static_cast<unsigned char>(c);
  }
  void on_message_complete() override { ++checksum_; }
  size_t checksum_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcptap::fuzz::FuzzInput input(data, size);
  uint8_t options = input.byte();
  auto type = (options & 1) ? HttpMessageParser::Type::Response : HttpMessageParser::Type::Request;
  size_t max_head = (options & 2) ? 256 : (64u << 10);
  TouchingListener listener;
  HttpMessageParser parser(type, listener, max_head);
  while (!input.empty()) {
    std::string_view chunk = input.chunk();
    size_t consumed = 0;
    HttpMessageParser::Status status = parser.feed(chunk, &consumed);
    if (status == HttpMessageParser::Status::Failed) return 0;
    if (status == HttpMessageParser::Status::Upgraded) {
      if (consumed > chunk.size()) __builtin_trap();
      if (!(options & 4)) return 0;
      parser.resume_after_refused_upgrade();
    }
  }
  (void)parser.finish();
  return 0;
}

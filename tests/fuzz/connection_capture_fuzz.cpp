// Fuzzes ConnectionCapture end to end: bytes in both directions through sniffing, HTTP,
// the WebSocket upgrade, NDJSON and the whole message pipeline.
#include <cstddef>
#include <cstdint>

#include "capture/connection_capture.h"
#include "capture/message_pipeline.h"
#include "capture/redactor.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using mcptap::capture::Direction;

class CountingConsumer : public mcptap::capture::RecordConsumer {
 public:
  bool consume(mcptap::capture::Record&& record) override {
    records_ += 1 + (record.payload ? record.payload->size() : 0);
    return true;
  }
  uint64_t records_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mcptap::capture::Redactor redactor{mcptap::capture::RedactOptions{}};
  mcptap::fuzz::FuzzInput input(data, size);
  uint8_t options = input.byte();
  mcptap::capture::CaptureOptions capture_options;
  capture_options.max_payload_bytes = uint64_t{1} << (8 + options % 12);
  capture_options.max_pending_requests_per_session = 16;
  CountingConsumer consumer;
  mcptap::capture::MessagePipeline pipeline("fuzz", capture_options, redactor, consumer);
  {
    mcptap::capture::ConnectionCapture capture(pipeline, "conn-fuzz");
    if (options & 0x80) capture.start_ndjson(mcptap::capture::Transport::Tcp);
    while (!input.empty()) {
      uint8_t control = input.byte();
      Direction direction = (control & 1) ? Direction::ServerToClient : Direction::ClientToServer;
      if ((control & 0x7e) == 0x7e) {
        capture.on_end(direction);
        continue;
      }
      capture.on_bytes(direction, input.chunk());
    }
    capture.on_close();
  }
  return consumer.records_ == 1 ? 1 : 0;
}

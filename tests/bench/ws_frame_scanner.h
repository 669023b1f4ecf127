// Finds WebSocket frame boundaries in a byte stream without keeping payloads: the benchmark
// programs only need to know where frames end, and a 200 MB message must cost no memory.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

namespace mcptap::bench {

class WsFrameScanner {
 public:
  struct Frame {
    bool fin;
    uint8_t opcode;
  };

  // Calls on_frame_end(Frame) once per frame whose last byte is in these bytes.
  template <typename OnFrameEnd>
  void feed(const char* data, size_t size, OnFrameEnd&& on_frame_end) {
    while (size > 0) {
      if (payload_left_ > 0) {
        size_t take = static_cast<size_t>(std::min<uint64_t>(payload_left_, size));
        payload_left_ -= take;
        data += take;
        size -= take;
        if (payload_left_ == 0) on_frame_end(frame_);
        continue;
      }
      header_.push_back(*data++);
      --size;
      if (!header_complete()) continue;
      uint64_t length = start_frame();
      if (length == 0) {
        on_frame_end(frame_);
      } else {
        payload_left_ = length;
      }
    }
  }

 private:
  bool header_complete() const {
    if (header_.size() < 2) return false;
    auto b = reinterpret_cast<const uint8_t*>(header_.data());
    size_t len7 = b[1] & 0x7f;
    size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b[1] & 0x80) ? 4 : 0);
    return header_.size() >= need;
  }

  // Reads the completed header; returns the payload length.
  uint64_t start_frame() {
    auto b = reinterpret_cast<const uint8_t*>(header_.data());
    uint64_t len7 = b[1] & 0x7f;
    uint64_t length = len7;
    if (len7 == 126) length = (uint64_t{b[2]} << 8) | b[3];
    if (len7 == 127) {
      length = 0;
      for (int i = 0; i < 8; ++i) length = length << 8 | b[2 + i];
    }
    frame_ = {(b[0] & 0x80) != 0, static_cast<uint8_t>(b[0] & 0x0f)};
    header_.clear();
    return length;
  }

  std::string header_;  // the frame header being read
  uint64_t payload_left_ = 0;
  Frame frame_{false, 0};
};

}  // namespace mcptap::bench

// WebSocket load generator for the proxy benchmark: round trips, pipelined throughput, idle
// connections and one very large message, over libuv with masked client frames.
//
// Usage: ws_loadgen --port P [--host 127.0.0.1] [--path /mcp] --mode rtt|throughput|idle|big
//          [--connections N] [--duration SECONDS] [--inflight K] [--hold SECONDS]
//          [--message-bytes S] [--chunk-bytes C]
//
// It prints one line of key=value pairs on stdout, e.g.
//   mode=rtt connections=32 messages=412345 seconds=10.00 rate=41234.5 p50_us=700 p99_us=1400
//   p999_us=2300 errors=0
// Every mode ends by itself: rtt and throughput after --duration, idle after --hold, big once
// the answer to the message arrived (or after --duration as a deadline).
#include <uv.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ws_frame_scanner.h"

namespace {

// The HTTP workload's body, also used as the WebSocket request: a ~300-byte tools/call.
constexpr std::string_view kRequest =
    R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_documents",)"
    R"("arguments":{"query":"quarterly revenue report for the northern region","limit":10,)"
    R"("filters":{"year":2025,"department":"finance","status":"published","region":"north"},)"
    R"("include_snippets":true,"sort":"relevance","cursor":null}}})";

constexpr std::array<uint8_t, 4> kMask = {0x37, 0xfa, 0x21, 0x3d};

enum class Mode { RoundTrip, Throughput, Idle, Big };

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/mcp";
  Mode mode = Mode::RoundTrip;
  int connections = 32;
  double duration_s = 10;
  int inflight = 16;
  double hold_s = 10;
  uint64_t message_bytes = 200ull << 20;
  size_t chunk_bytes = 1 << 20;
};

// Microsecond buckets up to 10 s; anything slower lands in the last bucket.
class LatencyHistogram {
 public:
  LatencyHistogram() : counts_(kBuckets, 0) {}
  void record(uint64_t us) {
    ++counts_[std::min<uint64_t>(us, kBuckets - 1)];
    ++total_;
  }
  uint64_t percentile(double p) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(p * static_cast<double>(total_));
    if (rank >= total_) rank = total_ - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return i;
    }
    return kBuckets - 1;
  }

 private:
  static constexpr size_t kBuckets = 10'000'000;
  std::vector<uint32_t> counts_;
  uint64_t total_ = 0;
};

// A client frame: FIN/opcode, masked length, the mask, the masked payload.
std::string masked_frame(uint8_t first_byte, std::string_view payload) {
  std::string frame;
  frame.push_back(static_cast<char>(first_byte));
  size_t n = payload.size();
  if (n < 126) {
    frame.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(n >> 8));
    frame.push_back(static_cast<char>(n & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) frame.push_back(static_cast<char>(n >> shift));
  }
  frame.append(reinterpret_cast<const char*>(kMask.data()), kMask.size());
  for (size_t i = 0; i < n; ++i) frame.push_back(static_cast<char>(payload[i] ^ kMask[i % 4]));
  return frame;
}

struct Connection;

struct Run {
  Options options;
  uv_loop_t* loop = nullptr;
  sockaddr_in address{};
  std::vector<std::unique_ptr<Connection>> connections;
  std::string request_frame;  // one masked kRequest frame
  std::string big_frame;      // one masked fragment of the big message (all fragments alike)
  LatencyHistogram histogram;
  uint64_t messages = 0;  // answers received
  uint64_t errors = 0;
  int upgraded = 0;
  int closed = 0;
  bool stopping = false;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  uint64_t big_sent = 0;
  uv_timer_t deadline{};
  uv_signal_t sigint{};
};

struct Connection {
  Run* run = nullptr;
  uv_tcp_t tcp{};
  uv_connect_t connect_req{};
  bool upgraded = false;
  bool closing = false;
  std::string handshake;                 // response bytes until the blank line
  mcptap::bench::WsFrameScanner frames;  // of the server's (unmasked) frames
  std::vector<uint64_t> sent_at_ns;      // FIFO of send times of unanswered requests
  size_t sent_head = 0;
  uint64_t big_fragments_left = 0;
};

struct WriteReq {
  uv_write_t req;
  Connection* connection;
};

char read_buffer[256 * 1024];

void on_closed(uv_handle_t* handle) {
  auto* c = static_cast<Connection*>(handle->data);
  if (++c->run->closed == static_cast<int>(c->run->connections.size())) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->run->deadline), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->run->sigint), nullptr);
  }
}

void close_connection(Connection* c) {
  if (c->closing) return;
  c->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_closed);
}

void stop_run(Run* run) {
  if (run->stopping) return;
  run->stopping = true;
  run->end_ns = uv_hrtime();
  uv_timer_stop(&run->deadline);
  for (auto& c : run->connections) close_connection(c.get());
}

void on_written(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  Connection* c = w->connection;
  delete w;
  if (status != 0 && status != UV_ECANCELED && !c->closing) {
    ++c->run->errors;
    close_connection(c);
  }
}

void write_bytes(Connection* c, std::string_view bytes, uv_write_cb cb = on_written) {
  auto* w = new WriteReq{{}, c};
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, cb) != 0) {
    delete w;
    ++c->run->errors;
    close_connection(c);
  }
}

void send_request(Connection* c) {
  c->sent_at_ns.push_back(uv_hrtime());
  write_bytes(c, c->run->request_frame);
}

void send_big_fragment(Connection* c);

// One fragment in flight at a time: the message streams at the pace the proxy takes it.
void on_big_fragment_written(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  Connection* c = w->connection;
  delete w;
  if (status != 0) {
    if (!c->closing) ++c->run->errors, close_connection(c);
    return;
  }
  c->run->big_sent += c->run->big_frame.size();
  if (c->big_fragments_left > 0 && !c->run->stopping) send_big_fragment(c);
}

void send_big_fragment(Connection* c) {
  Run* run = c->run;
  uint64_t total = run->options.message_bytes / run->options.chunk_bytes;
  bool first = c->big_fragments_left == total;
  bool last = --c->big_fragments_left == 0;
  // The header's first byte differs per fragment; the rest of the frame is shared.
  static std::string headers[4];
  uint8_t first_byte = static_cast<uint8_t>((last ? 0x80 : 0) | (first ? 0x1 : 0x0));
  std::string& header = headers[(last ? 2 : 0) + (first ? 1 : 0)];
  header = run->big_frame.substr(0, 14);
  header[0] = static_cast<char>(first_byte);
  auto* w = new WriteReq{{}, c};
  uv_buf_t bufs[2] = {
      uv_buf_init(header.data(), 14),
      uv_buf_init(run->big_frame.data() + 14, static_cast<unsigned>(run->big_frame.size() - 14))};
  if (first) c->sent_at_ns.push_back(uv_hrtime());
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), bufs, 2,
               on_big_fragment_written) != 0) {
    delete w;
    ++run->errors;
    close_connection(c);
  }
}

void on_upgraded(Connection* c) {
  Run* run = c->run;
  c->upgraded = true;
  ++run->upgraded;
  const Options& o = run->options;
  switch (o.mode) {
    case Mode::RoundTrip:
      send_request(c);
      break;
    case Mode::Throughput:
      for (int i = 0; i < o.inflight; ++i) send_request(c);
      break;
    case Mode::Idle:
      // One exchange, so the capture of every connection is set up, then silence.
      send_request(c);
      break;
    case Mode::Big:
      c->big_fragments_left = o.message_bytes / o.chunk_bytes;
      send_big_fragment(c);
      break;
  }
  if (run->upgraded == static_cast<int>(run->connections.size())) {
    std::fprintf(stderr, "ws_loadgen: %d connections upgraded\n", run->upgraded);
    if (o.mode == Mode::Idle) std::printf("ready connections=%d\n", run->upgraded);
    std::fflush(stdout);
  }
}

void on_message(Connection* c) {
  Run* run = c->run;
  ++run->messages;
  if (c->sent_head < c->sent_at_ns.size()) {
    uint64_t sent = c->sent_at_ns[c->sent_head++];
    run->histogram.record((uv_hrtime() - sent) / 1000);
    if (c->sent_head == c->sent_at_ns.size() || c->sent_head >= 4096) {
      c->sent_at_ns.erase(c->sent_at_ns.begin(), c->sent_at_ns.begin() + c->sent_head);
      c->sent_head = 0;
    }
  }
  if (run->stopping) return;
  switch (run->options.mode) {
    case Mode::RoundTrip:
    case Mode::Throughput:
      send_request(c);
      break;
    case Mode::Idle:
      break;
    case Mode::Big:
      stop_run(run);
      break;
  }
}

// Server frames: only the ends of data messages count; control frames are skipped.
void consume_frames(Connection* c, const char* data, size_t size) {
  c->frames.feed(data, size, [c](mcptap::bench::WsFrameScanner::Frame frame) {
    if (frame.fin && frame.opcode < 8) on_message(c);
  });
}

void on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  *buf = uv_buf_init(read_buffer, sizeof(read_buffer));
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(stream->data);
  if (nread < 0) {
    if (!c->run->stopping) ++c->run->errors;
    close_connection(c);
    return;
  }
  const char* data = buf->base;
  size_t size = static_cast<size_t>(nread);
  if (!c->upgraded) {
    c->handshake.append(data, size);
    size_t end = c->handshake.find("\r\n\r\n");
    if (end == std::string::npos) return;
    if (c->handshake.compare(0, 12, "HTTP/1.1 101") != 0) {
      ++c->run->errors;
      close_connection(c);
      return;
    }
    std::string rest = c->handshake.substr(end + 4);
    c->handshake.clear();
    on_upgraded(c);
    consume_frames(c, rest.data(), rest.size());
    return;
  }
  consume_frames(c, data, size);
}

void on_connected(uv_connect_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  if (status != 0) {
    ++c->run->errors;
    std::fprintf(stderr, "ws_loadgen: connect: %s\n", uv_strerror(status));
    close_connection(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  const Options& o = c->run->options;
  static std::string upgrade;
  if (upgrade.empty()) {
    upgrade = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
  write_bytes(c, upgrade);
}

int start_connection(Run& run, Connection* c) {
  c->run = &run;
  uv_tcp_init(run.loop, &c->tcp);
  c->tcp.data = c;
  c->connect_req.data = c;
  return uv_tcp_connect(&c->connect_req, &c->tcp, reinterpret_cast<const sockaddr*>(&run.address),
                        on_connected);
}

bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--host")
      o.host = value;
    else if (key == "--port")
      o.port = std::atoi(value);
    else if (key == "--path")
      o.path = value;
    else if (key == "--connections")
      o.connections = std::atoi(value);
    else if (key == "--duration")
      o.duration_s = std::atof(value);
    else if (key == "--inflight")
      o.inflight = std::atoi(value);
    else if (key == "--hold")
      o.hold_s = std::atof(value);
    else if (key == "--message-bytes")
      o.message_bytes = std::strtoull(value, nullptr, 10);
    else if (key == "--chunk-bytes")
      o.chunk_bytes = std::strtoull(value, nullptr, 10);
    else if (key == "--mode") {
      std::string_view m = value;
      if (m == "rtt")
        o.mode = Mode::RoundTrip;
      else if (m == "throughput")
        o.mode = Mode::Throughput;
      else if (m == "idle")
        o.mode = Mode::Idle;
      else if (m == "big")
        o.mode = Mode::Big;
      else
        return false;
    } else {
      return false;
    }
  }
  return o.port > 0 && o.connections > 0 && o.inflight > 0 && o.chunk_bytes > 0 &&
         o.message_bytes >= o.chunk_bytes;
}

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::RoundTrip:
      return "rtt";
    case Mode::Throughput:
      return "throughput";
    case Mode::Idle:
      return "idle";
    case Mode::Big:
      return "big";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  Run run;
  if (!parse_options(argc, argv, run.options)) {
    std::fprintf(
        stderr,
        "usage: ws_loadgen --port P [--host H] [--path /mcp] --mode rtt|throughput|idle|big"
        " [--connections N] [--duration S] [--inflight K] [--hold S]"
        " [--message-bytes S] [--chunk-bytes C]\n");
    return 2;
  }
  // A peer that closed while answers were on their way must not kill the process.
  signal(SIGPIPE, SIG_IGN);
  const Options& o = run.options;
  run.loop = uv_default_loop();
  uv_ip4_addr(o.host.c_str(), o.port, &run.address);
  run.request_frame = masked_frame(0x81, kRequest);
  if (o.mode == Mode::Big) {
    // Every fragment has the same length, hence the same masked bytes: built once.
    std::string payload(o.chunk_bytes, 'x');
    run.big_frame = masked_frame(0x00, payload);
    // Pad the header to 14 bytes (64-bit length) so the payload always starts at offset 14.
    if (run.big_frame.size() - o.chunk_bytes != 14) {
      std::fprintf(stderr, "ws_loadgen: --chunk-bytes must be at least 65536\n");
      return 2;
    }
  }
  run.connections.reserve(o.connections);
  for (int i = 0; i < o.connections; ++i) run.connections.push_back(std::make_unique<Connection>());
  uv_timer_init(run.loop, &run.deadline);
  run.deadline.data = &run;
  uv_signal_init(run.loop, &run.sigint);
  run.sigint.data = &run;
  uv_signal_start(
      &run.sigint, [](uv_signal_t* s, int) { stop_run(static_cast<Run*>(s->data)); }, SIGINT);
  run.start_ns = uv_hrtime();
  for (auto& c : run.connections) {
    int status = start_connection(run, c.get());
    if (status != 0) {
      std::fprintf(stderr, "ws_loadgen: connect: %s\n", uv_strerror(status));
      ++run.errors;
      close_connection(c.get());
    }
  }
  double seconds = o.mode == Mode::Idle ? o.hold_s : o.duration_s;
  uv_timer_start(
      &run.deadline, [](uv_timer_t* t) { stop_run(static_cast<Run*>(t->data)); },
      static_cast<uint64_t>(seconds * 1000), 0);
  uv_run(run.loop, UV_RUN_DEFAULT);
  if (!run.stopping) run.end_ns = uv_hrtime();
  double elapsed = static_cast<double>(run.end_ns - run.start_ns) / 1e9;
  std::printf(
      "mode=%s connections=%d upgraded=%d messages=%llu seconds=%.2f rate=%.1f "
      "p50_us=%llu p99_us=%llu p999_us=%llu errors=%llu",
      mode_name(o.mode), o.connections, run.upgraded, static_cast<unsigned long long>(run.messages),
      elapsed, static_cast<double>(run.messages) / elapsed,
      static_cast<unsigned long long>(run.histogram.percentile(0.50)),
      static_cast<unsigned long long>(run.histogram.percentile(0.99)),
      static_cast<unsigned long long>(run.histogram.percentile(0.999)),
      static_cast<unsigned long long>(run.errors));
  if (o.mode == Mode::Big) {
    std::printf(" big_bytes_sent=%llu", static_cast<unsigned long long>(run.big_sent));
  }
  std::printf("\n");
  uv_loop_close(run.loop);
  return run.errors == 0 ? 0 : 1;
}

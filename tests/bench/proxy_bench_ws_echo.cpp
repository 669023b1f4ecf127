// WebSocket backend for the proxy benchmark: answers every text or binary message with one
// fixed JSON-RPC response frame. libuv, no buffering of payloads: a 200 MB message streams
// through in constant memory.
//
// Usage: proxy_bench_ws_echo --port P [--host 127.0.0.1]
// Prints "listening port=P" once bound; runs until SIGINT or SIGTERM.
#include <uv.h>

#include <array>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "ws_frame_scanner.h"

namespace {

constexpr std::string_view kResponse =
    R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"Found 3 documents )"
    R"(matching the query in the finance department."}],"isError":false}})";

// RFC 6455 section 4.2.2: the accept key is base64(SHA-1(key + GUID)).
std::array<uint8_t, 20> sha1(std::string_view text) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string m(text);
  uint64_t bits = static_cast<uint64_t>(text.size()) * 8;
  m.push_back(static_cast<char>(0x80));
  while (m.size() % 64 != 56) m.push_back(0);
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<char>(bits >> (i * 8)));
  auto rol = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (size_t off = 0; off < m.size(); off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const uint8_t*>(m.data() + off + 4 * i);
      w[i] = uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
    }
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f, k;
      if (i < 20)
        f = (b & c) | (~b & d), k = 0x5A827999;
      else if (i < 40)
        f = b ^ c ^ d, k = 0x6ED9EBA1;
      else if (i < 60)
        f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
      else
        f = b ^ c ^ d, k = 0xCA62C1D6;
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  }
  std::array<uint8_t, 20> out;
  for (int i = 0; i < 20; ++i) out[i] = static_cast<uint8_t>(h[i / 4] >> (24 - 8 * (i % 4)));
  return out;
}

std::string base64(const uint8_t* data, size_t size) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < size; i += 3) {
    uint32_t v = uint32_t{data[i]} << 16;
    if (i + 1 < size) v |= uint32_t{data[i + 1]} << 8;
    if (i + 2 < size) v |= data[i + 2];
    out.push_back(table[v >> 18 & 63]);
    out.push_back(table[v >> 12 & 63]);
    out.push_back(i + 1 < size ? table[v >> 6 & 63] : '=');
    out.push_back(i + 2 < size ? table[v & 63] : '=');
  }
  return out;
}

std::string response_frame() {
  std::string frame;
  frame.push_back(static_cast<char>(0x81));
  frame.push_back(static_cast<char>(126));
  frame.push_back(static_cast<char>(kResponse.size() >> 8));
  frame.push_back(static_cast<char>(kResponse.size() & 0xff));
  if (kResponse.size() < 126) frame = std::string{'\x81', static_cast<char>(kResponse.size())};
  frame.append(kResponse);
  return frame;
}

const std::string kFrame = response_frame();
char read_buffer[256 * 1024];

struct Client {
  uv_tcp_t tcp{};
  bool upgraded = false;
  std::string request;                   // handshake bytes until the blank line
  mcptap::bench::WsFrameScanner frames;  // payload bytes are skipped, never stored
  bool fin = false;
  uint8_t opcode = 0;
  int pending_answers = 0;  // counted while reading one buffer, written in one batch
};

void on_closed(uv_handle_t* handle) {
  delete static_cast<Client*>(handle->data);
}

void close_client(Client* c) {
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->tcp)))
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_closed);
}

struct Write {
  uv_write_t req;
  std::string bytes;
};

void on_written(uv_write_t* req, int) {
  delete reinterpret_cast<Write*>(req);
}

void send(Client* c, std::string bytes) {
  uv_buf_t buf = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
  int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1);
  if (n == static_cast<int>(bytes.size())) return;
  if (n < 0 && n != UV_EAGAIN) {
    close_client(c);
    return;
  }
  auto* w = new Write{{}, bytes.substr(n > 0 ? static_cast<size_t>(n) : 0)};
  buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, on_written) != 0) {
    delete w;
    close_client(c);
  }
}

void frame_done(Client* c) {
  if (c->opcode == 0x8) {
    send(c, std::string("\x88\x00", 2));
    return;
  }
  if (c->opcode >= 8) return;  // ping/pong: ignored
  if (c->fin) ++c->pending_answers;
}

void consume_frames(Client* c, const char* data, size_t size) {
  c->frames.feed(data, size, [c](mcptap::bench::WsFrameScanner::Frame frame) {
    c->fin = frame.fin;
    c->opcode = frame.opcode;
    frame_done(c);
  });
}

bool answer_handshake(Client* c) {
  size_t end = c->request.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::string key;
  std::string lower = c->request.substr(0, end);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  size_t at = lower.find("sec-websocket-key:");
  if (at != std::string::npos) {
    size_t from = at + 18;
    size_t to = c->request.find("\r\n", from);
    key = c->request.substr(from, to - from);
    while (!key.empty() && key.front() == ' ') key.erase(0, 1);
    while (!key.empty() && key.back() == ' ') key.pop_back();
  }
  auto digest = sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  send(c,
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: " +
           base64(digest.data(), digest.size()) + "\r\n\r\n");
  c->upgraded = true;
  std::string rest = c->request.substr(end + 4);
  c->request.clear();
  c->request.shrink_to_fit();
  consume_frames(c, rest.data(), rest.size());
  return true;
}

void on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  *buf = uv_buf_init(read_buffer, sizeof(read_buffer));
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Client*>(stream->data);
  if (nread < 0) {
    close_client(c);
    return;
  }
  if (!c->upgraded) {
    c->request.append(buf->base, static_cast<size_t>(nread));
    if (!answer_handshake(c) && c->request.size() > 16384) close_client(c);
  } else {
    consume_frames(c, buf->base, static_cast<size_t>(nread));
  }
  // Answers to every message completed by this read go out in one write.
  if (c->pending_answers > 0) {
    std::string batch;
    batch.reserve(kFrame.size() * c->pending_answers);
    for (int i = 0; i < c->pending_answers; ++i) batch.append(kFrame);
    c->pending_answers = 0;
    send(c, std::move(batch));
  }
}

void on_connection(uv_stream_t* server, int status) {
  if (status != 0) return;
  auto* c = new Client;
  uv_tcp_init(server->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    close_client(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0)
      port = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--host") == 0)
      host = argv[i + 1];
  }
  if (port <= 0) {
    std::fprintf(stderr, "usage: proxy_bench_ws_echo --port P [--host H]\n");
    return 2;
  }
  // A peer that closed while answers were on their way must not kill the process.
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t* loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  sockaddr_in address;
  uv_ip4_addr(host.c_str(), port, &address);
  if (uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&address), 0) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(&server), 4096, on_connection) != 0) {
    std::fprintf(stderr, "proxy_bench_ws_echo: cannot listen on %s:%d\n", host.c_str(), port);
    return 1;
  }
  std::printf("listening port=%d\n", port);
  std::fflush(stdout);
  uv_signal_t signals[2];
  for (int i = 0; i < 2; ++i) {
    uv_signal_init(loop, &signals[i]);
    uv_signal_start(
        &signals[i], [](uv_signal_t* s, int) { uv_stop(s->loop); }, i == 0 ? SIGINT : SIGTERM);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}

// What capture costs the loop thread per message, without sockets or disks: HTTP exchanges
// (the proxy benchmark's tools/call and answer, with its headers) fed through one
// ConnectionCapture, each record encoded as a spool frame. Prints nanoseconds per message
// for plain messages and for messages that hold a secret (the redaction path).
//
//   capture_bench [--exchanges 200000]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "capture/connection_capture.h"
#include "sink/spool_frame.h"

namespace {

using namespace mcptap;

const char* kPlainArguments =
    R"({"query":"quarterly revenue report for the northern region","limit":10,"filters":{"year":2025,"department":"finance","status":"published","region":"north"},"include_snippets":true,"sort":"relevance","cursor":null})";
const char* kSecretArguments =
    R"({"query":"quarterly revenue report for the northern region","limit":10,"filters":{"year":2025,"department":"finance","status":"published","region":"north"},"api_key":"k-123","sort":"relevance","cursor":null})";
const char* kAnswer =
    R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"Found 3 documents matching the query in the finance department."}],"isError":false}})";

std::string request_bytes(const char* arguments) {
  std::string body =
      std::string(
          R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_documents","arguments":)") +
      arguments + "}}";
  return "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
         "Accept: application/json, text/event-stream\r\nMcp-Session-Id: bench-session\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string response_bytes() {
  return "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 16:00:00 GMT\r\n"
         "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(std::strlen(kAnswer)) + "\r\nConnection: keep-alive\r\n\r\n" + kAnswer;
}

// Encodes every record as the spool would, minus the write: the loop thread's whole share.
struct FrameEncodingConsumer : capture::RecordConsumer {
  std::string body;
  uint64_t records = 0;
  uint64_t frame_bytes = 0;
  bool consume(capture::Record&& record) override {
    uint8_t header[sink::kFrameHeaderBytes];
    if (!sink::encode_frame(record, &body, header)) std::abort();
    ++records;
    frame_bytes += body.size();
    return true;
  }
};

double nanoseconds_per_message(const char* arguments, int exchanges) {
  capture::Redactor redactor{capture::RedactOptions{}};
  FrameEncodingConsumer consumer;
  capture::MessagePipeline pipeline("bench", capture::CaptureOptions{}, redactor, consumer);
  capture::ConnectionCapture capture(pipeline, "c1");
  const std::string request = request_bytes(arguments);
  const std::string response = response_bytes();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < exchanges; ++i) {
    capture.on_bytes(capture::Direction::ClientToServer, request);
    capture.on_bytes(capture::Direction::ServerToClient, response);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  if (consumer.records != uint64_t(2) * exchanges) {
    std::fprintf(stderr, "expected %d records, got %llu\n", 2 * exchanges,
                 static_cast<unsigned long long>(consumer.records));
    std::exit(1);
  }
  return std::chrono::duration<double, std::nano>(elapsed).count() / consumer.records;
}

}  // namespace

int main(int argc, char** argv) {
  int exchanges = 200000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--exchanges") == 0) exchanges = std::atoi(argv[i + 1]);
  }
  nanoseconds_per_message(kPlainArguments, exchanges / 10);  // warm up the allocator
  const double plain = nanoseconds_per_message(kPlainArguments, exchanges);
  const double secret = nanoseconds_per_message(kSecretArguments, exchanges);
  std::printf("capture per HTTP message: plain %.0f ns, request holding a secret %.0f ns\n", plain,
              secret);
  return 0;
}

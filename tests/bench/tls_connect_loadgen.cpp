// New-connection load generator for the proxy benchmark's TLS part: every request on a new
// TLS connection, with a full handshake by default (wrk resumes the sessions it reconnects
// with, so its `Connection: close` load measures resumed handshakes only).
//
// Usage: tls_connect_loadgen --port P [--connections N] [--duration SECONDS] [--resume]
//
// N threads (default 32) each loop until the deadline: connect to 127.0.0.1:P, handshake
// (SNI localhost; the chain is not verified, as wrk does not), POST the benchmark's
// tools/call with `Connection: close`, read the answer, wait for the server to close, close.
// --resume offers each thread's last session again (TLS 1.3 tickets arrive after the
// handshake, so the session is taken once the answer is read). Latency runs from connect()
// to the last byte of the answer, handshake included. It prints one line:
//   BENCH requests=N seconds=S errors=E resumed=R p50_us=A p99_us=B p999_us=C
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kBody =
    R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_documents",)"
    R"("arguments":{"query":"quarterly revenue report for the northern region","limit":10,)"
    R"("filters":{"year":2025,"department":"finance","status":"published","region":"north"},)"
    R"("include_snippets":true,"sort":"relevance","cursor":null}}})";

struct Options {
  int port = 0;
  int connections = 32;
  double duration_s = 10;
  bool resume = false;
};

struct Totals {
  std::mutex mutex;
  std::vector<long> latencies_us;
  long errors = 0;
  long resumed = 0;
};

std::string request_text() {
  return "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
         "Accept: application/json, text/event-stream\r\nMcp-Session-Id: bench-session\r\n"
         "Connection: close\r\nContent-Length: " +
         std::to_string(kBody.size()) + "\r\n\r\n" + std::string(kBody);
}

// The answer is complete once its headers and Content-Length bytes of body are in.
bool answer_complete(const std::string& in) {
  size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  size_t length = 0;
  std::string head = in.substr(0, end);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t at = head.find("\r\ncontent-length:");
  if (at != std::string::npos) length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
  return in.size() >= end + 4 + length;
}

int connect_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// One connection, one request. Returns false on any failure; `session` is replaced by the
// connection's latest session when resuming; `latency_us` runs from connect() to the answer.
bool one_exchange(SSL_CTX* ctx, const Options& options, const std::string& request,
                  SSL_SESSION*& session, bool& resumed, long& latency_us) {
  auto start = Clock::now();
  int fd = connect_tcp(options.port);
  if (fd < 0) return false;
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  if (options.resume && session != nullptr) SSL_set_session(ssl, session);
  bool ok =
      SSL_connect(ssl) == 1 && SSL_write(ssl, request.data(), static_cast<int>(request.size())) ==
                                   static_cast<int>(request.size());
  std::string in;
  char buffer[16384];
  while (ok && !answer_complete(in)) {
    int n = SSL_read(ssl, buffer, sizeof buffer);
    if (n <= 0) {
      ok = false;
      break;
    }
    in.append(buffer, static_cast<size_t>(n));
  }
  ok = ok && in.rfind("HTTP/1.1 200", 0) == 0;
  if (ok) {
    latency_us =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    resumed = SSL_session_reused(ssl) == 1;
    if (options.resume) {
      SSL_SESSION_free(session);
      session = SSL_get1_session(ssl);
    }
    // The server closes first (Connection: close): its side keeps the TIME_WAIT, not the
    // generator's ephemeral ports.
    while (SSL_read(ssl, buffer, sizeof buffer) > 0) {
    }
    SSL_shutdown(ssl);
  }
  ERR_clear_error();
  SSL_free(ssl);
  close(fd);
  return ok;
}

void worker(SSL_CTX* ctx, const Options& options, Clock::time_point deadline, Totals& totals) {
  std::string request = request_text();
  std::vector<long> latencies;
  long errors = 0;
  long resumed_count = 0;
  SSL_SESSION* session = nullptr;
  while (Clock::now() < deadline) {
    bool resumed = false;
    long latency_us = 0;
    if (one_exchange(ctx, options, request, session, resumed, latency_us)) {
      latencies.push_back(latency_us);
      resumed_count += resumed ? 1 : 0;
    } else {
      ++errors;
    }
  }
  SSL_SESSION_free(session);
  std::lock_guard lock(totals.mutex);
  totals.latencies_us.insert(totals.latencies_us.end(), latencies.begin(), latencies.end());
  totals.errors += errors;
  totals.resumed += resumed_count;
}

long percentile(const std::vector<long>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t at = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1));
  return sorted[at];
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : "0"; };
    if (arg == "--port") {
      options.port = std::atoi(value());
    } else if (arg == "--connections") {
      options.connections = std::max(1, std::atoi(value()));
    } else if (arg == "--duration") {
      options.duration_s = std::atof(value());
    } else if (arg == "--resume") {
      options.resume = true;
    } else {
      std::fprintf(stderr, "tls_connect_loadgen: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (options.port <= 0) {
    std::fprintf(stderr,
                 "usage: tls_connect_loadgen --port P [--connections N] "
                 "[--duration S] [--resume]\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);  // a server that closed early is an error, not an exit
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);

  Totals totals;
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(options.duration_s));
  std::vector<std::thread> threads;
  for (int i = 0; i < options.connections; ++i) {
    threads.emplace_back(worker, ctx, std::cref(options), deadline, std::ref(totals));
  }
  for (auto& thread : threads) thread.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  SSL_CTX_free(ctx);

  std::sort(totals.latencies_us.begin(), totals.latencies_us.end());
  std::printf(
      "BENCH requests=%zu seconds=%.3f errors=%ld resumed=%ld p50_us=%ld p99_us=%ld "
      "p999_us=%ld\n",
      totals.latencies_us.size(), seconds, totals.errors, totals.resumed,
      percentile(totals.latencies_us, 50), percentile(totals.latencies_us, 99),
      percentile(totals.latencies_us, 99.9));
  return 0;
}

// Client of the admin API: where it listens, its bearer token, blocking HTTP/1.1 exchanges.
#include "cli/admin_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "base/http_message_parser.h"
#include "base/resolver.h"
#include "cli/client_commands.h"
#include "cli/config_loader.h"
#include "cli/terminal_text.h"

namespace mcptap::cli {
namespace {

using Clock = std::chrono::steady_clock;
using base::HttpHead;
using base::HttpMessageParser;

// Admin responses are small; a body past this is a wrong port or a broken server, and must
// not exhaust memory. The same bound applies to one streamed line.
constexpr size_t kMaxBodyBytes = 64u << 20;
// How often a stream's wait wakes up to ask whether the caller wants to stop.
constexpr int kStopCheckIntervalMs = 250;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  Socket& operator=(Socket&&) = delete;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// Waits for one poll event; false on timeout. EINTR counts as a timeout so callers get to
// check their deadline or stop flag.
bool wait_for(int fd, short events, int timeout_ms) {
  pollfd entry{fd, events, 0};
  return ::poll(&entry, 1, timeout_ms) > 0;
}

// A non-blocking connect bounded by the deadline; the error is why it did not connect.
base::Status try_connect(const Socket& socket, const sockaddr_storage& address,
                         Clock::time_point deadline) {
  socklen_t length = address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::connect(socket.fd(), reinterpret_cast<const sockaddr*>(&address), length) == 0) return {};
  if (errno != EINPROGRESS) return base::fail(std::strerror(errno));
  if (!wait_for(socket.fd(), POLLOUT, remaining_ms(deadline))) return base::fail("timed out");
  int error = 0;
  socklen_t error_length = sizeof error;
  ::getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &error, &error_length);
  if (error != 0) return base::fail(std::strerror(error));
  return {};
}

Socket connect_to(const base::HostPort& address, Clock::time_point deadline) {
  base::Result<std::vector<sockaddr_storage>> addresses =
      base::resolve_blocking(address, "the admin API host");
  if (!addresses) throw AdminError(addresses.error().message);
  std::string reason = "no address";
  for (const sockaddr_storage& candidate : *addresses) {
    Socket socket(::socket(candidate.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (socket.fd() < 0) {
      reason = std::strerror(errno);
      continue;
    }
    base::Status connected = try_connect(socket, candidate, deadline);
    if (connected) return socket;
    reason = connected.error().message;
  }
  throw AdminError("cannot connect to the admin API at " + address.to_string() + ": " + reason +
                   " (is mcptap running?)");
}

void send_all(const Socket& socket, std::string_view bytes, Clock::time_point deadline,
              const std::string& shown) {
  while (!bytes.empty()) {
    ssize_t sent = ::send(socket.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent > 0) {
      bytes.remove_prefix(static_cast<size_t>(sent));
      continue;
    }
    if (sent < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (remaining_ms(deadline) == 0)
        throw AdminError("admin API at " + shown + ": send timed out");
      wait_for(socket.fd(), POLLOUT, remaining_ms(deadline));
      continue;
    }
    throw AdminError("admin API at " + shown + ": send failed: " + std::strerror(errno));
  }
}

enum class ReadResult { Data, Closed, NothingYet };

// Appends what arrives within timeout_ms to *out. A reset counts as a close: whether the
// response was complete is for the parser to say.
ReadResult read_some(const Socket& socket, int timeout_ms, std::string* out,
                     const std::string& shown) {
  if (!wait_for(socket.fd(), POLLIN, timeout_ms)) return ReadResult::NothingYet;
  char buffer[64 << 10];
  ssize_t received = ::recv(socket.fd(), buffer, sizeof buffer, 0);
  if (received > 0) {
    out->append(buffer, static_cast<size_t>(received));
    return ReadResult::Data;
  }
  if (received == 0 || errno == ECONNRESET) return ReadResult::Closed;
  if (errno == EAGAIN || errno == EINTR) return ReadResult::NothingYet;
  throw AdminError("admin API at " + shown + ": receive failed: " + std::strerror(errno));
}

bool is_success(int status) {
  return status >= 200 && status < 300;
}

// Collects one response. Interim 1xx responses are skipped.
class ResponseReader : public HttpMessageParser::Listener {
 public:
  bool on_head(const HttpHead& head) override {
    status_ = head.status_code;
    return false;
  }
  void on_body(std::string_view chunk) override {
    if (status_ >= 200) body_.append(chunk);
  }
  void on_message_complete() override {
    if (status_ >= 200) complete_ = true;
  }

  bool has_head() const { return status_ >= 200; }
  // A 2xx head has arrived: the body is the payload, not an error message.
  bool streaming() const { return is_success(status_); }
  bool complete() const { return complete_; }
  int status() const { return status_; }
  std::string& body() { return body_; }

 private:
  int status_ = 0;
  bool complete_ = false;
  std::string body_;
};

void feed_parser(HttpMessageParser& parser, std::string_view bytes, const std::string& shown) {
  size_t consumed = 0;
  HttpMessageParser::Status status = parser.feed(bytes, &consumed);
  if (status == HttpMessageParser::Status::Ok) return;
  std::string reason = status == HttpMessageParser::Status::Upgraded ? "an unexpected upgrade"
                                                                     : parser.failure().message;
  throw AdminError("admin API at " + shown + " sent a malformed response: " + reason);
}

// The server closed: a body delimited by the close is complete now; anything else is cut.
void finish_at_close(HttpMessageParser& parser, const ResponseReader& reader,
                     const std::string& shown) {
  parser.finish();
  if (!reader.has_head()) {
    throw AdminError("admin API at " + shown + " closed the connection without answering");
  }
}

constexpr int kNoWaitLimit = std::numeric_limits<int>::max();

// One request's connection and the parsing of its response. The deadline covers connecting,
// sending, and every wait that goes through wait_within_deadline.
class ResponseStream {
 public:
  ResponseStream(const AdminEndpoint& endpoint, const std::string& request,
                 std::chrono::milliseconds timeout)
      : shown_(endpoint.address.to_string()),
        timeout_(timeout),
        deadline_(Clock::now() + timeout),
        socket_(connect_to(endpoint.address, deadline_)),
        parser_(HttpMessageParser::Type::Response, reader_) {
    send_all(socket_, request, deadline_, shown_);
  }

  // How long the next wait may last: at most at_most_ms, never past the deadline.
  int wait_within_deadline(int at_most_ms) const {
    int left = remaining_ms(deadline_);
    if (left == 0) {
      throw AdminError("admin API at " + shown_ + " did not answer within " +
                       std::to_string(timeout_.count()) + " ms");
    }
    return std::min(at_most_ms, left);
  }

  // Waits up to wait_ms for more of the response and parses it. False once the server has
  // closed the connection.
  bool read_more(int wait_ms) {
    bytes_.clear();
    ReadResult result = read_some(socket_, wait_ms, &bytes_, shown_);
    if (result == ReadResult::Closed) {
      finish_at_close(parser_, reader_, shown_);
      return false;
    }
    if (result == ReadResult::Data) feed_parser(parser_, bytes_, shown_);
    if (reader_.body().size() > kMaxBodyBytes) {
      throw AdminError("admin API at " + shown_ + " sent a response larger than 64 MiB");
    }
    return true;
  }

  ResponseReader& reader() { return reader_; }

 private:
  std::string shown_;
  std::chrono::milliseconds timeout_;
  Clock::time_point deadline_;
  Socket socket_;
  ResponseReader reader_;
  HttpMessageParser parser_;
  std::string bytes_;
};

// Hands every complete line in *pending to on_line and keeps the unfinished rest. Returns
// false when on_line asked to stop.
bool deliver_lines(std::string* pending, const AdminClient::LineHandler& on_line) {
  size_t start = 0;
  bool keep_going = true;
  while (keep_going) {
    size_t end = pending->find('\n', start);
    if (end == std::string::npos) break;
    std::string_view line(pending->data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    keep_going = on_line(line);
    start = end + 1;
  }
  pending->erase(0, start);
  return keep_going;
}

// One line, whatever the server put in its message: line breaks become spaces, the cut
// falls between characters, and any other control is written out (cli/terminal_text.h),
// since the message ends up on the user's terminal.
std::string one_line(std::string text, size_t max_length) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (text.size() <= max_length) return printable(text);
  size_t cut = max_length;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return printable(std::string_view(text).substr(0, cut)) + "...";
}

std::string server_message(const std::string& body) {
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_string()) {
    return one_line(parsed["error"].get<std::string>(), 300);
  }
  size_t start = body.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  return one_line(body.substr(start, body.find('\n', start) - start), 300);
}

std::string loopback_for_wildcard(const std::string& host) {
  if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
  if (host == "::") return "::1";
  return host;
}

// Users paste URLs; "http://127.0.0.1:9901/" means the same as "127.0.0.1:9901".
std::string strip_url_decoration(std::string text) {
  if (text.rfind("http://", 0) == 0) text.erase(0, 7);
  while (!text.empty() && text.back() == '/') text.pop_back();
  return text;
}

base::Result<std::string> read_token(const std::string& token_env) {
  const char* value = std::getenv(token_env.c_str());
  if (!value) return std::string();
  std::string token = value;
  // The token goes into a header line; a control character would break or forge headers.
  if (std::any_of(token.begin(), token.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return base::fail("$" + token_env + ": the admin token contains a control character");
  }
  return token;
}

}  // namespace

base::Result<AdminEndpoint> resolve_admin_endpoint(const std::string& admin_flag,
                                                   const std::string& config_path) {
  AdminEndpoint endpoint;
  if (!config_path.empty()) {
    base::Result<Config> config = load_config_file(config_path);
    if (!config) return config.error();
    endpoint.address = config->admin.listen;
    endpoint.token_env = config->admin.token_env;
  }
  if (!admin_flag.empty()) {
    base::Result<base::HostPort> flag =
        parse_host_port(strip_url_decoration(admin_flag), "--admin");
    if (!flag) return flag.error();
    endpoint.address = *flag;
  }
  endpoint.address.host = loopback_for_wildcard(endpoint.address.host);
  if (endpoint.address.port == 0) {
    return base::fail("admin address " + endpoint.address.to_string() + ": port 0 is not one");
  }
  base::Result<std::string> token = read_token(endpoint.token_env);
  if (!token) return token.error();
  endpoint.bearer_token = std::move(token).value();
  return endpoint;
}

AdminClient::AdminClient(AdminEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

std::string AdminClient::request_head(std::string_view method, const std::string& target,
                                      std::string_view accept) const {
  std::string head = std::string(method) + " " + target + " HTTP/1.1\r\n";
  head += "Host: " + address() + "\r\n";
  head += "User-Agent: mcptap/" MCPTAP_VERSION "\r\n";
  head += "Accept: " + std::string(accept) + "\r\n";
  if (!endpoint_.bearer_token.empty()) {
    head += "Authorization: Bearer " + endpoint_.bearer_token + "\r\n";
  }
  head += "Connection: close\r\n";
  return head;
}

AdminResponse AdminClient::get(const std::string& target) const {
  return exchange(request_head("GET", target, "application/json") + "\r\n");
}

AdminResponse AdminClient::post_json(const std::string& target,
                                     const std::string& json_body) const {
  std::string request = request_head("POST", target, "application/json");
  request += "Content-Type: application/json\r\n";
  request += "Content-Length: " + std::to_string(json_body.size()) + "\r\n\r\n";
  return exchange(request + json_body);
}

AdminResponse AdminClient::exchange(const std::string& request) const {
  ResponseStream stream(endpoint_, request, timeout_);
  ResponseReader& reader = stream.reader();
  while (!reader.complete()) {
    if (!stream.read_more(stream.wait_within_deadline(kNoWaitLimit)) && !reader.complete()) {
      throw AdminError("admin API at " + address() + " closed the connection mid-response");
    }
  }
  return {reader.status(), std::move(reader.body())};
}

StreamOutcome AdminClient::stream_lines(const std::string& target, const LineHandler& on_line,
                                        const StopCheck& stop_requested) const {
  ResponseStream stream(endpoint_, request_head("GET", target, "application/x-ndjson") + "\r\n",
                        timeout_);
  ResponseReader& reader = stream.reader();
  std::string pending;  // the start of a line whose break has not arrived yet
  StreamOutcome outcome;
  bool open = true;
  while (open && !reader.complete() && !outcome.stopped) {
    if (stop_requested && stop_requested()) {
      outcome.stopped = true;
      break;
    }
    // Only a streaming 2xx may stay silent indefinitely; the head and error bodies may not.
    open = stream.read_more(reader.streaming() ? kStopCheckIntervalMs
                                               : stream.wait_within_deadline(kStopCheckIntervalMs));
    if (!reader.streaming()) continue;
    pending += reader.body();
    reader.body().clear();
    outcome.stopped = !deliver_lines(&pending, on_line);
    if (pending.size() > kMaxBodyBytes) {
      throw AdminError("admin API at " + address() + " sent a line longer than 64 MiB");
    }
  }
  outcome.status = reader.status();
  if (!reader.streaming()) {
    outcome.error_body = std::move(reader.body());
  } else if (!outcome.stopped && !pending.empty()) {
    on_line(pending);  // the last line, ended by the end of the stream rather than a break
  }
  return outcome;
}

std::string AdminClient::describe_failure(int status, const std::string& body) const {
  std::string message = "admin API at " + address() + " answered " + std::to_string(status);
  std::string detail = server_message(body);
  if (!detail.empty()) message += ": " + detail;
  if (status == 401) {
    message += endpoint_.bearer_token.empty()
                   ? " (no token: set $" + endpoint_.token_env + ")"
                   : " (the token in $" + endpoint_.token_env + " was refused)";
  } else if (status == 403 && endpoint_.bearer_token.empty()) {
    message += " (no token: set $" + endpoint_.token_env + ")";
  }
  return message;
}

std::string percent_encode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  for (char c : text) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      encoded += c;
    } else {
      auto byte = static_cast<unsigned char>(c);
      encoded += '%';
      encoded += kHex[byte >> 4];
      encoded += kHex[byte & 0x0F];
    }
  }
  return encoded;
}

// ---- Glue shared by the subcommands that talk to the admin API. ----

void add_admin_options(CLI::App& sub, AdminArgs& args) {
  sub.add_option("--admin", args.admin_address,
                 "admin API address host:port (default: the config's admin.listen, else "
                 "127.0.0.1:9901)");
  sub.add_option("--config,-c", args.config_path,
                 "take the admin address and token variable from this configuration file")
      ->check(CLI::ExistingFile);
}

AdminClient make_admin_client(const AdminArgs& args) {
  base::Result<AdminEndpoint> endpoint =
      resolve_admin_endpoint(args.admin_address, args.config_path);
  if (!endpoint) throw CommandError(endpoint.error().message, kExitUsage);
  return AdminClient(std::move(endpoint).value());
}

nlohmann::json parse_admin_json(const AdminClient& client, const AdminResponse& response,
                                std::string_view path) {
  if (!is_success(response.status)) {
    throw AdminError(client.describe_failure(response.status, response.body));
  }
  nlohmann::json parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (parsed.is_discarded()) {
    throw AdminError("admin API at " + client.address() + " sent invalid JSON for " +
                     std::string(path));
  }
  return parsed;
}

}  // namespace mcptap::cli

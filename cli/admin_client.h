// Client of the admin API: where it listens, its bearer token, blocking HTTP/1.1 exchanges.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/host_port.h"

namespace mcptap::cli {

// The admin API could not be reached or did not answer with HTTP; the message is one line
// naming the address.
class AdminError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AdminEndpoint {
  base::HostPort address{"127.0.0.1", 9901};
  std::string token_env = "MCPTAP_ADMIN_TOKEN";  // named in messages about the token
  std::string bearer_token;                      // empty: no Authorization header
};

// --admin wins, then the config's admin.listen, then 127.0.0.1:9901; a wildcard listen
// address means the loopback one. The token is read from the env var the config names
// (admin.token_env, default MCPTAP_ADMIN_TOKEN). The error is one line naming a bad address,
// token or config file.
base::Result<AdminEndpoint> resolve_admin_endpoint(const std::string& admin_flag,
                                                   const std::string& config_path);

struct AdminResponse {
  int status = 0;
  std::string body;
};

// How a streaming GET ended.
struct StreamOutcome {
  int status = 0;
  std::string error_body;  // the whole body when the status is not 2xx (no lines then)
  bool stopped = false;    // true: the caller stopped it; false: the server ended or closed it
};

// One request per connection (Connection: close), so nothing is pooled or pipelined.
class AdminClient {
 public:
  using LineHandler = std::function<bool(std::string_view line)>;  // false: stop reading
  using StopCheck = std::function<bool()>;                         // true: stop reading

  explicit AdminClient(AdminEndpoint endpoint,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Connects, sends, and reads the whole response within the timeout. Throws AdminError.
  AdminResponse get(const std::string& target) const;
  AdminResponse post_json(const std::string& target, const std::string& json_body) const;

  // A GET whose body is a stream of lines (NDJSON): each complete line, without its line
  // break, goes to on_line as soon as it arrives. The timeout covers only connecting and the
  // response head; after that, the stream may stay silent for as long as it likes.
  // stop_requested is consulted at least every 250 ms and whenever a signal interrupts the
  // wait. Throws AdminError.
  StreamOutcome stream_lines(const std::string& target, const LineHandler& on_line,
                             const StopCheck& stop_requested) const;

  // One line for a response a command cannot use, e.g. `admin API at 127.0.0.1:9901
  // answered 404: no route named "x"`, with a hint about the token for 401.
  std::string describe_failure(int status, const std::string& body) const;

  std::string address() const { return endpoint_.address.to_string(); }

 private:
  std::string request_head(std::string_view method, const std::string& target,
                           std::string_view accept) const;
  AdminResponse exchange(const std::string& request) const;

  AdminEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
};

struct AdminArgs;  // cli/client_commands.h

// The client for a subcommand's --admin and --config. A bad address or config file is a
// CommandError with exit code kExitUsage.
AdminClient make_admin_client(const AdminArgs& args);

// The JSON body of a 2xx response. Throws AdminError naming the path for another status
// (via describe_failure) or for a body that is not JSON.
nlohmann::json parse_admin_json(const AdminClient& client, const AdminResponse& response,
                                std::string_view path);

// Percent-encodes everything but RFC 3986 unreserved characters, for paths and queries.
std::string percent_encode(std::string_view text);

}  // namespace mcptap::cli

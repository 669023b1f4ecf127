// Name resolution for every layer: IP literals without DNS; names through getaddrinfo, on
// libuv's thread pool for code on a loop (which must never wait for DNS), or blocking for
// the CLI and start-up.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/host_port.h"
#include "base/result.h"

namespace mcptap::base {

// The address of an IPv4 or IPv6 literal, without DNS; nullopt when `target.host` is a name.
std::optional<sockaddr_storage> ip_literal(const HostPort& target);
// Whether `text` is an IPv4 or IPv6 address as written in a URL host or a certificate
// (no port, no brackets, no zone id).
bool is_ip_literal(std::string_view text);
// The IP of an IPv4 or IPv6 address as text, without the port ("" for another family).
std::string address_text(const sockaddr_storage& address);

// Blocks until getaddrinfo answers (a literal answers at once). The addresses, IPv4 or IPv6,
// come in the resolver's order and are never empty. `what` names the host in the error,
// e.g. `cannot resolve the admin API host "db": Name or service not known`; the error's
// code is the EAI_* name.
Result<std::vector<sockaddr_storage>> resolve_blocking(const HostPort& target,
                                                       std::string_view what = "host");

// One lookup at a time on a loop; the caller then tries addresses() in order. Loop thread
// only.
class Resolver {
 public:
  enum class Start {
    Resolved,  // an IP literal: addresses() is filled, the callback will not run
    Pending,   // a name: the callback runs later on the loop thread
    Failed,    // could not even start: error() says why, the callback will not run
  };
  // `status` is 0 (addresses() filled, never empty) or a UV_EAI_* / UV_E* error.
  using Callback = std::function<void(int status)>;

  explicit Resolver(uv_loop_t* loop) : loop_(loop) {}
  ~Resolver() { cancel(); }
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  Start start(const HostPort& target, Callback on_resolved);
  // A known address (an original destination): addresses() holds just it. Always Resolved.
  Start start_at(const sockaddr_storage& address);
  // Abandons a lookup in flight: its callback will never run. The thread pool may still be
  // busy with it; its request then frees itself when it comes back.
  void cancel();

  bool pending() const { return lookup_ != nullptr; }
  int error() const { return error_; }
  const std::vector<sockaddr_storage>& addresses() const { return addresses_; }

 private:
  struct Lookup;
  static void on_getaddrinfo(uv_getaddrinfo_t* req, int status, addrinfo* result);
  void finish_lookup(int status, const addrinfo* result);

  uv_loop_t* loop_;
  Lookup* lookup_ = nullptr;  // owned by the thread pool request until its callback
  Callback on_resolved_;
  std::vector<sockaddr_storage> addresses_;
  int error_ = 0;
};

}  // namespace mcptap::base

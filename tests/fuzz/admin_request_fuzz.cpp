// Fuzzes the admin server's request path without sockets: AdminRequestReader (parsing,
// target split, body bound, keep-alive) fed in pieces, and every request it yields through
// the access rules (Host, Origin, token, Content-Type) for each kind of endpoint.
#include <cstddef>
#include <cstdint>
#include <deque>

#include "proxy/admin_access.h"
#include "proxy/admin_request_reader.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using mcptap::proxy::AdminAccessPolicy;
using mcptap::proxy::AdminEndpointKind;
using mcptap::proxy::ParsedAdminRequest;

const AdminAccessPolicy kPolicies[] = {
    {"", "127.0.0.1", {}},
    {"s3cret-token", "0.0.0.0", {"mcptap.internal", "ops:9901", "[fd00::1]:9901"}},
    {"", "::", {"localhost:1"}},
};

size_t check(const ParsedAdminRequest& parsed) {
  size_t checksum = parsed.request.path.size() + parsed.request.query.size() +
                    parsed.request.body.size() + static_cast<size_t>(parsed.reject_status);
  if (parsed.reject_status != 0) return checksum;
  for (const AdminAccessPolicy& policy : kPolicies) {
    for (AdminEndpointKind kind : {AdminEndpointKind::Probe, AdminEndpointKind::Open,
                                   AdminEndpointKind::CapturedContent, AdminEndpointKind::Change}) {
      auto refusal = mcptap::proxy::check_admin_access(parsed.request, kind, policy);
      if (refusal) {
        if (refusal->status < 400 || refusal->status > 499 || refusal->reason.empty()) {
          __builtin_trap();
        }
        checksum += refusal->message.size();
      } else if (kind != AdminEndpointKind::Probe && parsed.request.header("origin")) {
        __builtin_trap();  // a request with an Origin never passes
      }
    }
    if (auto host = parsed.request.header("host")) {
      checksum += mcptap::proxy::admin_host_allowed(*host, parsed.request.local_address, policy);
    }
  }
  return checksum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcptap::fuzz::FuzzInput input(data, size);
  uint8_t options = input.byte();
  size_t max_head = (options & 1) ? 256 : (16u << 10);
  size_t max_body = (options & 2) ? 16 : (64u << 10);
  mcptap::proxy::AdminRequestReader reader(max_head, max_body);
  std::deque<ParsedAdminRequest> ready;
  size_t checksum = 0;
  size_t rejections = 0;
  while (!input.empty() && !reader.done()) {
    reader.feed(input.chunk(), &ready);
    (void)reader.take_expect_continue();
    while (!ready.empty()) {
      ParsedAdminRequest parsed = std::move(ready.front());
      ready.pop_front();
      parsed.request.local_address = (options & 4) ? "10.1.2.3" : "::ffff:127.0.0.1";
      rejections += parsed.reject_status != 0;
      checksum += check(parsed);
    }
  }
  if (rejections > 1) __builtin_trap();  // reading ends at the first rejection
  if (reader.in_request() && reader.done()) __builtin_trap();
  if (!reader.done()) reader.reject(408, "deadline", &ready);
  return checksum == 0xdeadbeef ? 1 : 0;
}

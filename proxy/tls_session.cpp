// The TLS part of a Session: handshakes between connect and forwarding, decryption on the
// read path, and TLS failures closing the connection with their reason.
//
// Both sockets are connected before any handshake starts, so an unreachable upstream is
// still a reset, as without TLS. Then only the TLS sides are read until every handshake is
// done: a plaintext client's first bytes wait in the kernel, as they do during the
// connect. Whatever plaintext a handshake gives early (a TLS 1.3 client's request often
// shares a segment with its Finished) is held, its socket left unread, and forwarded once
// the connection is ready: the tap sees every byte in order, and after on_tls.
#include <arpa/inet.h>

#include <cassert>
#include <utility>

#include "base/resolver.h"
#include "proxy/session.h"

namespace mcptap::proxy {
namespace {

constexpr size_t kMaxSniInLog = 255;

// The client's SNI is its own text: only printable ASCII reaches a log line.
std::string printable_sni(std::string_view sni) {
  std::string text;
  for (char c : sni.substr(0, kMaxSniInLog)) text += (c >= 0x20 && c < 0x7f) ? c : '?';
  return text;
}

uint16_t port_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

}  // namespace

bool Session::Side::on_plaintext(PooledBuffer* buffer, size_t length) {
  return session->on_plaintext(*this, buffer, length);
}

bool Session::Side::on_ciphertext(PooledBuffer* buffer, size_t length) {
  return session->on_ciphertext(*this, buffer, length);
}

bool Session::intercepting() const {
  return tls_->listen && tls_->listen->minter() != nullptr;
}

// A side still owes its handshake: it has one under way, or (intercepting) the upstream's
// has not started because it waits for the client's SNI.
bool Session::handshaking(const Side& side) const {
  if (side.tls) return side.tls->state() == TlsAdapter::State::Handshaking;
  return &side == &upstream_ && tls_ && tls_->upstream != nullptr;
}

void Session::start_handshakes() {
  state_ = State::Handshaking;
  connect_sides();
  uv_timer_start(connect_timer_, &Session::on_connect_timeout,
                 static_cast<uint64_t>(limits_.tls_handshake_timeout_ms), 0);
  if (tls_->listen) {
    std::string fallback_name = base::address_text(upstream_address());
    client_.tls = TlsAdapter::accept(tls_->listen, std::move(fallback_name), pool_, client_);
    if (!client_.tls) {
      fail_tls(client_, TlsFailure::Internal);
      return;
    }
    start_reading(client_);
    if (state_ != State::Handshaking) return;
  }
  // Behind a TLS listener the upstream's handshake starts with the client's first bytes (in
  // parallel with the rest of the client's handshake): a port probe that connects and
  // leaves costs the upstream no handshake. An intercepted upstream waits for the whole
  // client handshake, for the name the client asks for.
  if (tls_->upstream && !tls_->listen) start_upstream_handshake();
}

bool Session::upstream_waits_for_client_hello() const {
  return state_ == State::Handshaking && tls_->upstream && tls_->listen && !intercepting() &&
         !upstream_.tls;
}

void Session::start_upstream_handshake() {
  upstream_.tls = TlsAdapter::connect(tls_->upstream, upstream_target(), pool_, upstream_);
  if (!upstream_.tls) {
    fail_tls(upstream_, TlsFailure::Internal);
    return;
  }
  TlsAdapter::State state = upstream_.tls->start();  // the ClientHello
  if (state_ != State::Handshaking) return;
  if (state == TlsAdapter::State::Failed) {
    fail_tls(upstream_, upstream_.tls->failure());
    return;
  }
  start_reading(upstream_);
}

// The address the upstream socket connected to (the original destination when transparent).
const sockaddr_storage& Session::upstream_address() const {
  assert(next_address_ > 0);
  return resolver_.addresses()[next_address_ - 1];
}

// SNI and the name checked: upstream_tls.server_name, else the upstream host; intercepting,
// the client's SNI. Without a name (an IP upstream, a client that sent no SNI) the
// certificate is checked for the IP connected to, and no SNI is sent. Sessions are cached
// per address connected to and name.
TlsTarget Session::upstream_target() const {
  const UpstreamTls& config = tls_->upstream->config();
  TlsTarget target;
  target.alpn = config.alpn;
  if (intercepting()) {
    target.sni = std::string(client_.tls->requested_server_name());
  } else if (!config.server_name.empty()) {
    target.sni = config.server_name;
  } else if (!base::is_ip_literal(route_.upstream.host)) {
    target.sni = route_.upstream.host;
  }
  std::string ip = base::address_text(upstream_address());
  target.verify_ip = target.sni.empty();
  target.verify_name = target.verify_ip ? ip : target.sni;
  target.cache_key = ip + ":" + std::to_string(port_of(upstream_address())) + "|" + target.sni;
  return target;
}

// ---- Reading --------------------------------------------------------------------------

void Session::on_tls_read(Side& source, PooledBuffer* buffer, size_t length) {
  last_activity_ms_ = uv_now(loop_);
  source.heard = true;
  if (&source == &client_ && upstream_waits_for_client_hello()) {
    start_upstream_handshake();
    if (state_ != State::Handshaking) {
      pool_.release(buffer);
      return;
    }
  }
  TlsAdapter::State state = source.tls->receive(std::string_view(buffer->data(), length));
  pool_.release(buffer);
  on_tls_progress(source, state);
}

void Session::on_tls_progress(Side& side, TlsAdapter::State state) {
  if (state_ != State::Handshaking && state_ != State::Forwarding) return;
  switch (state) {
    case TlsAdapter::State::Handshaking:
      return;
    case TlsAdapter::State::Open:
      if (state_ != State::Handshaking) return;
      if (&side == &client_ && intercepting() && !upstream_.tls) {
        start_upstream_handshake();
        if (state_ != State::Handshaking) return;
      }
      finish_handshakes();
      return;
    case TlsAdapter::State::PeerClosed:
      // close_notify: the side sends nothing more, as with a FIN. Its socket is not read
      // any further; the FIN that usually follows is not needed.
      if (state_ == State::Handshaking) {
        close_sides(&side);
        return;
      }
      other(side).into.stop_reading();
      on_source_eof(side);
      return;
    case TlsAdapter::State::Failed:
      fail_tls(side, side.tls->failure());
      return;
  }
}

bool Session::on_plaintext(Side& source, PooledBuffer* buffer, size_t length) {
  if (state_ == State::Forwarding) {
    forward(source, buffer, length);
    return state_ == State::Forwarding;
  }
  if (state_ == State::Handshaking) {
    source.held.emplace_back(buffer, length);
    other(source).into.stop_reading();
    return true;
  }
  pool_.release(buffer);
  return false;
}

bool Session::on_ciphertext(Side& side, PooledBuffer* buffer, size_t length) {
  if (side.into.output() == nullptr) {  // closing
    pool_.release(buffer);
    return false;
  }
  if (side.into.write(buffer, length) != 0) {
    close_sides(&side);
    return false;
  }
  return true;
}

// ---- Ready ----------------------------------------------------------------------------

void Session::finish_handshakes() {
  if (handshaking(client_) || handshaking(upstream_)) return;
  state_ = State::Forwarding;
  close_connect_timer();
  capture::TlsSummary summary;
  for (Side* side : {&client_, &upstream_}) {
    if (!side->tls) continue;
    capture::TlsEndpoint endpoint = side->tls->summary();
    ++route_counters_.tls.handshakes[static_cast<size_t>(tls_side(*side))][endpoint.resumed];
    (side == &client_ ? summary.client : summary.upstream) = std::move(endpoint);
  }
  if (client_.tls && client_.tls->minted_leaf()) ++route_counters_.tls.certificates_minted;
  if (tap_) tap_->on_tls(summary);
  for (Side* side : {&client_, &upstream_}) {
    auto held = std::move(side->held);
    side->held.clear();
    for (auto [buffer, length] : held) {
      if (state_ == State::Forwarding) {
        forward(*side, buffer, length);
      } else {
        pool_.release(buffer);
      }
    }
  }
  if (state_ != State::Forwarding) return;
  if (!client_.eof) start_reading(client_);
  if (state_ == State::Forwarding && !upstream_.eof) start_reading(upstream_);
}

// ---- Failing --------------------------------------------------------------------------

// A handshake that fails closes the connection: a client gets our alert and a FIN, and
// its upstream a reset; an upstream's failure resets the client as an unreachable upstream
// does. Once forwarding, a broken record closes the connection the same way, but is not a
// handshake failure.
void Session::fail_tls(Side& side, TlsFailure reason) {
  TlsFailureReport report;
  report.side = tls_side(side);
  report.reason = reason;
  report.during_handshake = state_ != State::Forwarding;
  if (side.tls) report.detail = side.tls->failure_detail();
  if (client_.tls) report.sni = printable_sni(client_.tls->requested_server_name());
  if (report.during_handshake) {
    ++route_counters_.tls
          .handshake_failures[static_cast<size_t>(report.side)][static_cast<size_t>(reason)];
  }
  tls_failure_ = std::move(report);
  if (&side == &upstream_ && state_ == State::Handshaking && !client_.tls) {
    fail_towards_client();  // a plaintext client has not been read: reset when heard
  } else {
    close_sides(&side);
  }
}

void Session::release_held() {
  for (Side* side : {&client_, &upstream_}) {
    for (auto [buffer, length] : side->held) pool_.release(buffer);
    side->held.clear();
  }
}

}  // namespace mcptap::proxy

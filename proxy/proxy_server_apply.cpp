// Applying a new configuration to the running proxy: listen names resolved off the loop,
// every new listener listening before anything running changes, then the switch-over.
#include <algorithm>
#include <utility>

#include "base/log.h"
#include "proxy/control_plane.h"
#include "proxy/proxy_server.h"

namespace mcptap::proxy {
namespace {

using ResolvedListens = std::map<std::string, sockaddr_storage>;

bool intercepts(const RouteConfig& route) {
  return route.listen_tls && route.listen_tls->intercept;
}

// Whether each side speaks TLS is part of the endpoints: switching it replaces the route.
// Changed TLS files or settings do not: the route's contexts are swapped, new connections
// handshake with them and open ones keep theirs.
bool same_endpoints(const RouteConfig& a, const RouteConfig& b) {
  return a.listen == b.listen && a.upstream == b.upstream &&
         a.upstream_original_dst == b.upstream_original_dst &&
         a.listen_tls.has_value() == b.listen_tls.has_value() &&
         a.upstream_tls.has_value() == b.upstream_tls.has_value() && intercepts(a) == intercepts(b);
}

}  // namespace

// A route whose listen address is unchanged keeps its socket (or hands it over to its
// replacement); any other route needs an address to bind.
bool ProxyServer::needs_new_address(const RouteConfig& config) const {
  const ProxyRoute* current = running_route(config.name);
  return !(current && current->config.listen == config.listen);
}

void ProxyServer::apply(ProxyOptions options, ApplyDone done) {
  cancel_pending_apply("superseded by a newer configuration");
  if (draining_) {
    done(base::fail("the proxy is shutting down"));
    return;
  }
  pending_apply_ = std::make_unique<PendingApply>();
  PendingApply& pending = *pending_apply_;
  pending.options = std::move(options);
  pending.done = std::move(done);
  for (const RouteConfig& config : pending.options.routes) {
    if (!needs_new_address(config) || base::ip_literal(config.listen)) continue;
    auto resolver = std::make_unique<base::Resolver>(&loop_);
    std::string name = config.name;
    auto started = resolver->start(config.listen,
                                   [this, name](int status) { on_listen_resolved(name, status); });
    if (started == base::Resolver::Start::Failed) {
      if (!pending.failure) {
        pending.failure = base::fail("route " + name + ": cannot resolve the listen host \"" +
                                     config.listen.host + "\": " + uv_strerror(resolver->error()));
      }
      continue;
    }
    pending.lookups.emplace(name, std::move(resolver));
  }
  if (pending.lookups.empty()) finish_pending_apply();
}

void ProxyServer::on_listen_resolved(const std::string& route, int status) {
  PendingApply& pending = *pending_apply_;
  const base::Resolver& resolver = *pending.lookups.at(route);
  if (status == 0) {
    pending.resolved[route] = resolver.addresses().front();
  } else if (!pending.failure) {
    auto config = std::find_if(pending.options.routes.begin(), pending.options.routes.end(),
                               [&](const RouteConfig& c) { return c.name == route; });
    pending.failure = base::fail("route " + route + ": cannot resolve the listen host \"" +
                                 config->listen.host + "\": " + uv_strerror(status));
  }
  if (++pending.answered < pending.lookups.size()) return;
  // The resolvers go with the pending apply; this one is in its own callback, whose last
  // step this is.
  finish_pending_apply();
}

void ProxyServer::finish_pending_apply() {
  std::unique_ptr<PendingApply> pending = std::move(pending_apply_);
  base::Status applied = pending->failure ? base::Status(*pending->failure)
                                          : apply_resolved(pending->options, pending->resolved);
  pending->done(std::move(applied));  // may start another apply
}

void ProxyServer::cancel_pending_apply(const std::string& why) {
  if (!pending_apply_) return;
  std::unique_ptr<PendingApply> pending = std::move(pending_apply_);
  pending->done(base::fail(why));
}

// All or nothing: every route that needs a new listener gets it listening first; only
// then are the running routes changed, so a failure leaves them exactly as they were.
base::Status ProxyServer::apply_resolved(const ProxyOptions& options,
                                         const ResolvedListens& resolved) {
  base::Result<RouteTlsByName> tls = load_tls(options.routes);
  if (!tls) return tls.error();
  std::vector<std::unique_ptr<ProxyRoute>> fresh;
  for (const RouteConfig& config : options.routes) {
    const ProxyRoute* current = running_route(config.name);
    if (current && same_endpoints(current->config, config)) continue;
    base::Result<std::unique_ptr<ProxyRoute>> started =
        start_replacement(config, resolved, tls->at(config.name));
    if (!started) {
      for (auto& route : fresh) retire_route(std::move(route));
      return started.error();
    }
    fresh.push_back(std::move(started).value());
  }
  install(options, std::move(fresh), *tls);
  return {};
}

// A new route, or one whose endpoints changed, listening. With an unchanged listen address
// it takes over the running route's socket instead of binding again: the port is never
// free for someone else to take, and clients queued in the backlog are not refused.
base::Result<std::unique_ptr<ProxyRoute>> ProxyServer::start_replacement(
    const RouteConfig& config, const ResolvedListens& resolved, std::shared_ptr<RouteTls> tls) {
  std::unique_ptr<ProxyRoute> route = make_route(config, std::move(tls));
  const ProxyRoute* current = running_route(config.name);
  base::Status listening;
  if (current && current->config.listen == config.listen) {
    base::Result<int> socket = current->listener->duplicate_socket();
    listening = socket ? route->listener->adopt(*socket) : base::Status(socket.error());
  } else if (std::optional<sockaddr_storage> literal = base::ip_literal(config.listen)) {
    listening = route->listener->start_at(*literal);
  } else if (auto found = resolved.find(config.name); found != resolved.end()) {
    listening = route->listener->start_at(found->second);
  } else {
    listening = base::fail("route " + config.name + ": the listen host \"" + config.listen.host +
                           "\" was not resolved");
  }
  if (!listening) {
    retire_route(std::move(route));
    return listening.error();
  }
  return route;
}

// Routes gone or replaced are retired (a replaced route's connections close with it, as
// its upstream changed); the others keep their connections and take the new capture flag
// and limits. New routes come last, in configuration order.
void ProxyServer::install(const ProxyOptions& options,
                          std::vector<std::unique_ptr<ProxyRoute>> fresh,
                          const RouteTlsByName& tls) {
  auto in_fresh = [&](const std::string& name) {
    return std::any_of(fresh.begin(), fresh.end(),
                       [&](const auto& route) { return route->config.name == name; });
  };
  auto in_options = [&](const std::string& name) {
    return std::any_of(options.routes.begin(), options.routes.end(),
                       [&](const RouteConfig& config) { return config.name == name; });
  };
  for (size_t i = 0; i < routes_.size();) {
    const std::string& name = routes_[i]->config.name;
    if (in_options(name) && !in_fresh(name)) {
      ++i;
      continue;
    }
    retire_route(std::move(routes_[i]));
    routes_.erase(routes_.begin() + static_cast<long>(i));
  }
  for (const RouteConfig& config : options.routes) {
    auto it = std::find_if(fresh.begin(), fresh.end(),
                           [&](const auto& route) { return route->config.name == config.name; });
    if (it != fresh.end()) {
      routes_.push_back(std::move(*it));
      log_tls_ready(*routes_.back());
      continue;
    }
    ProxyRoute* route = running_route(config.name);
    route->config.listen_tls = config.listen_tls;
    route->config.upstream_tls = config.upstream_tls;
    route->tls = tls.at(config.name);
    route->listener->set_tls(route->tls);
    log_tls_ready(*route);
    route->config.capture = config.capture;
    route->pipeline->set_enabled(config.capture);
    if (!(route->config.limits == config.limits)) {
      route->config.limits = config.limits;
      route->listener->set_limits(config.limits);
      route->pipeline->set_budget(config.limits.capture_budget);
    }
  }
  options_.routes = options.routes;
}

void ProxyServer::retire_route(std::unique_ptr<ProxyRoute> route) {
  ProxyRoute* raw = route.get();
  control_plane_->unwatch(*raw->pipeline);
  retiring_.push_back(std::move(route));
  raw->listener->close([this, raw] {
    auto it = std::find_if(retiring_.begin(), retiring_.end(),
                           [raw](const auto& entry) { return entry.get() == raw; });
    if (it != retiring_.end()) retiring_.erase(it);
  });
}

}  // namespace mcptap::proxy

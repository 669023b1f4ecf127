// The per-route families of GET /metrics: traffic, capture, correlation and operation
// counters.
#include "proxy/route_metrics.h"

#include "capture/message_pipeline.h"

namespace mcptap::proxy {
namespace {

// Correlation state is fed from the wire (session ids, ids, methods, progress tokens): its
// size and what its bounds made it forget are visible here.
void write_correlation_metrics(PrometheusWriter& writer, const std::vector<RouteState>& routes) {
  writer.family("mcptap_correlation_evictions_total", MetricType::Counter,
                "Pending requests forgotten before their answer came, which is then recorded "
                "unpaired: reason pending (capture.max_pending_requests_per_session), sessions "
                "(capture.max_sessions), bytes (capture.max_correlation_bytes), idle "
                "(capture.session_idle_timeout_s). Not counted while capture is off.");
  for (const RouteState& route : routes) {
    const capture::CorrelatorStats& stats = route.capture.correlation_stats();
    for (size_t reason = 0; reason < capture::kEvictionReasons; ++reason) {
      writer.sample({{"route", route.config.name},
                     {"reason", capture::to_string(static_cast<capture::Eviction>(reason))}},
                    stats.evicted[reason]);
    }
  }
  writer.family("mcptap_correlation_sessions", MetricType::Gauge,
                "Sessions in the correlation state: those with a request awaiting its answer, "
                "and answered ones kept until they idle out. Not counted while capture is off.");
  for (const RouteState& route : routes) {
    writer.sample({{"route", route.config.name}}, route.capture.correlation_stats().sessions);
  }
  writer.family("mcptap_correlation_bytes", MetricType::Gauge,
                "Estimated memory of the correlation state, bounded by "
                "capture.max_correlation_bytes. Not counted while capture is off.");
  for (const RouteState& route : routes) {
    writer.sample({{"route", route.config.name}}, route.capture.correlation_stats().bytes);
  }
}

// Operation linking state is fed from the wire too (request states, task ids, listens):
// its size, what its bounds made it forget, and what looked like part of an operation but
// was left on its own. Reasons are fixed sets; no wire string becomes a label.
void write_operation_metrics(PrometheusWriter& writer, const std::vector<RouteState>& routes) {
  writer.family("mcptap_operation_evictions_total", MetricType::Counter,
                "Operations (multi round-trip requests, tasks, subscriptions) forgotten before "
                "their last message, which then starts an operation of its own: reason "
                "operations (capture.max_operations), bytes (capture.max_operation_bytes), idle "
                "(capture.operation_idle_timeout_s). Not counted while capture is off.");
  for (const RouteState& route : routes) {
    const capture::OperationStats& stats = route.capture.operation_stats();
    for (size_t reason = 0; reason < capture::kOperationEvictionReasons; ++reason) {
      writer.sample(
          {{"route", route.config.name},
           {"reason", capture::to_string(static_cast<capture::OperationEviction>(reason))}},
          stats.evicted[reason]);
    }
  }
  writer.family("mcptap_operations", MetricType::Gauge,
                "Operations in the linking state: awaiting a retry, a task poll or a "
                "subscription's notifications, and finished ones kept for late polls. Not "
                "counted while capture is off.");
  for (const RouteState& route : routes) {
    writer.sample({{"route", route.config.name}}, route.capture.operation_stats().operations);
  }
  writer.family("mcptap_operation_bytes", MetricType::Gauge,
                "Estimated memory of the operation linking state, bounded by "
                "capture.max_operation_bytes. Not counted while capture is off.");
  for (const RouteState& route : routes) {
    writer.sample({{"route", route.config.name}}, route.capture.operation_stats().bytes);
  }
  writer.family("mcptap_operation_unlinked_total", MetricType::Counter,
                "Messages that looked like part of an operation but were left on their own: "
                "reason ambiguous_retry (a retry without requestState matching several "
                "operations), unknown_subscription (a subscription id no listen of its session "
                "announced), subscription_mismatch (a subscription id other than the listen "
                "stream it came on). Not counted while capture is off.");
  for (const RouteState& route : routes) {
    const capture::OperationStats& stats = route.capture.operation_stats();
    for (size_t reason = 0; reason < capture::kUnlinkedReasons; ++reason) {
      writer.sample({{"route", route.config.name},
                     {"reason", capture::to_string(static_cast<capture::Unlinked>(reason))}},
                    stats.unlinked[reason]);
    }
  }
}

// TLS families: labels come from closed sets only (never the peer's text). A failure
// series appears once it is non-zero; handshakes are listed for each side that speaks TLS.
void write_tls_metrics(PrometheusWriter& writer, const std::vector<RouteState>& routes) {
  auto has_tls = [](const RouteConfig& config, size_t side) {
    return side == static_cast<size_t>(TlsSide::Client) ? config.listen_tls.has_value()
                                                        : config.upstream_tls.has_value();
  };
  auto side_name = [](size_t side) { return to_string(static_cast<TlsSide>(side)); };
  writer.family("mcptap_tls_handshake_failures_total", MetricType::Counter,
                "TLS handshakes that failed, by side (client: with mcptap's listener; upstream: "
                "mcptap to the upstream) and reason; each closed its connection.");
  for (const RouteState& route : routes) {
    const TlsCounters& tls = route.traffic.tls;
    for (size_t side = 0; side < 2; ++side) {
      for (size_t reason = 0; reason < static_cast<size_t>(TlsFailure::kCount); ++reason) {
        uint64_t count = tls.handshake_failures[side][reason];
        if (count == 0) continue;
        writer.sample({{"route", route.config.name},
                       {"side", std::string(side_name(side))},
                       {"reason", std::string(to_string(static_cast<TlsFailure>(reason)))}},
                      count);
      }
    }
  }
  writer.family("mcptap_tls_handshakes_total", MetricType::Counter,
                "TLS handshakes completed, by side and whether the session was resumed.");
  for (const RouteState& route : routes) {
    for (size_t side = 0; side < 2; ++side) {
      if (!has_tls(route.config, side)) continue;
      for (int resumed = 0; resumed < 2; ++resumed) {
        writer.sample({{"route", route.config.name},
                       {"side", std::string(side_name(side))},
                       {"resumed", resumed ? "true" : "false"}},
                      route.traffic.tls.handshakes[side][resumed]);
      }
    }
  }
  writer.family("mcptap_tls_certificates_minted_total", MetricType::Counter,
                "Leaf certificates minted by an intercepting route's local CA (one per name, "
                "cached).");
  for (const RouteState& route : routes) {
    if (!route.config.listen_tls || !route.config.listen_tls->intercept) continue;
    writer.sample({{"route", route.config.name}}, route.traffic.tls.certificates_minted);
  }
}

}  // namespace

void write_route_metrics(PrometheusWriter& writer, const std::vector<RouteState>& routes) {
  using Getter = uint64_t (*)(const RouteState&);
  struct Family {
    const char* name;
    MetricType type;
    const char* help;
    Getter value;
  };
  static const Family kFamilies[] = {
      {"mcptap_connections_open", MetricType::Gauge,
       "Client connections open now; counted while capture is off too.",
       [](const RouteState& r) { return r.traffic.connections_open; }},
      {"mcptap_connections_total", MetricType::Counter,
       "Client connections accepted; counted while capture is off too.",
       [](const RouteState& r) { return r.traffic.connections_total; }},
      {"mcptap_captured_messages_total", MetricType::Counter,
       "Records handed to the sink. Not counted while capture is off.",
       [](const RouteState& r) { return r.capture.counters().captured; }},
      {"mcptap_dropped_messages_total", MetricType::Counter,
       "Records the sink refused (spool or queue full). Not counted while capture is off.",
       [](const RouteState& r) { return r.capture.counters().dropped; }},
      {"mcptap_redacted_messages_total", MetricType::Counter,
       "Records with a value redacted. Not counted while capture is off.",
       [](const RouteState& r) { return r.capture.counters().redacted; }},
      {"mcptap_invalid_messages_total", MetricType::Counter,
       "Records of kind invalid. Not counted while capture is off.",
       [](const RouteState& r) { return r.capture.counters().invalid; }},
      {"mcptap_filtered_messages_total", MetricType::Counter,
       "Messages left out by the sample rate or method filter while capture is on. Not "
       "counted while capture is off.",
       [](const RouteState& r) { return r.capture.counters().filtered; }},
      {"mcptap_capture_budget_skipped_total", MetricType::Counter,
       "Exchanges (a request with its answer) and lone messages left out of capture by the "
       "route's capture budget (max_messages_per_second, max_bytes_per_second). Not counted "
       "while capture is off.",
       [](const RouteState& r) { return r.capture.counters().budget_skipped; }},
      {"mcptap_header_mismatch_total", MetricType::Counter,
       "Requests whose standard headers (MCP-Protocol-Version, Mcp-Method, Mcp-Name, "
       "Mcp-Param-*) disagree with their body; each is forwarded unchanged and its row has "
       "meta.header_mismatch. Not counted while capture is off.",
       [](const RouteState& r) { return r.capture.counters().header_mismatches; }},
      {"mcptap_watermark_pauses_total", MetricType::Counter,
       "Reads paused because the other side's write queue passed the high watermark; "
       "counted while capture is off too.",
       [](const RouteState& r) { return r.traffic.watermark_pauses; }},
      {"mcptap_upstream_connect_failures_total", MetricType::Counter,
       "Upstream connects refused, unresolvable or timed out; counted while capture is off too.",
       [](const RouteState& r) { return r.traffic.upstream_connect_failures; }},
      {"mcptap_connections_rejected_total", MetricType::Counter,
       "Connections reset on accept because limits.max_connections were open; counted while "
       "capture is off too.",
       [](const RouteState& r) { return r.traffic.connections_rejected; }},
      {"mcptap_idle_timeouts_total", MetricType::Counter,
       "Connections closed after limits.idle_timeout_s without a byte; counted while capture "
       "is off too.",
       [](const RouteState& r) { return r.traffic.idle_timeouts; }},
      {"mcptap_accept_pauses_total", MetricType::Counter,
       "Times accepting paused because the process ran out of descriptors; counted while "
       "capture is off too.",
       [](const RouteState& r) { return r.traffic.accept_pauses; }},
      {"mcptap_capture_enabled", MetricType::Gauge,
       "1 while the route captures (sampled or filtered too), 0 while capture is off.",
       [](const RouteState& r) { return uint64_t{r.capture.enabled()}; }},
  };
  for (const Family& family : kFamilies) {
    writer.family(family.name, family.type, family.help);
    for (const RouteState& route : routes)
      writer.sample({{"route", route.config.name}}, family.value(route));
  }
  writer.family("mcptap_bytes_total", MetricType::Counter,
                "Bytes forwarded, per direction; counted while capture is off too.");
  for (const RouteState& route : routes) {
    const RouteCounters& c = route.traffic;
    writer.sample({{"route", route.config.name}, {"direction", "client_to_server"}},
                  c.bytes_client_to_server);
    writer.sample({{"route", route.config.name}, {"direction", "server_to_client"}},
                  c.bytes_server_to_client);
  }
  write_correlation_metrics(writer, routes);
  write_operation_metrics(writer, routes);
  write_tls_metrics(writer, routes);
  writer.family("mcptap_messages_total", MetricType::Counter,
                "JSON-RPC messages seen while capture is on, before the sample rate "
                "and method filter. Not counted while capture is off: messages are "
                "not parsed then (mcptap_bytes_total still counts the traffic).");
  for (const RouteState& route : routes) {
    const capture::CaptureCounters& c = route.capture.counters();
    writer.sample({{"route", route.config.name}, {"direction", "client_to_server"}}, c.messages[0]);
    writer.sample({{"route", route.config.name}, {"direction", "server_to_client"}}, c.messages[1]);
  }
}

}  // namespace mcptap::proxy

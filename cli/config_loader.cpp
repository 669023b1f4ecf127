// Configuration loading: every key checked, unknown keys named, defaults kept.
#include "cli/config_loader.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "cli/config_object_reader.h"
#include "cli/config_tls.h"
#include "cli/pg_url.h"

namespace mcptap::cli {
namespace {

using config_detail::check_route_tls;
using config_detail::ConfigError;
using config_detail::key_of;
using config_detail::MissingKeyError;
using config_detail::ObjectReader;
using config_detail::read_listen_tls;
using config_detail::read_upstream_tls;
using nlohmann::json;

void read_admin(ObjectReader& root, AdminConfig& admin) {
  const json* section = root.find("admin");
  if (!section) return;
  ObjectReader reader(*section, "admin");
  reader.read_host_port("listen", admin.listen);
  reader.read_string("token_env", admin.token_env);
  reader.read_string_list("allowed_hosts", admin.allowed_hosts);
  for (const std::string& host : admin.allowed_hosts) {
    // A Host header value: a name or address, with an optional port; never a URL or a pattern.
    if (host.empty() || host.find_first_of(" \t/*@") != std::string::npos) {
      ObjectReader::fail("admin.allowed_hosts", "\"" + host + "\" is not host or host:port");
    }
  }
  reader.reject_unknown_keys();
}

bool valid_route_name(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

constexpr double kMaxMessagesPerSecond = 1e9;
constexpr double kMaxBytesPerSecond = 1e13;
constexpr const char* kBudgetKeys[] = {"max_messages_per_second", "max_bytes_per_second"};

// A route's capture budget as its own `limits` set it; what it leaves unset comes from
// `capture`, which is read after the routes.
struct BudgetOverride {
  std::optional<double> max_messages_per_second;
  std::optional<double> max_bytes_per_second;
};

void read_budget_override(ObjectReader& reader, BudgetOverride& budget) {
  double value = 0;
  if (reader.find(kBudgetKeys[0])) {
    reader.read_rate(kBudgetKeys[0], value, kMaxMessagesPerSecond);
    budget.max_messages_per_second = value;
  }
  if (reader.find(kBudgetKeys[1])) {
    reader.read_rate(kBudgetKeys[1], value, kMaxBytesPerSecond);
    budget.max_bytes_per_second = value;
  }
}

// `limits` at the top level sets every route's default; a route's own `limits` overrides
// the keys it names. The capture budget's default is `capture.*`, so only a route's own
// `limits` may carry it (budget is null for the top level).
void read_limits(const json& section, const std::string& path, proxy::RouteLimits& limits,
                 BudgetOverride* budget) {
  ObjectReader reader(section, path);
  reader.read_integer("max_connections", limits.max_connections, 0, 1000000);
  reader.read_integer("idle_timeout_s", limits.idle_timeout_s, 0, 30 * 24 * 3600);
  if (budget) {
    read_budget_override(reader, *budget);
  } else {
    for (const char* key : kBudgetKeys) {
      if (section.contains(key)) {
        ObjectReader::fail(reader.path_of(key), std::string("every route's default is capture.") +
                                                    key + "; a route's own is routes[].limits." +
                                                    key);
      }
    }
  }
  reader.reject_unknown_keys();
}

proxy::RouteConfig read_route(const json& value, const std::string& path,
                              const proxy::RouteLimits& default_limits, BudgetOverride& budget) {
  ObjectReader reader(value, path);
  proxy::RouteConfig route;
  route.limits = default_limits;
  // A required key that is absent is reported by reject_unknown_keys, after any typo.
  if (reader.require("name")) {
    reader.read_string("name", route.name);
    if (!valid_route_name(route.name)) {
      ObjectReader::fail(path + ".name", "use 1-63 letters, digits, '-', '_' or '.'");
    }
  }
  if (reader.require("listen")) reader.read_host_port("listen", route.listen);
  if (const json* upstream = reader.require("upstream")) {
    route.upstream_original_dst = upstream->is_string() && *upstream == "original_dst";
    if (route.upstream_original_dst) {
      route.upstream = base::HostPort{"original_dst", 0};  // shown as such in logs and /routes
    } else {
      reader.read_host_port("upstream", route.upstream);
      if (route.upstream.host.empty()) ObjectReader::fail(path + ".upstream", "needs a host");
    }
  }
  reader.read_bool("capture", route.capture);
  if (const json* limits = reader.find("limits")) {
    read_limits(*limits, path + ".limits", route.limits, &budget);
  }
  if (const json* listen_tls = reader.find("listen_tls")) {
    route.listen_tls = read_listen_tls(*listen_tls, path + ".listen_tls");
  }
  if (const json* upstream_tls = reader.find("upstream_tls")) {
    route.upstream_tls = read_upstream_tls(*upstream_tls, path + ".upstream_tls");
  }
  reader.reject_unknown_keys();
  check_route_tls(route, path);
  return route;
}

// A route missing a required key is reported only after the later routes (and the rest of
// the document) were checked for unknown keys: the typo is the more useful message.
void read_routes(ObjectReader& root, std::vector<proxy::RouteConfig>& routes,
                 std::vector<BudgetOverride>& budgets) {
  proxy::RouteLimits default_limits;
  if (const json* limits = root.find("limits")) {
    read_limits(*limits, "limits", default_limits, nullptr);
  }
  const json* section = root.find("routes");
  if (!section) {
    throw MissingKeyError("routes: missing: at least one route is required");
  }
  if (!section->is_array() || section->empty()) {
    ObjectReader::fail("routes", "expected a non-empty array of routes");
  }
  std::set<std::string> names;
  std::set<std::string> listens;
  std::optional<MissingKeyError> first_missing;
  for (size_t i = 0; i < section->size(); ++i) {
    std::string path = "routes[" + std::to_string(i) + "]";
    BudgetOverride budget;
    proxy::RouteConfig route;
    try {
      route = read_route((*section)[i], path, default_limits, budget);
    } catch (const MissingKeyError& missing) {
      if (!first_missing) first_missing = missing;
      continue;
    }
    if (!names.insert(route.name).second) {
      ObjectReader::fail(path + ".name", "duplicate route name \"" + route.name + "\"");
    }
    if (route.listen.port != 0 && !listens.insert(route.listen.to_string()).second) {
      ObjectReader::fail(path + ".listen",
                         "another route already listens on " + route.listen.to_string());
    }
    routes.push_back(std::move(route));
    budgets.push_back(budget);
  }
  if (first_missing) throw *first_missing;
}

void resolve_budgets(std::vector<proxy::RouteConfig>& routes,
                     const std::vector<BudgetOverride>& budgets,
                     const capture::CaptureBudgetLimits& defaults) {
  for (size_t i = 0; i < routes.size(); ++i) {
    capture::CaptureBudgetLimits& budget = routes[i].limits.capture_budget;
    budget.max_messages_per_second =
        budgets[i].max_messages_per_second.value_or(defaults.max_messages_per_second);
    budget.max_bytes_per_second =
        budgets[i].max_bytes_per_second.value_or(defaults.max_bytes_per_second);
  }
}

void read_sink(ObjectReader& root, sink::SinkOptions& sink) {
  const json* section = root.find("sink");
  if (!section) return;
  ObjectReader reader(*section, "sink");
  constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
  reader.read_string("postgres", sink.postgres_url);
  reader.read_string("spool_dir", sink.spool_dir);
  reader.read_integer("spool_max_bytes", sink.spool_max_bytes, 1 << 20,
                      std::numeric_limits<int64_t>::max());
  reader.read_integer("fsync_interval_ms", sink.fsync_interval_ms, 0, 60000);
  reader.read_integer("segment_bytes", sink.segment_bytes, 1 << 16, int64_t{1} << 34);
  reader.read_integer("batch_max_rows", sink.batch_max_rows, 1, 100000);
  reader.read_integer("flush_interval_ms", sink.flush_interval_ms, 1, 60000);
  reader.read_integer("shutdown_flush_timeout_ms", sink.shutdown_flush_timeout_ms, 0, 3600000);
  reader.read_integer("reconnect_initial_ms", sink.reconnect_initial_ms, 1, kMaxInt);
  reader.read_integer("reconnect_max_ms", sink.reconnect_max_ms, 1, kMaxInt);
  reader.reject_unknown_keys();
  if (base::Status valid = validate_pg_url(sink.postgres_url); !valid) {
    ObjectReader::fail("sink.postgres", valid.error().message);
  }
  if (sink.reconnect_max_ms < sink.reconnect_initial_ms) {
    ObjectReader::fail("sink.reconnect_max_ms", "must not be below sink.reconnect_initial_ms");
  }
}

void read_capture(ObjectReader& root, capture::CaptureOptions& options) {
  const json* section = root.find("capture");
  if (!section) return;
  ObjectReader reader(*section, "capture");
  reader.read_integer("max_payload_bytes", options.max_payload_bytes, 1024, int64_t{1} << 40);
  reader.read_integer("max_json_depth", options.max_json_depth, 8, 10000);
  reader.read_integer("max_pending_requests_per_session", options.max_pending_requests_per_session,
                      1, 1 << 24);
  reader.read_rate(kBudgetKeys[0], options.budget.max_messages_per_second, kMaxMessagesPerSecond);
  reader.read_rate(kBudgetKeys[1], options.budget.max_bytes_per_second, kMaxBytesPerSecond);
  // Correlation state per route: bounded in sessions and bytes, idle sessions retired.
  reader.read_integer("max_sessions", options.max_sessions, 1, 1 << 24);
  reader.read_integer("max_correlation_bytes", options.max_correlation_bytes, 64 << 10,
                      int64_t{1} << 40);
  reader.read_integer("session_idle_timeout_s", options.session_idle_timeout_s, 0, 86400 * 30);
  // Operation linking state per route (retries, tasks, subscriptions): bounded the same way;
  // 0 operations turns linking off, a 0 idle timeout keeps operations until the bounds need
  // their room (tasks may poll rarely).
  reader.read_integer("max_operations", options.max_operations, 0, 10000000);
  reader.read_integer("max_operation_bytes", options.max_operation_bytes, 64 << 10,
                      int64_t{1} << 40);
  reader.read_integer("operation_idle_timeout_s", options.operation_idle_timeout_s, 0, 86400 * 7);
  reader.read_integer("retry_link_window_s", options.retry_link_window_s, 1, 86400);
  reader.reject_unknown_keys();
}

void read_redact(ObjectReader& root, capture::RedactOptions& redact) {
  const json* section = root.find("redact");
  if (!section) return;
  ObjectReader reader(*section, "redact");
  reader.read_string_list("json_keys", redact.json_keys);
  reader.read_string_list("json_key_suffixes", redact.json_key_suffixes);
  reader.read_string_list("headers", redact.headers);
  reader.read_bool("value_patterns", redact.value_patterns);
  reader.read_string_list("extra_value_prefixes", redact.extra_value_prefixes);
  reader.read_bool("nested_json", redact.nested_json);
  reader.read_string_list("query_params", redact.query_params);
  reader.reject_unknown_keys();
}

void read_retention(ObjectReader& root, sink::SinkOptions& sink) {
  const json* section = root.find("retention");
  if (!section) return;
  ObjectReader reader(*section, "retention");
  reader.read_integer("days", sink.retention_days, 1, 36500);
  reader.read_integer("partitions_ahead_days", sink.partitions_ahead_days, 1, 60);
  reader.reject_unknown_keys();
}

void read_proxy(ObjectReader& root, proxy::ProxyOptions& options) {
  const json* section = root.find("proxy");
  if (!section) return;
  ObjectReader reader(*section, "proxy");
  proxy::FlowLimits& flow = options.flow;
  reader.read_integer("drain_timeout_ms", options.drain_timeout_ms, 0, 3600000);
  reader.read_integer("connect_timeout_ms", flow.connect_timeout_ms, 1, 600000);
  reader.read_integer("tls_handshake_timeout_ms", flow.tls_handshake_timeout_ms, 100, 600000);
  reader.read_integer("high_watermark_bytes", flow.high_watermark_bytes, 4096, int64_t{1} << 32);
  reader.read_integer("low_watermark_bytes", flow.low_watermark_bytes, 0, int64_t{1} << 32);
  reader.read_integer("read_buffer_bytes", flow.read_buffer_bytes, 1024, 16 << 20);
  reader.reject_unknown_keys();
  if (flow.low_watermark_bytes >= flow.high_watermark_bytes) {
    ObjectReader::fail("proxy.low_watermark_bytes", "must be below proxy.high_watermark_bytes");
  }
}

void read_stdio(ObjectReader& root, StdioConfig& stdio) {
  const json* section = root.find("stdio");
  if (!section) return;
  ObjectReader reader(*section, "stdio");
  reader.read_string("log_file", stdio.log_file);
  std::string level = "info";
  reader.read_string("log_level", level);
  std::optional<base::LogLevel> parsed = base::parse_log_level(level);
  if (!parsed) ObjectReader::fail("stdio.log_level", "expected debug, info, warn or error");
  stdio.log_level = *parsed;
  reader.reject_unknown_keys();
}

}  // namespace

base::Result<base::HostPort> parse_host_port(std::string_view text, std::string_view where) {
  base::Result<base::HostPort> parsed = base::parse_host_port(text, key_of(where));
  if (!parsed) return base::fail(std::string(where) + ": " + parsed.error().message);
  return parsed;
}

namespace {

Config read_config(std::string_view json_text) {
  json document = json::parse(json_text, nullptr, false);
  if (document.is_discarded()) {
    // Parse again, with exceptions, only to say where the syntax broke.
    try {
      json reparsed = json::parse(json_text);
      (void)reparsed;
    } catch (const json::parse_error& error) {
      throw ConfigError(std::string("not valid JSON: ") + error.what());
    }
  }
  Config config;
  ObjectReader root(document, "");
  read_admin(root, config.admin);
  // A missing key waits until every section was checked for unknown keys.
  std::optional<MissingKeyError> missing;
  std::vector<BudgetOverride> budgets;
  try {
    read_routes(root, config.proxy.routes, budgets);
  } catch (const MissingKeyError& error) {
    missing = error;
  }
  read_sink(root, config.sink);
  read_capture(root, config.capture);
  resolve_budgets(config.proxy.routes, budgets, config.capture.budget);
  read_redact(root, config.redact);
  read_retention(root, config.sink);
  read_proxy(root, config.proxy);
  read_stdio(root, config.stdio);
  root.reject_unknown_keys();
  if (missing) throw *missing;
  return config;
}

}  // namespace

base::Result<Config> parse_config(std::string_view json_text) {
  try {
    return read_config(json_text);
  } catch (const ConfigError& error) {
    return base::fail(error.what());
  } catch (const std::exception& error) {
    // The reader checks every type before it converts; this is only a last line of defence.
    return base::fail(std::string("configuration: ") + error.what());
  }
}

base::Result<Config> load_config_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) return base::fail(path + ": cannot open: " + std::strerror(errno));
  std::stringstream text;
  text << file.rdbuf();
  base::Result<Config> parsed = parse_config(text.str());
  if (!parsed) return base::fail(path + ": " + parsed.error().message);
  Config config = std::move(parsed).value();
  // The DSN often carries a password: the environment (a container secret) overrides it.
  if (const char* url = std::getenv("MCPTAP_PG_URL"); url && *url) {
    if (base::Status valid = validate_pg_url(url); !valid) {
      return base::fail("MCPTAP_PG_URL: " + valid.error().message);
    }
    config.sink.postgres_url = url;
  }
  // The admin token never sits in the file: it comes from the variable the file names.
  config.proxy.admin.listen = config.admin.listen;
  config.proxy.admin.allowed_hosts = config.admin.allowed_hosts;
  if (const char* token = std::getenv(config.admin.token_env.c_str()); token) {
    config.proxy.admin.token = token;
  }
  return config;
}

}  // namespace mcptap::cli

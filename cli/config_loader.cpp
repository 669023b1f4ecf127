// Configuration loading: every key checked, unknown keys named, defaults kept.
#include "cli/config_loader.h"

#include <arpa/inet.h>

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

#include "cli/pg_url.h"
#include "cli/spelling.h"

namespace mcptap::cli {
namespace {

using nlohmann::json;

// "upstream" in "routes[0].upstream": the key a message explains.
std::string_view key_of(std::string_view where) {
  size_t dot = where.rfind('.');
  return dot == std::string_view::npos ? where : where.substr(dot + 1);
}

// The reader stops at the first problem by throwing one of these; parse_config turns it
// into the Error it returns, so nothing outside this file sees an exception.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A required key that is absent. Told apart from other errors so that readers can look
// for unknown keys first: "upsteam" is a typo to name, not a missing "upstream".
class MissingKeyError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

// Reads one JSON object, remembering which keys were used so leftovers can be named.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {
    if (!object_.is_object()) fail(path_.empty() ? "configuration" : path_, "expected an object");
  }

  const json* find(const std::string& key) {
    used_.insert(key);
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  // A key the object must have: nullptr when absent, and reject_unknown_keys will say
  // "missing" unless the object has an unknown key (likely the same key misspelt).
  const json* require(const std::string& key) {
    const json* value = find(key);
    if (!value && missing_.empty()) missing_ = key;
    return value;
  }

  std::string path_of(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  void read_bool(const std::string& key, bool& out) {
    if (const json* value = find(key)) {
      if (!value->is_boolean()) fail(path_of(key), "expected true or false");
      out = value->get<bool>();
    }
  }

  void read_string(const std::string& key, std::string& out) {
    if (const json* value = find(key)) {
      if (!value->is_string()) fail(path_of(key), "expected a string");
      out = value->get<std::string>();
    }
  }

  template <typename Integer>
  void read_integer(const std::string& key, Integer& out, int64_t min, int64_t max) {
    if (const json* value = find(key)) {
      if (!value->is_number_integer()) fail(path_of(key), "expected an integer");
      int64_t number = value->get<int64_t>();
      if (number < min || number > max) {
        fail(path_of(key), "must be between " + std::to_string(min) + " and " +
                               std::to_string(max) + ", got " + std::to_string(number));
      }
      out = static_cast<Integer>(number);
    }
  }

  // A rate per second: a number, 0 (no limit) or more.
  void read_rate(const std::string& key, double& out, double max) {
    if (const json* value = find(key)) {
      if (!value->is_number()) fail(path_of(key), "expected a number per second (0 = unlimited)");
      double number = value->get<double>();
      if (!(number >= 0) || number > max) {
        fail(path_of(key), "must be between 0 (unlimited) and " +
                               std::to_string(static_cast<long long>(max)) + ", got " +
                               value->dump());
      }
      out = number;
    }
  }

  void read_string_list(const std::string& key, std::vector<std::string>& out) {
    if (const json* value = find(key)) {
      if (!value->is_array()) fail(path_of(key), "expected an array of strings");
      out.clear();
      for (const json& item : *value) {
        if (!item.is_string()) fail(path_of(key), "expected an array of strings");
        out.push_back(item.get<std::string>());
      }
    }
  }

  void read_host_port(const std::string& key, base::HostPort& out) {
    if (const json* value = find(key)) {
      if (!value->is_string()) fail(path_of(key), "expected a string \"host:port\"");
      base::Result<base::HostPort> parsed =
          base::parse_host_port(value->get<std::string>(), key_of(path_of(key)));
      if (!parsed) fail(path_of(key), parsed.error().message);
      out = std::move(parsed).value();
    }
  }

  // Called last, once every known key was asked for: any other key is a typo or an
  // unsupported option, named with the known key it most resembles. Only then is a
  // required key reported missing.
  void reject_unknown_keys() const {
    std::vector<std::string> known(used_.begin(), used_.end());
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (used_.count(it.key())) continue;
      std::string what = "unknown key";
      if (std::optional<std::string> meant = closest_spelling(it.key(), known)) {
        what += " (did you mean \"" + *meant + "\"?)";
      }
      fail(path_of(it.key()), what);
    }
    if (!missing_.empty()) throw MissingKeyError(path_of(missing_) + ": missing");
  }

  [[noreturn]] static void fail(const std::string& where, const std::string& what) {
    throw ConfigError(where + ": " + what);
  }

 private:
  const json& object_;
  std::string path_;
  std::set<std::string> used_;
  std::string missing_;  // the first required key found absent
};

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

// A file path: a non-empty string. Whether the file is there and usable is checked when
// the route's TLS contexts are loaded, at start and at every reload.
void read_path(ObjectReader& reader, const std::string& key, std::string& out) {
  if (const json* value = reader.find(key)) {
    if (!value->is_string()) ObjectReader::fail(reader.path_of(key), "expected a file path");
    out = value->get<std::string>();
    if (out.empty()) ObjectReader::fail(reader.path_of(key), "expected a file path, got \"\"");
    if (out.find('\0') != std::string::npos) {
      ObjectReader::fail(reader.path_of(key), "a path cannot contain a NUL byte");
    }
  }
}

void read_tls_version(ObjectReader& reader, const std::string& key, proxy::TlsVersion& out) {
  const json* value = reader.find(key);
  if (!value) return;
  if (value->is_string() && *value == "1.2") {
    out = proxy::TlsVersion::V1_2;
  } else if (value->is_string() && *value == "1.3") {
    out = proxy::TlsVersion::V1_3;
  } else if (value->is_string() && (*value == "1.0" || *value == "1.1")) {
    ObjectReader::fail(reader.path_of(key), "TLS 1.2 is the minimum; use \"1.2\" or \"1.3\"");
  } else {
    ObjectReader::fail(reader.path_of(key), "expected \"1.2\" or \"1.3\", got " + value->dump());
  }
}

bool is_ip_literal(const std::string& text) {
  unsigned char address[16];
  return inet_pton(AF_INET, text.c_str(), address) == 1 ||
         inet_pton(AF_INET6, text.c_str(), address) == 1;
}

// Why `name` cannot be sent as SNI and verified as a DNS name, or "" when it can: letters,
// digits and '-' in dot-separated labels of 1..63, at most 253 in all.
std::string server_name_problem(const std::string& name) {
  if (name.empty()) return "expected a DNS name, got \"\"";
  if (is_ip_literal(name)) {
    return "an IP address is not a server name; leave server_name out and an IP upstream is "
           "verified by its address";
  }
  if (name.size() > 253) return "a DNS name is at most 253 characters";
  if (name.find(':') != std::string::npos) {
    return "\"" + name +
           "\" has a port; server_name is a DNS name only (the port is the "
           "upstream's)";
  }
  size_t label = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    char c = i < name.size() ? name[i] : '.';
    if (c == '.') {
      if (label == 0 || label > 63 || name[i - 1] == '-' || name[i - label] == '-') {
        return "\"" + name +
               "\" is not a DNS name (labels of 1-63 letters, digits or '-', "
               "not starting or ending with '-')";
      }
      label = 0;
      continue;
    }
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) {
      return "\"" + name + "\" is not a DNS name (letters, digits, '-' and '.' only)";
    }
    ++label;
  }
  return "";
}

constexpr size_t kMaxAlpnProtocols = 8;

// ALPN protocol names as offered in the ClientHello. "h2" is refused: an upstream that
// picked it would speak HTTP/2, which passes uncaptured.
void read_alpn(ObjectReader& reader, std::vector<std::string>& out) {
  const json* value = reader.find("alpn");
  if (!value) return;
  const std::string where = reader.path_of("alpn");
  if (!value->is_array() || value->empty() || value->size() > kMaxAlpnProtocols) {
    ObjectReader::fail(where,
                       "expected an array of 1 to 8 protocol names, such as "
                       "[\"http/1.1\"]");
  }
  out.clear();
  for (const json& item : *value) {
    if (!item.is_string()) ObjectReader::fail(where, "expected an array of strings");
    std::string protocol = item.get<std::string>();
    if (protocol.empty() || protocol.size() > 255) {
      ObjectReader::fail(where, "a protocol name is 1 to 255 characters");
    }
    for (unsigned char c : protocol) {
      if (c < 0x21 || c > 0x7e) {
        ObjectReader::fail(where, item.dump() + ": printable ASCII without spaces only");
      }
    }
    if (protocol == "h2") {
      ObjectReader::fail(where,
                         "\"h2\" is not supported: HTTP/2 would pass uncaptured; offer "
                         "\"http/1.1\"");
    }
    for (const std::string& earlier : out) {
      if (earlier == protocol) ObjectReader::fail(where, item.dump() + " is listed twice");
    }
    out.push_back(std::move(protocol));
  }
}

// listen_tls: a certificate of the route's own (cert_file + key_file), or intercept with a
// local CA; exactly one of them.
proxy::ListenTls read_listen_tls(const json& value, const std::string& path) {
  ObjectReader reader(value, path);
  proxy::ListenTls tls;
  read_path(reader, "cert_file", tls.cert_file);
  read_path(reader, "key_file", tls.key_file);
  read_path(reader, "client_ca_file", tls.client_ca_file);
  read_tls_version(reader, "min_version", tls.min_version);
  if (const json* intercept = reader.find("intercept")) {
    ObjectReader ca_reader(*intercept, path + ".intercept");
    proxy::InterceptCa ca;
    if (ca_reader.require("ca_cert_file")) read_path(ca_reader, "ca_cert_file", ca.ca_cert_file);
    if (ca_reader.require("ca_key_file")) read_path(ca_reader, "ca_key_file", ca.ca_key_file);
    ca_reader.reject_unknown_keys();
    tls.intercept = std::move(ca);
  }
  reader.reject_unknown_keys();
  if (tls.intercept) {
    if (!tls.cert_file.empty() || !tls.key_file.empty()) {
      ObjectReader::fail(path,
                         "cert_file/key_file and intercept exclude each other: intercept "
                         "mints a certificate for each name the clients ask for");
    }
    if (!tls.client_ca_file.empty()) {
      ObjectReader::fail(path + ".client_ca_file",
                         "not supported with intercept (the clients are not authenticated)");
    }
  } else if (tls.cert_file.empty() && tls.key_file.empty()) {
    ObjectReader::fail(path, "needs cert_file and key_file, or intercept");
  } else if (tls.key_file.empty()) {
    ObjectReader::fail(path + ".key_file", "missing (cert_file needs its key)");
  } else if (tls.cert_file.empty()) {
    ObjectReader::fail(path + ".cert_file", "missing (key_file needs its certificate)");
  }
  return tls;
}

// upstream_tls: the route connects to its upstream over TLS, verified by default.
proxy::UpstreamTls read_upstream_tls(const json& value, const std::string& path) {
  ObjectReader reader(value, path);
  proxy::UpstreamTls tls;
  if (const json* name = reader.find("server_name")) {
    if (!name->is_string()) ObjectReader::fail(path + ".server_name", "expected a DNS name");
    tls.server_name = name->get<std::string>();
    std::string problem = server_name_problem(tls.server_name);
    if (!problem.empty()) ObjectReader::fail(path + ".server_name", problem);
  }
  read_path(reader, "ca_file", tls.ca_file);
  reader.read_bool("verify", tls.verify);
  read_path(reader, "client_cert_file", tls.client_cert_file);
  read_path(reader, "client_key_file", tls.client_key_file);
  read_alpn(reader, tls.alpn);
  reader.reject_unknown_keys();
  if (!tls.verify && !tls.ca_file.empty()) {
    ObjectReader::fail(path + ".verify",
                       "false with ca_file: ca_file is only used to verify; remove one of them");
  }
  if (!tls.client_cert_file.empty() && tls.client_key_file.empty()) {
    ObjectReader::fail(path + ".client_key_file", "missing (client_cert_file needs its key)");
  }
  if (tls.client_cert_file.empty() && !tls.client_key_file.empty()) {
    ObjectReader::fail(path + ".client_cert_file",
                       "missing (client_key_file needs its certificate)");
  }
  return tls;
}

// How TLS on the two sides fits the route's upstream: interception needs original_dst and
// takes the server name from each client; an original_dst route originates TLS only when it
// intercepts (it has no name to verify otherwise).
void check_route_tls(proxy::RouteConfig& route, const std::string& path) {
  bool intercept = route.listen_tls && route.listen_tls->intercept;
  if (intercept && !route.upstream_original_dst) {
    ObjectReader::fail(path + ".listen_tls.intercept",
                       "needs \"upstream\": \"original_dst\" (each connection goes where its "
                       "client sent it)");
  }
  if (!intercept && route.upstream_original_dst && route.upstream_tls) {
    ObjectReader::fail(path + ".upstream_tls",
                       "on an \"original_dst\" route only with listen_tls.intercept (the "
                       "server name comes from the client's SNI)");
  }
  if (intercept && route.upstream_tls && !route.upstream_tls->server_name.empty()) {
    ObjectReader::fail(path + ".upstream_tls.server_name",
                       "not with listen_tls.intercept: the name comes from the client's SNI");
  }
  // Intercepted traffic was TLS to begin with: it goes on as TLS, verified against the
  // system store unless upstream_tls says otherwise.
  if (intercept && !route.upstream_tls) route.upstream_tls = proxy::UpstreamTls{};
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

// Tests for cli/config_loader: the contract's example, defaults, and one clear error per mistake.
#include "cli/config_loader.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "cli/spelling.h"

namespace mcptap::cli {
namespace {

const char* kContractExample = R"({
  "admin":  { "listen": "127.0.0.1:9901", "token_env": "MCPTAP_ADMIN_TOKEN" },
  "routes": [
    { "name": "gates",  "listen": "0.0.0.0:9001", "upstream": "gates:8001",  "capture": true },
    { "name": "dewey",  "listen": "0.0.0.0:9002", "upstream": "dewey:8002",  "capture": true }
  ],
  "sink": {
    "postgres": "postgresql://mcptap@db/mcptap",
    "spool_dir": "/var/lib/mcptap/spool",
    "batch_max_rows": 1000,
    "flush_interval_ms": 50
  },
  "capture": { "max_payload_bytes": 16777216 },
  "redact":  { "json_keys": ["password", "token", "api_key", "secret"],
               "headers":   ["authorization", "cookie", "set-cookie"] },
  "retention": { "days": 7 }
})";

// The configuration of a document or file that must load; the test fails with the error
// otherwise.
Config must_parse(std::string_view json_text) {
  base::Result<Config> parsed = parse_config(json_text);
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  return parsed ? std::move(parsed).value() : Config{};
}
Config must_load(const std::string& path) {
  base::Result<Config> loaded = load_config_file(path);
  EXPECT_TRUE(loaded.ok()) << loaded.error().message;
  return loaded ? std::move(loaded).value() : Config{};
}

std::string error_of(const std::string& json_text) {
  base::Result<Config> parsed = parse_config(json_text);
  return parsed ? "" : parsed.error().message;
}

TEST(ConfigLoader, ContractExampleParses) {
  Config config = must_parse(kContractExample);
  ASSERT_EQ(config.proxy.routes.size(), 2u);
  EXPECT_EQ(config.proxy.routes[0].name, "gates");
  EXPECT_EQ(config.proxy.routes[0].listen.host, "0.0.0.0");
  EXPECT_EQ(config.proxy.routes[0].listen.port, 9001);
  EXPECT_EQ(config.proxy.routes[1].upstream.host, "dewey");
  EXPECT_EQ(config.proxy.routes[1].upstream.port, 8002);
  EXPECT_EQ(config.admin.listen.port, 9901);
  EXPECT_EQ(config.sink.postgres_url, "postgresql://mcptap@db/mcptap");
  EXPECT_EQ(config.sink.batch_max_rows, 1000u);
  EXPECT_EQ(config.capture.max_payload_bytes, 16777216u);
  EXPECT_EQ(config.redact.json_keys.size(), 4u);
  EXPECT_EQ(config.sink.retention_days, 7);
}

TEST(ConfigLoader, OnlyRoutesAreRequired) {
  Config config =
      must_parse(R"({"routes":[{"name":"a","listen":":9001","upstream":"[::1]:8001"}]})");
  EXPECT_EQ(config.proxy.routes[0].listen.host, "0.0.0.0");
  EXPECT_EQ(config.proxy.routes[0].upstream.host, "::1");
  EXPECT_TRUE(config.proxy.routes[0].capture);
  EXPECT_EQ(config.admin.listen.to_string(), "127.0.0.1:9901");
  EXPECT_EQ(config.proxy.drain_timeout_ms, 10000);
  EXPECT_EQ(config.capture.max_payload_bytes, 16u << 20);
  EXPECT_EQ(config.sink.flush_interval_ms, 50);
  EXPECT_EQ(config.sink.retention_days, 7);
}

TEST(ConfigLoader, ErrorsNameTheKey) {
  const std::string route = R"({"name":"a","listen":"127.0.0.1:9001","upstream":"b:1"})";
  EXPECT_EQ(error_of(R"({"routes":[)" + route + R"(],"sink":{"batch_rows":5}})"),
            "sink.batch_rows: unknown key (did you mean \"batch_max_rows\"?)");
  EXPECT_EQ(error_of(R"({"routes":[)" + route + R"(],"extra":1})"), "extra: unknown key");
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","listen":"9001","upstream":"b:1"}]})"),
            "routes[0].listen: expected \"host:port\", got \"9001\"");
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","listen":"x:1","upstream":"b:99999"}]})"),
            "routes[0].upstream: port out of range in \"b:99999\"");
  EXPECT_EQ(
      error_of(R"({"routes":[{"name":"a","listen":"x:1","upstream":"b:1","capture":"yes"}]})"),
      "routes[0].capture: expected true or false");
  EXPECT_EQ(error_of(R"({"routes":[)" + route + "," + route + "]}"),
            "routes[1].name: duplicate route name \"a\"");
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","listen":"x:1"}]})"), "routes[0].upstream: missing");
  EXPECT_EQ(error_of(R"({"sink":{}})"), "routes: missing: at least one route is required");
  EXPECT_EQ(error_of(R"({"routes":[)" + route + R"(],"sink":{"batch_max_rows":0}})"),
            "sink.batch_max_rows: must be between 1 and 100000, got 0");
  EXPECT_EQ(error_of(R"({"routes":[)" + route + R"(],"redact":{"json_keys":"password"}})"),
            "redact.json_keys: expected an array of strings");
  EXPECT_EQ(error_of(R"({"routes":[{"name":"bad name","listen":"x:1","upstream":"b:1"}]})"),
            "routes[0].name: use 1-63 letters, digits, '-', '_' or '.'");
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","listen":"::1:80","upstream":"b:1"}]})"),
            "routes[0].listen: an IPv6 address needs brackets: \"[::1]:9001\", got \"::1:80\"");
  EXPECT_EQ(error_of("[1,2]"), "configuration: expected an object");
  EXPECT_EQ(error_of("{\"routes\": [").rfind("not valid JSON: ", 0), 0u);
}

// A typo in a required key used to be reported as the key it was meant to be, "missing".
TEST(ConfigLoader, UnknownKeyNamesTheKnownKeyItResembles) {
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","listen":":1","upsteam":"b:1"}]})"),
            "routes[0].upsteam: unknown key (did you mean \"upstream\"?)");
  EXPECT_EQ(error_of(R"({"rotues":[{"name":"a","listen":":1","upstream":"b:1"}]})"),
            "rotues: unknown key (did you mean \"routes\"?)");
  const std::string routes = R"("routes":[{"name":"a","listen":":1","upstream":"b:1"}])";
  EXPECT_EQ(error_of("{" + routes + R"(,"sink":{"postgress":"postgresql://db/x"}})"),
            "sink.postgress: unknown key (did you mean \"postgres\"?)");
  EXPECT_EQ(error_of("{" + routes + R"(,"sink":{"spoolDir":"/tmp/x"}})"),
            "sink.spoolDir: unknown key (did you mean \"spool_dir\"?)");
  EXPECT_EQ(error_of("{" + routes + R"(,"sink":{"Spool-Dir":"/tmp/x"}})"),
            "sink.Spool-Dir: unknown key (did you mean \"spool_dir\"?)");
  EXPECT_EQ(error_of("{" + routes + R"(,"retention":{"dyas":3}})"),
            "retention.dyas: unknown key (did you mean \"days\"?)");
  EXPECT_EQ(error_of("{" + routes + R"(,"admin":{"listne":"127.0.0.1:1"}})"),
            "admin.listne: unknown key (did you mean \"listen\"?)");
  EXPECT_EQ(error_of("{" + routes + R"(,"proxy":{"drain_timeout":1}})"),
            "proxy.drain_timeout: unknown key (did you mean \"drain_timeout_ms\"?)");
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","listen":":1","upstream":"b:1",
                                    "limits":{"max_conection":1}}]})"),
            "routes[0].limits.max_conection: unknown key (did you mean \"max_connections\"?)");
  // Nothing close: no guess.
  EXPECT_EQ(error_of("{" + routes + R"(,"capture":{"mode":1}})"), "capture.mode: unknown key");
}

TEST(ConfigLoader, UnknownKeyIsReportedBeforeAMissingOne) {
  // In the same route, whatever order the keys come in.
  EXPECT_EQ(error_of(R"({"routes":[{"zone":"x","name":"a","listen":":1"}]})"),
            "routes[0].zone: unknown key");
  // In a later route.
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","listen":":1"},
                                   {"name":"b","lisen":":2","upstream":"c:1"}]})"),
            "routes[1].lisen: unknown key (did you mean \"listen\"?)");
  // In a section read after the routes, or at the top level.
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","listen":":1"}],"sink":{"spol_dir":"/x"}})"),
            "sink.spol_dir: unknown key (did you mean \"spool_dir\"?)");
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","listen":":1"}],"sinks":{}})"),
            "sinks: unknown key (did you mean \"sink\"?)");
  EXPECT_EQ(error_of(R"({"retension":{"days":1}})"),
            "retension: unknown key (did you mean \"retention\"?)");
  // Without a typo anywhere, the missing key is named.
  EXPECT_EQ(error_of(R"({"routes":[{"listen":":1","upstream":"b:1"}]})"),
            "routes[0].name: missing");
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","upstream":"b:1"}]})"), "routes[0].listen: missing");
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","listen":":1"},{"name":"b","listen":":2"}]})"),
            "routes[0].upstream: missing");
}

TEST(ConfigLoader, UrlWhereHostPortBelongsNamesTheHostPort) {
  auto upstream_error = [](const std::string& upstream) {
    return error_of(R"({"routes":[{"name":"a","listen":":1","upstream":")" + upstream + "\"}]}");
  };
  EXPECT_EQ(upstream_error("http://127.0.0.1:3101/mcp"),
            "routes[0].upstream: \"http://127.0.0.1:3101/mcp\" is a URL; upstream is host:port - "
            "did you mean \"127.0.0.1:3101\"?");
  EXPECT_EQ(upstream_error("https://mcp.example.com/v1/mcp?x=1"),
            "routes[0].upstream: \"https://mcp.example.com/v1/mcp?x=1\" is a URL; upstream is "
            "host:port - did you mean \"mcp.example.com:443\"?");
  EXPECT_EQ(upstream_error("http://backend"),
            "routes[0].upstream: \"http://backend\" is a URL; upstream is host:port - did you "
            "mean \"backend:80\"?");
  EXPECT_NE(upstream_error("ws://backend/mcp").find("did you mean \"backend:80\"?"),
            std::string::npos);
  EXPECT_NE(upstream_error("WSS://backend").find("did you mean \"backend:443\"?"),
            std::string::npos);
  EXPECT_NE(upstream_error("http://[::1]:8080/mcp").find("did you mean \"[::1]:8080\"?"),
            std::string::npos);
  EXPECT_NE(upstream_error("https://[::1]/mcp").find("did you mean \"[::1]:443\"?"),
            std::string::npos);
  EXPECT_EQ(upstream_error("ftp://files"),
            "routes[0].upstream: \"ftp://files\" is a URL; upstream is host:port");
  // Credentials in the URL are not repeated.
  std::string with_credentials = upstream_error("http://user:hunter2@backend:8000/mcp");
  EXPECT_EQ(with_credentials.find("hunter2"), std::string::npos) << with_credentials;
  EXPECT_NE(with_credentials.find("did you mean \"backend:8000\"?"), std::string::npos);
  // A path without a scheme.
  EXPECT_EQ(upstream_error("127.0.0.1:3101/mcp"),
            "routes[0].upstream: \"127.0.0.1:3101/mcp\" has a path; upstream is host:port - did "
            "you mean \"127.0.0.1:3101\"?");
  // The listeners too.
  EXPECT_EQ(
      error_of(R"({"routes":[{"name":"a","listen":"http://0.0.0.0:9001","upstream":"b:1"}]})"),
      "routes[0].listen: \"http://0.0.0.0:9001\" is a URL; listen is host:port - did you "
      "mean \"0.0.0.0:9001\"?");
  EXPECT_EQ(error_of(R"({"admin":{"listen":"http://127.0.0.1:9901/"},
                        "routes":[{"name":"a","listen":":1","upstream":"b:1"}]})"),
            "admin.listen: \"http://127.0.0.1:9901/\" is a URL; listen is host:port - did you "
            "mean \"127.0.0.1:9901\"?");
}

TEST(ConfigLoader, PostgresUrlIsCheckedAtLoad) {
  const std::string routes = R"("routes":[{"name":"a","listen":":1","upstream":"b:1"}])";
  std::string error =
      error_of("{" + routes + R"(,"sink":{"postgres":"postgress://mcptap:hunter2@db/mcptap"}})");
  EXPECT_EQ(error,
            "sink.postgres: invalid PostgreSQL URL: unknown scheme \"postgress://\" (did you "
            "mean postgresql://?)");
  error = error_of("{" + routes + R"(,"sink":{"postgres":"postgresql://u:hunter2@[::1/db"}})");
  EXPECT_EQ(error.rfind("sink.postgres: invalid PostgreSQL URL: ", 0), 0u) << error;
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  EXPECT_EQ(must_parse("{" + routes + R"(,"sink":{"postgres":"host=db dbname=mcptap"}})")
                .sink.postgres_url,
            "host=db dbname=mcptap");

  std::string path = testing::TempDir() + "mcptap_config_pg_test.json";
  {
    std::ofstream file(path);
    file << "{" << routes << R"(,"sink":{"postgres":"postgres://db:5432/mcptap"}})";
  }
  setenv("MCPTAP_PG_URL", "postgresql//mcptap:hunter2@db/mcptap", 1);
  base::Result<Config> refused = load_config_file(path);
  ASSERT_FALSE(refused.ok()) << "a malformed MCPTAP_PG_URL was accepted";
  const std::string& what = refused.error().message;
  EXPECT_EQ(what.rfind("MCPTAP_PG_URL: invalid PostgreSQL DSN: ", 0), 0u) << what;
  EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
  unsetenv("MCPTAP_PG_URL");
  EXPECT_EQ(must_load(path).sink.postgres_url, "postgres://db:5432/mcptap");
  std::remove(path.c_str());
}

TEST(ConfigLoaderSpelling, EditDistanceCountsASwapAsOneEdit) {
  EXPECT_EQ(edit_distance("upstream", "upstream"), 0u);
  EXPECT_EQ(edit_distance("upsteam", "upstream"), 1u);
  EXPECT_EQ(edit_distance("lsiten", "listen"), 1u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(ConfigLoaderSpelling, ClosestSpellingIgnoresCaseAndSeparators) {
  std::vector<std::string> known = {"name", "listen", "upstream", "capture", "limits"};
  EXPECT_EQ(closest_spelling("upsteam", known), "upstream");
  EXPECT_EQ(closest_spelling("UPSTREAM", known), "upstream");
  EXPECT_EQ(closest_spelling("Up-Stream", known), "upstream");
  EXPECT_EQ(closest_spelling("nmae", known), "name");
  EXPECT_EQ(closest_spelling("limit", known), "limits");
  EXPECT_EQ(closest_spelling("zone", known), std::nullopt);
  EXPECT_EQ(closest_spelling("x", known), std::nullopt);
  EXPECT_EQ(closest_spelling("capture_mode", known), std::nullopt);
}

TEST(ConfigLoader, LimitsDefaultOffTopLevelSetsEveryRouteARouteOverrides) {
  Config unlimited = must_parse(R"({"routes":[{"name":"a","listen":":1","upstream":"b:1"}]})");
  EXPECT_EQ(unlimited.proxy.routes[0].limits.max_connections, 0u);
  EXPECT_EQ(unlimited.proxy.routes[0].limits.idle_timeout_s, 0u);

  Config config = must_parse(R"({
    "limits": {"max_connections": 100, "idle_timeout_s": 300},
    "routes": [
      {"name":"a","listen":":1","upstream":"b:1"},
      {"name":"c","listen":":2","upstream":"d:1","limits":{"max_connections":5}}
    ]})");
  EXPECT_EQ(config.proxy.routes[0].limits.max_connections, 100u);
  EXPECT_EQ(config.proxy.routes[0].limits.idle_timeout_s, 300u);
  EXPECT_EQ(config.proxy.routes[1].limits.max_connections, 5u);
  EXPECT_EQ(config.proxy.routes[1].limits.idle_timeout_s, 300u);  // inherited

  const std::string route = R"({"name":"a","listen":"x:1","upstream":"b:1")";
  EXPECT_EQ(error_of(R"({"limits":{"max_conns":1},"routes":[)" + route + "}]}"),
            "limits.max_conns: unknown key");
  EXPECT_EQ(error_of(R"({"routes":[)" + route + R"(,"limits":{"idle_timeout_s":-1}}]})"),
            "routes[0].limits.idle_timeout_s: must be between 0 and 2592000, got -1");
  EXPECT_EQ(error_of(R"({"routes":[)" + route + R"(,"limits":[]}]})"),
            "routes[0].limits: expected an object");
}

TEST(ConfigLoader, CaptureBudgetDefaultsFromCaptureAndRouteLimitsOverride) {
  Config unlimited = must_parse(R"({"routes":[{"name":"a","listen":":1","upstream":"b:1"}]})");
  EXPECT_TRUE(unlimited.proxy.routes[0].limits.capture_budget.unlimited());
  EXPECT_TRUE(unlimited.capture.budget.unlimited());

  Config config = must_parse(R"({
    "routes": [
      {"name":"a","listen":":1","upstream":"b:1"},
      {"name":"c","listen":":2","upstream":"d:1","limits":{"max_messages_per_second":5}},
      {"name":"e","listen":":3","upstream":"f:1",
       "limits":{"max_messages_per_second":0,"max_bytes_per_second":2048.5}}
    ],
    "capture": {"max_messages_per_second": 100, "max_bytes_per_second": 1048576}})");
  EXPECT_EQ(config.capture.budget.max_messages_per_second, 100);
  EXPECT_EQ(config.capture.budget.max_bytes_per_second, 1048576);
  const capture::CaptureBudgetLimits& a = config.proxy.routes[0].limits.capture_budget;
  EXPECT_EQ(a.max_messages_per_second, 100);  // the default from capture
  EXPECT_EQ(a.max_bytes_per_second, 1048576);
  const capture::CaptureBudgetLimits& c = config.proxy.routes[1].limits.capture_budget;
  EXPECT_EQ(c.max_messages_per_second, 5);
  EXPECT_EQ(c.max_bytes_per_second, 1048576);  // inherited key by key
  const capture::CaptureBudgetLimits& e = config.proxy.routes[2].limits.capture_budget;
  EXPECT_EQ(e.max_messages_per_second, 0);  // 0: this route is not limited
  EXPECT_EQ(e.max_bytes_per_second, 2048.5);
}

TEST(ConfigLoader, CaptureBudgetBadValuesAreNamed) {
  const std::string route = R"({"name":"a","listen":"x:1","upstream":"b:1")";
  EXPECT_EQ(error_of(R"({"routes":[)" + route + R"(}],"capture":{"max_messages_per_second":-1}})"),
            "capture.max_messages_per_second: must be between 0 (unlimited) and 1000000000, "
            "got -1");
  EXPECT_EQ(error_of(R"({"routes":[)" + route + R"(}],"capture":{"max_bytes_per_second":"1MB"}})"),
            "capture.max_bytes_per_second: expected a number per second (0 = unlimited)");
  EXPECT_EQ(error_of(R"({"routes":[)" + route + R"(,"limits":{"max_bytes_per_second":-0.5}}]})"),
            "routes[0].limits.max_bytes_per_second: must be between 0 (unlimited) and "
            "10000000000000, got -0.5");
  EXPECT_EQ(error_of(R"({"routes":[)" + route + R"(,"limits":{"max_messages_per_second":true}}]})"),
            "routes[0].limits.max_messages_per_second: expected a number per second (0 = "
            "unlimited)");
  // The default for every route has one place: capture.*.
  EXPECT_EQ(error_of(R"({"limits":{"max_messages_per_second":5},"routes":[)" + route + "}]}"),
            "limits.max_messages_per_second: every route's default is "
            "capture.max_messages_per_second; a route's own is "
            "routes[].limits.max_messages_per_second");
}

TEST(ConfigLoader, OperationLinkingBoundsHaveDefaultsAndRanges) {
  Config defaults = must_parse(R"({"routes":[{"name":"a","listen":":1","upstream":"b:1"}]})");
  EXPECT_EQ(defaults.capture.max_operations, 50000u);
  EXPECT_EQ(defaults.capture.max_operation_bytes, size_t{16} << 20);
  EXPECT_EQ(defaults.capture.operation_idle_timeout_s, 3600);
  EXPECT_EQ(defaults.capture.retry_link_window_s, 300);

  Config config = must_parse(R"({"routes":[{"name":"a","listen":":1","upstream":"b:1"}],
    "capture": {"max_operations": 0, "max_operation_bytes": 1099511627776,
                "operation_idle_timeout_s": 0, "retry_link_window_s": 86400}})");
  EXPECT_EQ(config.capture.max_operations, 0u);  // linking off
  EXPECT_EQ(config.capture.max_operation_bytes, size_t{1} << 40);
  EXPECT_EQ(config.capture.operation_idle_timeout_s, 0);  // never idle out
  EXPECT_EQ(config.capture.retry_link_window_s, 86400);

  const std::string routes = R"({"routes":[{"name":"a","listen":"x:1","upstream":"b:1"}],)";
  EXPECT_EQ(error_of(routes + R"("capture":{"max_operations":10000001}})"),
            "capture.max_operations: must be between 0 and 10000000, got 10000001");
  EXPECT_EQ(error_of(routes + R"("capture":{"max_operation_bytes":65535}})"),
            "capture.max_operation_bytes: must be between 65536 and 1099511627776, got 65535");
  EXPECT_EQ(error_of(routes + R"("capture":{"operation_idle_timeout_s":604801}})"),
            "capture.operation_idle_timeout_s: must be between 0 and 604800, got 604801");
  EXPECT_EQ(error_of(routes + R"("capture":{"retry_link_window_s":0}})"),
            "capture.retry_link_window_s: must be between 1 and 86400, got 0");
  EXPECT_EQ(error_of(routes + R"("capture":{"retry_link_window_s":"5m"}})"),
            "capture.retry_link_window_s: expected an integer");
  EXPECT_EQ(error_of(routes + R"("capture":{"max_operation":5}})"),
            "capture.max_operation: unknown key (did you mean \"max_operations\"?)");
}

TEST(ConfigLoader, OriginalDstUpstream) {
  Config config =
      must_parse(R"({"routes":[{"name":"t","listen":":15001","upstream":"original_dst"}]})");
  EXPECT_TRUE(config.proxy.routes[0].upstream_original_dst);
  EXPECT_EQ(config.proxy.routes[0].upstream_text(), "original_dst");
  Config plain = must_parse(R"({"routes":[{"name":"t","listen":":1","upstream":"original:80"}]})");
  EXPECT_FALSE(plain.proxy.routes[0].upstream_original_dst);
  EXPECT_EQ(plain.proxy.routes[0].upstream_text(), "original:80");
  EXPECT_EQ(error_of(R"({"routes":[{"name":"t","listen":":1","upstream":"original_dest"}]})"),
            "routes[0].upstream: expected \"host:port\", got \"original_dest\"");
}

// `mcptap stdio`'s log: no file (nothing on stderr) and level info unless the file says so.
TEST(ConfigLoader, StdioLogFileAndLevel) {
  const std::string routes = R"("routes":[{"name":"a","listen":":1","upstream":"b:1"}])";
  Config defaults = must_parse("{" + routes + "}");
  EXPECT_EQ(defaults.stdio.log_file, "");
  EXPECT_EQ(defaults.stdio.log_level, base::LogLevel::Info);
  Config set = must_parse("{" + routes +
                          R"(,"stdio":{"log_file":"/var/log/mcptap/hop.log","log_level":"warn"}})");
  EXPECT_EQ(set.stdio.log_file, "/var/log/mcptap/hop.log");
  EXPECT_EQ(set.stdio.log_level, base::LogLevel::Warn);
  EXPECT_EQ(error_of("{" + routes + R"(,"stdio":{"log_level":"verbose"}})"),
            "stdio.log_level: expected debug, info, warn or error");
  EXPECT_EQ(error_of("{" + routes + R"(,"stdio":{"log_file":7}})"),
            "stdio.log_file: expected a string");
  EXPECT_EQ(error_of("{" + routes + R"(,"stdio":{"logfile":"x"}})"),
            "stdio.logfile: unknown key (did you mean \"log_file\"?)");
}

TEST(ConfigLoader, FileErrorsAndEnvironmentOverride) {
  base::Result<Config> missing = load_config_file("/nonexistent/mcptap.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message,
            "/nonexistent/mcptap.json: cannot open: No such file or directory");
  std::string path = testing::TempDir() + "mcptap_config_test.json";
  {
    std::ofstream file(path);
    file << kContractExample;
  }
  setenv("MCPTAP_PG_URL", "postgresql://from-env/db", 1);
  EXPECT_EQ(must_load(path).sink.postgres_url, "postgresql://from-env/db");
  unsetenv("MCPTAP_PG_URL");
  EXPECT_EQ(must_load(path).sink.postgres_url, "postgresql://mcptap@db/mcptap");
  std::remove(path.c_str());
}

// A one-route document: `upstream` (JSON text) and the route's TLS keys (`tls`, JSON members).
std::string tls_route(const std::string& tls, const std::string& upstream = R"("b.test:443")") {
  return R"({"routes":[{"name":"t","listen":":9443","upstream":)" + upstream + "," + tls + "}]}";
}
const std::string kOriginalDst = R"("original_dst")";
const std::string kIntercept =
    R"("listen_tls":{"intercept":{"ca_cert_file":"/ca/ca.crt","ca_key_file":"/ca/ca.key"}})";

TEST(ConfigLoaderTls, NoTlsByDefault) {
  Config config = must_parse(R"({"routes":[{"name":"t","listen":":1","upstream":"b:1"}]})");
  EXPECT_FALSE(config.proxy.routes[0].listen_tls);
  EXPECT_FALSE(config.proxy.routes[0].upstream_tls);
  EXPECT_EQ(config.proxy.flow.tls_handshake_timeout_ms, 10000);
}

TEST(ConfigLoaderTls, ListenTlsWithACertificate) {
  Config config = must_parse(tls_route(
      R"("listen_tls":{"cert_file":"/tls/c.pem","key_file":"/tls/k.pem",
                       "client_ca_file":"/tls/clients.pem","min_version":"1.3"})"));
  const auto& tls = config.proxy.routes[0].listen_tls;
  ASSERT_TRUE(tls);
  EXPECT_EQ(tls->cert_file, "/tls/c.pem");
  EXPECT_EQ(tls->key_file, "/tls/k.pem");
  EXPECT_EQ(tls->client_ca_file, "/tls/clients.pem");
  EXPECT_EQ(tls->min_version, proxy::TlsVersion::V1_3);
  EXPECT_FALSE(tls->intercept);
  EXPECT_FALSE(config.proxy.routes[0].upstream_tls);  // termination alone: plain upstream

  Config defaults =
      must_parse(tls_route(R"("listen_tls":{"cert_file":"c.pem","key_file":"k.pem"})"));
  EXPECT_EQ(defaults.proxy.routes[0].listen_tls->min_version, proxy::TlsVersion::V1_2);
  EXPECT_EQ(defaults.proxy.routes[0].listen_tls->client_ca_file, "");
}

TEST(ConfigLoaderTls, ListenTlsNeedsExactlyOneCertificateSource) {
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"cert_file":"c.pem"})")),
            "routes[0].listen_tls.key_file: missing (cert_file needs its key)");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"key_file":"k.pem"})")),
            "routes[0].listen_tls.cert_file: missing (key_file needs its certificate)");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{})")),
            "routes[0].listen_tls: needs cert_file and key_file, or intercept");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"min_version":"1.2"})")),
            "routes[0].listen_tls: needs cert_file and key_file, or intercept");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"cert_file":"c","key_file":"k",
      "intercept":{"ca_cert_file":"a","ca_key_file":"b"}})",
                               kOriginalDst)),
            "routes[0].listen_tls: cert_file/key_file and intercept exclude each other: "
            "intercept mints a certificate for each name the clients ask for");
  EXPECT_EQ(
      error_of(tls_route(
          R"("listen_tls":{"key_file":"k","intercept":{"ca_cert_file":"a","ca_key_file":"b"}})",
          kOriginalDst)),
      "routes[0].listen_tls: cert_file/key_file and intercept exclude each other: "
      "intercept mints a certificate for each name the clients ask for");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":"c.pem")")),
            "routes[0].listen_tls: expected an object");
}

TEST(ConfigLoaderTls, ListenTlsKeysAreCheckedAndNamed) {
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"cert_file":"c","key_fle":"k"})")),
            "routes[0].listen_tls.key_fle: unknown key (did you mean \"key_file\"?)");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"cert_file":"","key_file":"k"})")),
            "routes[0].listen_tls.cert_file: expected a file path, got \"\"");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"cert_file":1,"key_file":"k"})")),
            "routes[0].listen_tls.cert_file: expected a file path");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"cert_file":"c\u0000x","key_file":"k"})")),
            "routes[0].listen_tls.cert_file: a path cannot contain a NUL byte");
  EXPECT_EQ(
      error_of(tls_route(R"("listen_tls":{"cert_file":"c","key_file":"k","client_ca_file":""})")),
      "routes[0].listen_tls.client_ca_file: expected a file path, got \"\"");
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"ca_file":"/x","verfy":false})")),
            "routes[0].upstream_tls.verfy: unknown key (did you mean \"verify\"?)");
  // A typo in one route's TLS is named before another route's missing key.
  EXPECT_EQ(error_of(R"({"routes":[{"name":"a","listen":":1"},
      {"name":"b","listen":":2","upstream":"b:1","listen_tls":{"cert_fil":"c","key_file":"k"}}]})"),
            "routes[1].listen_tls.cert_fil: unknown key (did you mean \"cert_file\"?)");
}

TEST(ConfigLoaderTls, MinVersionIsTls12Or13) {
  const std::string certificate = R"("cert_file":"c","key_file":"k",)";
  for (const char* old_version : {"1.0", "1.1"}) {
    EXPECT_EQ(error_of(tls_route(R"("listen_tls":{)" + certificate + R"("min_version":")" +
                                 old_version + "\"}")),
              "routes[0].listen_tls.min_version: TLS 1.2 is the minimum; use \"1.2\" or \"1.3\"")
        << old_version;
  }
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{)" + certificate + R"("min_version":1.2})")),
            "routes[0].listen_tls.min_version: expected \"1.2\" or \"1.3\", got 1.2");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{)" + certificate + R"("min_version":"TLSv1.3"})")),
            "routes[0].listen_tls.min_version: expected \"1.2\" or \"1.3\", got \"TLSv1.3\"");
}

TEST(ConfigLoaderTls, InterceptWithoutUpstreamTlsVerifiesAgainstTheSystemStore) {
  Config config = must_parse(tls_route(kIntercept, kOriginalDst));
  const proxy::RouteConfig& route = config.proxy.routes[0];
  ASSERT_TRUE(route.listen_tls);
  ASSERT_TRUE(route.listen_tls->intercept);
  EXPECT_EQ(route.listen_tls->intercept->ca_cert_file, "/ca/ca.crt");
  EXPECT_EQ(route.listen_tls->intercept->ca_key_file, "/ca/ca.key");
  EXPECT_EQ(route.listen_tls->cert_file, "");
  ASSERT_TRUE(route.upstream_tls);
  EXPECT_EQ(*route.upstream_tls, proxy::UpstreamTls{});
  EXPECT_TRUE(route.upstream_tls->verify);
  EXPECT_EQ(route.upstream_tls->ca_file, "");

  Config own_ca = must_parse(
      tls_route(kIntercept + R"(,"upstream_tls":{"ca_file":"/internal.pem","alpn":["http/1.1"]})",
                kOriginalDst));
  EXPECT_EQ(own_ca.proxy.routes[0].upstream_tls->ca_file, "/internal.pem");
  EXPECT_EQ(own_ca.proxy.routes[0].upstream_tls->alpn, std::vector<std::string>{"http/1.1"});
}

TEST(ConfigLoaderTls, InterceptRules) {
  EXPECT_EQ(error_of(tls_route(kIntercept)),
            "routes[0].listen_tls.intercept: needs \"upstream\": \"original_dst\" (each "
            "connection goes where its client sent it)");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"intercept":{"ca_cert_file":"a"}})", kOriginalDst)),
            "routes[0].listen_tls.intercept.ca_key_file: missing");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"intercept":{"ca_key_file":"a"}})", kOriginalDst)),
            "routes[0].listen_tls.intercept.ca_cert_file: missing");
  EXPECT_EQ(
      error_of(tls_route(
          R"("listen_tls":{"intercept":{"ca_cert_file":"a","ca_key_file":"b","ca_cert_fil":1}})",
          kOriginalDst)),
      "routes[0].listen_tls.intercept.ca_cert_fil: unknown key (did you mean \"ca_cert_file\"?)");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"intercept":{"ca_cert_file":"a",
      "ca_key_file":"b"},"client_ca_file":"c"})",
                               kOriginalDst)),
            "routes[0].listen_tls.client_ca_file: not supported with intercept (the clients "
            "are not authenticated)");
  EXPECT_EQ(
      error_of(tls_route(kIntercept + R"(,"upstream_tls":{"server_name":"b.test"})", kOriginalDst)),
      "routes[0].upstream_tls.server_name: not with listen_tls.intercept: the name comes "
      "from the client's SNI");
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{})", kOriginalDst)),
            "routes[0].upstream_tls: on an \"original_dst\" route only with "
            "listen_tls.intercept (the server name comes from the client's SNI)");
  EXPECT_EQ(error_of(tls_route(R"("listen_tls":{"cert_file":"c","key_file":"k"},
      "upstream_tls":{})",
                               kOriginalDst)),
            "routes[0].upstream_tls: on an \"original_dst\" route only with "
            "listen_tls.intercept (the server name comes from the client's SNI)");
  // Termination in front of original_dst is fine (plain to the original destination).
  Config terminated =
      must_parse(tls_route(R"("listen_tls":{"cert_file":"c","key_file":"k"})", kOriginalDst));
  EXPECT_FALSE(terminated.proxy.routes[0].upstream_tls);
}

TEST(ConfigLoaderTls, UpstreamTlsKeys) {
  Config config = must_parse(tls_route(R"("upstream_tls":{"server_name":"api.example.com",
      "ca_file":"/ca.pem","verify":true,"client_cert_file":"/cc.pem","client_key_file":"/ck.pem",
      "alpn":["http/1.1","acme-tls/1"]})"));
  const auto& tls = config.proxy.routes[0].upstream_tls;
  ASSERT_TRUE(tls);
  EXPECT_EQ(tls->server_name, "api.example.com");
  EXPECT_EQ(tls->ca_file, "/ca.pem");
  EXPECT_TRUE(tls->verify);
  EXPECT_EQ(tls->client_cert_file, "/cc.pem");
  EXPECT_EQ(tls->client_key_file, "/ck.pem");
  EXPECT_EQ(tls->alpn, (std::vector<std::string>{"http/1.1", "acme-tls/1"}));
  EXPECT_FALSE(config.proxy.routes[0].listen_tls);

  Config defaults = must_parse(tls_route(R"("upstream_tls":{})"));
  EXPECT_EQ(*defaults.proxy.routes[0].upstream_tls, proxy::UpstreamTls{});
  Config unverified = must_parse(tls_route(R"("upstream_tls":{"verify":false})"));
  EXPECT_FALSE(unverified.proxy.routes[0].upstream_tls->verify);
  // An IP upstream is verified by its address: no server_name needed.
  Config by_ip = must_parse(tls_route(R"("upstream_tls":{})", R"("10.0.0.5:443")"));
  EXPECT_EQ(by_ip.proxy.routes[0].upstream_tls->server_name, "");
}

TEST(ConfigLoaderTls, UpstreamTlsRules) {
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"verify":false,"ca_file":"/ca.pem"})")),
            "routes[0].upstream_tls.verify: false with ca_file: ca_file is only used to verify; "
            "remove one of them");
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"verify":"no"})")),
            "routes[0].upstream_tls.verify: expected true or false");
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"client_cert_file":"c"})")),
            "routes[0].upstream_tls.client_key_file: missing (client_cert_file needs its key)");
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"client_key_file":"k"})")),
            "routes[0].upstream_tls.client_cert_file: missing (client_key_file needs its "
            "certificate)");
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"ca_file":""})")),
            "routes[0].upstream_tls.ca_file: expected a file path, got \"\"");
}

TEST(ConfigLoaderTls, ServerNameIsADnsName) {
  for (const char* good :
       {"a", "api.example.com", "API.Example.com", "xn--bcher-kva.example", "a-b.c"}) {
    Config config =
        must_parse(tls_route(R"("upstream_tls":{"server_name":")" + std::string(good) + "\"}"));
    EXPECT_EQ(config.proxy.routes[0].upstream_tls->server_name, good);
  }
  std::string longest;
  while (longest.size() < 253) {
    if (!longest.empty()) longest.push_back('.');
    longest.append(9, 'b');
  }
  longest.resize(253);
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"server_name":")" + longest + "\"}")), "");
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"server_name":")" + longest + "b\"}")),
            "routes[0].upstream_tls.server_name: a DNS name is at most 253 characters");
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"server_name":"api.example.com:443"})")),
            "routes[0].upstream_tls.server_name: \"api.example.com:443\" has a port; server_name "
            "is a DNS name only (the port is the upstream's)");
  for (const char* ip : {"10.0.0.5", "::1", "2001:db8::1"}) {
    EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"server_name":")" + std::string(ip) + "\"}")),
              "routes[0].upstream_tls.server_name: an IP address is not a server name; leave "
              "server_name out and an IP upstream is verified by its address")
        << ip;
  }
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"server_name":""})")),
            "routes[0].upstream_tls.server_name: expected a DNS name, got \"\"");
  EXPECT_EQ(error_of(tls_route(R"("upstream_tls":{"server_name":7})")),
            "routes[0].upstream_tls.server_name: expected a DNS name");
  for (const char* bad :
       {"a..b", "-a.test", "a-.test", "a.", ".a", "a_b.test", "*.example.com", "a b"}) {
    std::string error =
        error_of(tls_route(R"("upstream_tls":{"server_name":")" + std::string(bad) + "\"}"));
    EXPECT_EQ(error.rfind("routes[0].upstream_tls.server_name: \"" + std::string(bad) +
                              "\" is not a DNS name",
                          0),
              0u)
        << bad << ": " << error;
  }
  std::string long_label(64, 'a');
  EXPECT_NE(error_of(tls_route(R"("upstream_tls":{"server_name":")" + long_label + ".test\"}")),
            "");
  EXPECT_EQ(
      error_of(tls_route(R"("upstream_tls":{"server_name":")" + long_label.substr(1) + ".test\"}")),
      "");
}

TEST(ConfigLoaderTls, AlpnTokens) {
  const std::string prefix = R"("upstream_tls":{"alpn":)";
  const std::string where = "routes[0].upstream_tls.alpn: ";
  EXPECT_EQ(error_of(tls_route(prefix + R"(["h2","http/1.1"]})")),
            where + "\"h2\" is not supported: HTTP/2 would pass uncaptured; offer \"http/1.1\"");
  EXPECT_EQ(error_of(tls_route(prefix + "[]}")),
            where + "expected an array of 1 to 8 protocol names, such as [\"http/1.1\"]");
  EXPECT_EQ(error_of(tls_route(prefix + R"("http/1.1"})")),
            where + "expected an array of 1 to 8 protocol names, such as [\"http/1.1\"]");
  EXPECT_EQ(error_of(tls_route(prefix + R"(["a","b","c","d","e","f","g","h","i"]})")),
            where + "expected an array of 1 to 8 protocol names, such as [\"http/1.1\"]");
  EXPECT_EQ(error_of(tls_route(prefix + R"(["a","b","c","d","e","f","g","h"]})")), "");
  EXPECT_EQ(error_of(tls_route(prefix + R"([""]})")),
            where + "a protocol name is 1 to 255 characters");
  EXPECT_EQ(error_of(tls_route(prefix + "[\"" + std::string(256, 'x') + "\"]}")),
            where + "a protocol name is 1 to 255 characters");
  EXPECT_EQ(error_of(tls_route(prefix + "[\"" + std::string(255, 'x') + "\"]}")), "");
  EXPECT_EQ(error_of(tls_route(prefix + R"(["http 1"]})")),
            where + "\"http 1\": printable ASCII without spaces only");
  EXPECT_EQ(error_of(tls_route(prefix + R"(["caf\u00e9"]})")),
            where + "\"caf\u00e9\": printable ASCII without spaces only");
  EXPECT_EQ(error_of(tls_route(prefix + R"([1]})")), where + "expected an array of strings");
  EXPECT_EQ(error_of(tls_route(prefix + R"(["http/1.1","http/1.1"]})")),
            where + "\"http/1.1\" is listed twice");
}

TEST(ConfigLoaderTls, HandshakeTimeout) {
  const std::string route = R"("routes":[{"name":"t","listen":":1","upstream":"b:1"}])";
  Config config = must_parse("{" + route + R"(,"proxy":{"tls_handshake_timeout_ms":2500}})");
  EXPECT_EQ(config.proxy.flow.tls_handshake_timeout_ms, 2500);
  EXPECT_EQ(must_parse("{" + route + R"(,"proxy":{"tls_handshake_timeout_ms":100}})")
                .proxy.flow.tls_handshake_timeout_ms,
            100);
  EXPECT_EQ(error_of("{" + route + R"(,"proxy":{"tls_handshake_timeout_ms":99}})"),
            "proxy.tls_handshake_timeout_ms: must be between 100 and 600000, got 99");
  EXPECT_EQ(error_of("{" + route + R"(,"proxy":{"tls_handshake_timeout_ms":600001}})"),
            "proxy.tls_handshake_timeout_ms: must be between 100 and 600000, got 600001");
  EXPECT_EQ(error_of("{" + route + R"(,"proxy":{"tls_handshake_timeout_ms":"1s"}})"),
            "proxy.tls_handshake_timeout_ms: expected an integer");
  EXPECT_EQ(
      error_of("{" + route + R"(,"proxy":{"tls_handshake_timeout":1000}})"),
      "proxy.tls_handshake_timeout: unknown key (did you mean \"tls_handshake_timeout_ms\"?)");
}

// The fuzzer's TLS seed starts from a configuration that loads, so mutations reach every
// TLS rule rather than stopping at the first error.
TEST(ConfigLoaderTls, FuzzSeedLoads) {
  Config config = must_load(std::string(MCPTAP_TEST_DATA_DIR) +
                            "/../fuzz/corpus/config_loader_fuzz/config_tls.json");
  ASSERT_EQ(config.proxy.routes.size(), 2u);
  EXPECT_TRUE(config.proxy.routes[0].listen_tls);
  EXPECT_TRUE(config.proxy.routes[1].listen_tls->intercept);
  EXPECT_FALSE(config.proxy.routes[1].upstream_tls->verify);
  EXPECT_EQ(config.proxy.flow.tls_handshake_timeout_ms, 5000);
}

}  // namespace
}  // namespace mcptap::cli

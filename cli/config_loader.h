// The JSON configuration file: parsing, validation with named errors, defaults, env overrides.
#pragma once

#include <string>
#include <string_view>

#include "base/host_port.h"
#include "base/log.h"
#include "base/result.h"
#include "capture/message_pipeline.h"
#include "capture/redactor.h"
#include "proxy/proxy_options.h"
#include "sink/sink_options.h"

namespace mcptap::cli {

struct AdminConfig {
  base::HostPort listen{"127.0.0.1", 9901};
  std::string token_env = "MCPTAP_ADMIN_TOKEN";
  std::vector<std::string> allowed_hosts;  // Host values accepted besides loopback/listen ones
};

// Read only by `mcptap stdio`, whose stderr belongs to its child: without a log file it
// writes nothing there but a fatal error. `mcptap run` logs to stderr.
struct StdioConfig {
  std::string log_file;  // appended to, created 0600; --log-file overrides it
  base::LogLevel log_level = base::LogLevel::Info;
};

struct Config {
  AdminConfig admin;
  StdioConfig stdio;
  proxy::ProxyOptions proxy;
  sink::SinkOptions sink;
  capture::CaptureOptions capture;
  capture::RedactOptions redact;
};

// Parses a configuration document. Every problem is one line naming the key:
// `routes[1].listen: expected "host:port", got "9001"`. Environment overrides
// (MCPTAP_PG_URL) are applied by load_config_file, not here, so tests can parse without
// touching the environment.
base::Result<Config> parse_config(std::string_view json_text);
// The file's configuration; its errors start with the path.
base::Result<Config> load_config_file(const std::string& path);

// "host:port", "[v6]:port" or ":port" (all interfaces); the error names `where`.
base::Result<base::HostPort> parse_host_port(std::string_view text, std::string_view where);

}  // namespace mcptap::cli

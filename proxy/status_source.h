// What the control plane asks of the parts it does not own (the sink): status and metrics.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "proxy/prometheus.h"

namespace mcptap::proxy {

class StatusSource {
 public:
  virtual ~StatusSource() = default;
  // An object for GET /status under "sink".
  virtual nlohmann::json status_json() const = 0;
  // Its families for GET /metrics.
  virtual void write_metrics(PrometheusWriter& writer) const = 0;
  // Why capture is degraded now (e.g. "spool: No space left on device"); nullopt when it
  // is not. /readyz says so.
  virtual std::optional<std::string> capture_degraded() const { return std::nullopt; }
};

}  // namespace mcptap::proxy

// The sink's counters as the control plane shows them: /status JSON and /metrics families.
#pragma once

#include "proxy/status_source.h"
#include "sink/sink.h"

namespace mcptap::cli {

class SinkStatus final : public proxy::StatusSource {
 public:
  explicit SinkStatus(const sink::Sink& sink) : sink_(sink) {}
  nlohmann::json status_json() const override;
  void write_metrics(proxy::PrometheusWriter& writer) const override;
  std::optional<std::string> capture_degraded() const override;

 private:
  double lag_seconds() const;
  nlohmann::json capture_json() const;
  const sink::Sink& sink_;
};

}  // namespace mcptap::cli

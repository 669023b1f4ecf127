// Sink counters for /status and /metrics.
#include "cli/sink_status.h"

#include <time.h>

#include "base/clock.h"

namespace mcptap::cli {

using proxy::MetricType;

double SinkStatus::lag_seconds() const {
  // How long the oldest record still waiting has waited: zero when nothing waits.
  int64_t oldest = sink_.stats().oldest_queued_unix_us.load();
  if (oldest <= 0 || sink_.stats().spool_records.load() == 0) return 0;
  return static_cast<double>(base::unix_now_us() - oldest) / 1e6;
}

namespace {

std::string utc_time(int64_t unix_us) {
  time_t seconds = static_cast<time_t>(unix_us / 1000000);
  tm parts;
  gmtime_r(&seconds, &parts);
  char text[32];
  strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

}  // namespace

// {"state": "ok"}, or "degraded" with since when, why and how many records were dropped.
nlohmann::json SinkStatus::capture_json() const {
  std::optional<sink::CaptureDegradation> degraded = sink_.capture_degradation();
  if (!degraded) return {{"state", "ok"}};
  return {{"state", "degraded"},
          {"cause", degraded->cause},
          {"error", degraded->error},
          {"since", utc_time(degraded->since_unix_us)},
          {"since_unix_us", degraded->since_unix_us},
          {"dropped_records", degraded->dropped_records},
          {"spool_dir", sink_.spool_dir()}};
}

std::optional<std::string> SinkStatus::capture_degraded() const {
  std::optional<sink::CaptureDegradation> degraded = sink_.capture_degradation();
  if (!degraded) return std::nullopt;
  return "spool: " + degraded->error;
}

nlohmann::json SinkStatus::status_json() const {
  const sink::SinkStats& s = sink_.stats();
  return {{"capture", capture_json()},
          {"queued_records", s.spool_records.load()},
          {"queued_bytes", s.spool_bytes.load()},
          {"spool_bytes", s.spool_bytes.load()},
          {"spool_records", s.spool_records.load()},
          {"spool_disk_bytes", s.spool_disk_bytes.load()},
          {"spool_full_drops", s.spool_full_drops.load()},
          {"spool_write_errors", s.spool_write_errors.load()},
          {"spool_corrupt_records", s.spool_corrupt_records.load()},
          {"spool_usable", s.spool_usable.load()},
          {"accepted_records", s.accepted_records.load()},
          {"written_records", s.written_records.load()},
          {"dropped_records", s.dropped_records.load()},
          {"rejected_records", s.rejected_records.load()},
          {"batches_committed", s.batches_committed.load()},
          {"batches_failed", s.batches_failed.load()},
          {"postgres_up", s.postgres_up.load()},
          {"lag_seconds", lag_seconds()}};
}

void SinkStatus::write_metrics(proxy::PrometheusWriter& writer) const {
  const sink::SinkStats& s = sink_.stats();
  struct Counter {
    const char* name;
    MetricType type;
    const char* help;
    uint64_t value;
  };
  const Counter counters[] = {
      {"mcptap_sink_accepted_records_total", MetricType::Counter, "Records taken by the sink.",
       s.accepted_records.load()},
      {"mcptap_sink_written_records_total", MetricType::Counter, "Records committed in PostgreSQL.",
       s.written_records.load()},
      {"mcptap_sink_dropped_records_total", MetricType::Counter,
       "Records the sink could not keep (spool or queue full, write errors).",
       s.dropped_records.load()},
      {"mcptap_sink_rejected_records_total", MetricType::Counter,
       "Records PostgreSQL refused as bad data.", s.rejected_records.load()},
      {"mcptap_sink_batches_total", MetricType::Counter, "Batches committed.",
       s.batches_committed.load()},
      {"mcptap_sink_batch_failures_total", MetricType::Counter, "Batch attempts that failed.",
       s.batches_failed.load()},
      {"mcptap_spool_records", MetricType::Gauge, "Spooled records not yet committed.",
       s.spool_records.load()},
      {"mcptap_spool_bytes", MetricType::Gauge, "Spooled bytes not yet committed.",
       s.spool_bytes.load()},
      {"mcptap_spool_disk_bytes", MetricType::Gauge, "Bytes of every spool segment on disk.",
       s.spool_disk_bytes.load()},
      {"mcptap_spool_full_drops_total", MetricType::Counter,
       "Captures dropped because the spool reached sink.spool_max_bytes.",
       s.spool_full_drops.load()},
      {"mcptap_spool_write_errors_total", MetricType::Counter,
       "Captures dropped because a spool write failed (disk full, I/O error).",
       s.spool_write_errors.load()},
      {"mcptap_spool_corrupt_records_total", MetricType::Counter,
       "Damaged spool records skipped on reading.", s.spool_corrupt_records.load()},
      {"mcptap_postgres_up", MetricType::Gauge, "1 while the sink is connected to PostgreSQL.",
       uint64_t{s.postgres_up.load()}},
      {"mcptap_capture_degraded", MetricType::Gauge,
       "1 while the spool drops captures (disk full, write errors, spool_max_bytes); "
       "forwarding goes on.",
       uint64_t{s.degraded_since_unix_us.load() != 0}},
  };
  for (const Counter& counter : counters) {
    writer.family(counter.name, counter.type, counter.help);
    writer.sample({}, counter.value);
  }
  writer.family("mcptap_sink_lag_seconds", MetricType::Gauge,
                "Age of the oldest record not yet committed.");
  writer.sample({}, lag_seconds());
}

}  // namespace mcptap::cli

// Prometheus text exposition (format 0.0.4) for /metrics, and a fixed-bucket latency histogram.
#pragma once

#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/result.h"

namespace mcptap::proxy {

enum class MetricType { Counter, Gauge, Histogram };

struct Label {
  std::string_view name;
  std::string_view value;  // any bytes; escaped on output
};
using Labels = std::vector<Label>;

// Latency observations in fixed buckets (seconds). observe() is lock-free and allocation-free
// and may run on any thread; snapshot() may run on another. A snapshot is consistent with
// itself (its count is the sum of its buckets) though `sum` may lag a concurrent observe().
class LatencyHistogram {
 public:
  static constexpr std::array<double, 16> kUpperBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  // One bucket per bound, plus one for observations above the last bound.
  static constexpr size_t kBuckets = kUpperBounds.size() + 1;

  struct Snapshot {
    std::array<uint64_t, kBuckets> counts{};  // per bucket, not cumulative
    double sum = 0;
    uint64_t count = 0;
  };

  // Negative values (a clock stepping back) count as 0; NaN is ignored.
  void observe(double seconds);
  void observe_microseconds(uint64_t microseconds) { observe(microseconds / 1e6); }
  Snapshot snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
  std::atomic<double> sum_{0};
};

// Builds one exposition document. Call family() for each metric family, then its samples;
// a family's samples must follow it without another family in between (the format needs
// them grouped). Misuse (a bad name, a repeated family, a sample of the wrong kind, a
// negative counter) never yields invalid output: the offending line is left out and
// status() says what happened, so /metrics stays scrapeable.
class PrometheusWriter {
 public:
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // Writes "# HELP" and "# TYPE". Names match [a-zA-Z_:][a-zA-Z0-9_:]*; counter names end
  // in "_total" (the 0.0.4 convention, kept in the HELP/TYPE lines as well). False, and the
  // family's samples are dropped, when the name is invalid or already written.
  bool family(std::string_view name, MetricType type, std::string_view help);

  // One sample of the current counter or gauge family. Integers print exactly.
  template <std::integral T>
  requires(!std::same_as<T, bool>) void sample(const Labels& labels, T value) {
    if constexpr (std::is_signed_v<T>) {
      if (value < 0 && !allow_negative()) return;
    }
    write_sample(labels, format_integer(value));
  }
  void sample(const Labels& labels, double value);

  // One histogram of the current histogram family. bucket_counts are per bucket (not
  // cumulative): bucket_counts[i] counts observations in (upper_bounds[i-1], upper_bounds[i]],
  // and the one extra last entry those above every bound. Bounds must be finite and strictly
  // increasing. Writes the cumulative _bucket lines (le="+Inf" last), _sum and _count.
  void histogram(const Labels& labels, std::span<const double> upper_bounds,
                 std::span<const uint64_t> bucket_counts, double sum);
  void histogram(const Labels& labels, const LatencyHistogram& histogram);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }
  // Fine while every call was valid; else the first problem, for a log line.
  const base::Status& status() const { return status_; }

 private:
  template <std::integral T>
  static std::string format_integer(T value) {
    return std::to_string(value);
  }
  bool allow_negative();
  bool check_labels(const Labels& labels, bool is_histogram);
  void write_sample(const Labels& labels, std::string_view value);
  void write_line(std::string_view suffix, const Labels& labels, const Label* extra,
                  std::string_view value);
  void fail(std::string message);

  std::string out_;
  base::Status status_;
  std::string name_;  // the current family; empty when none (or it was rejected)
  MetricType type_ = MetricType::Gauge;
  std::unordered_set<std::string> families_;
};

// A sample value as Prometheus parses it: shortest round-trip decimal ("0.25", "3",
// "1e-07"), and "+Inf", "-Inf", "NaN".
std::string prometheus_number(double value);
// A label value with backslash, double quote and newline escaped (quotes not included).
std::string prometheus_escape_label_value(std::string_view value);
// A label value that came off the wire (a JSON-RPC method): kept only when it is at most
// kMaxWireLabelBytes of [A-Za-z0-9/_.-], else "other". Every name MCP defines passes;
// a peer's megabyte of junk becomes one short, plain label.
constexpr size_t kMaxWireLabelBytes = 64;
std::string_view prometheus_wire_label(std::string_view value);
// Whether `name` is a valid metric name, or (label) a valid label name that is not reserved.
bool prometheus_valid_metric_name(std::string_view name);
bool prometheus_valid_label_name(std::string_view name);

}  // namespace mcptap::proxy

// Prometheus text exposition 0.0.4: names checked, values formatted, labels escaped.
#include "proxy/prometheus.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace mcptap::proxy {
namespace {

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view type_name(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Histogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text escapes only backslash and newline (a double quote is fine there).
std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

// ---- Free helpers ------------------------------------------------------------------------

std::string prometheus_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Whole numbers that a double holds exactly print as integers ("123456789", not
  // "1.23456789e+08"): byte and message totals read naturally.
  constexpr double kExactIntegerLimit = 9007199254740992.0;  // 2^53
  if (value == std::trunc(value) && std::fabs(value) < kExactIntegerLimit) {
    return std::to_string(static_cast<int64_t>(value));
  }
  // The general format keeps small fractions readable ("0.0005", not "5e-04") while the
  // shortest round-trip digits mean a value parses back to exactly the same double.
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::general);
  return std::string(buffer, result.ptr);
}

std::string prometheus_escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view prometheus_wire_label(std::string_view value) {
  auto plain = [](char c) {
    return is_name_start(c) || is_digit(c) || c == '/' || c == '.' || c == '-';
  };
  if (value.empty() || value.size() > kMaxWireLabelBytes) return "other";
  return std::all_of(value.begin(), value.end(), plain) ? value : "other";
}

bool prometheus_valid_metric_name(std::string_view name) {
  if (name.empty() || !(is_name_start(name[0]) || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_name_start(c) || is_digit(c) || c == ':'; });
}

bool prometheus_valid_label_name(std::string_view name) {
  if (name.empty() || !is_name_start(name[0])) return false;
  if (name.substr(0, 2) == "__") return false;  // reserved for Prometheus itself
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_name_start(c) || is_digit(c); });
}

// ---- LatencyHistogram --------------------------------------------------------------------

void LatencyHistogram::observe(double seconds) {
  if (std::isnan(seconds)) return;
  if (seconds < 0) seconds = 0;
  // Buckets are "less than or equal": a value equal to a bound belongs to that bound.
  auto bound = std::lower_bound(kUpperBounds.begin(), kUpperBounds.end(), seconds);
  size_t index = static_cast<size_t>(bound - kUpperBounds.begin());
  counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(seconds, std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  Snapshot snapshot;
  for (size_t i = 0; i < kBuckets; ++i) {
    snapshot.counts[i] = counts_[i].load(std::memory_order_relaxed);
    snapshot.count += snapshot.counts[i];
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

// ---- PrometheusWriter --------------------------------------------------------------------

bool PrometheusWriter::family(std::string_view name, MetricType type, std::string_view help) {
  name_.clear();
  if (!prometheus_valid_metric_name(name)) {
    fail("invalid metric name \"" + std::string(name) + "\"");
    return false;
  }
  if (type == MetricType::Counter && !ends_with(name, "_total")) {
    fail("counter \"" + std::string(name) + "\" does not end in _total");
    return false;
  }
  if (!families_.emplace(name).second) {
    fail("metric family \"" + std::string(name) + "\" written twice");
    return false;
  }
  name_ = name;
  type_ = type;
  out_ += "# HELP " + name_ + " " + escape_help(help) + "\n";
  out_ += "# TYPE " + name_ + " " + std::string(type_name(type)) + "\n";
  return true;
}

void PrometheusWriter::sample(const Labels& labels, double value) {
  if (value < 0 && !allow_negative()) return;
  write_sample(labels, prometheus_number(value));
}

bool PrometheusWriter::allow_negative() {
  if (type_ != MetricType::Counter) return true;
  fail("negative value for counter \"" + name_ + "\"");
  return false;
}

void PrometheusWriter::write_sample(const Labels& labels, std::string_view value) {
  if (name_.empty()) return;  // no family, or a rejected one: already reported
  if (type_ == MetricType::Histogram) {
    fail("plain sample for histogram \"" + name_ + "\"");
    return;
  }
  if (!check_labels(labels, false)) return;
  write_line("", labels, nullptr, value);
}

void PrometheusWriter::histogram(const Labels& labels, std::span<const double> upper_bounds,
                                 std::span<const uint64_t> bucket_counts, double sum) {
  if (name_.empty()) return;
  if (type_ != MetricType::Histogram) return fail("histogram sample for \"" + name_ + "\"");
  if (bucket_counts.size() != upper_bounds.size() + 1) {
    return fail("histogram \"" + name_ + "\" needs one count per bound plus one");
  }
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i]) || (i > 0 && upper_bounds[i] <= upper_bounds[i - 1])) {
      return fail("histogram \"" + name_ + "\" bounds are not finite and increasing");
    }
  }
  if (!check_labels(labels, true)) return;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= upper_bounds.size(); ++i) {
    cumulative += bucket_counts[i];
    std::string le = i < upper_bounds.size() ? prometheus_number(upper_bounds[i]) : "+Inf";
    Label bound{"le", le};
    write_line("_bucket", labels, &bound, std::to_string(cumulative));
  }
  write_line("_sum", labels, nullptr, prometheus_number(sum));
  write_line("_count", labels, nullptr, std::to_string(cumulative));
}

void PrometheusWriter::histogram(const Labels& labels, const LatencyHistogram& histogram) {
  LatencyHistogram::Snapshot snapshot = histogram.snapshot();
  this->histogram(labels, LatencyHistogram::kUpperBounds, snapshot.counts, snapshot.sum);
}

bool PrometheusWriter::check_labels(const Labels& labels, bool is_histogram) {
  for (size_t i = 0; i < labels.size(); ++i) {
    std::string_view label = labels[i].name;
    bool bad = !prometheus_valid_label_name(label) || (is_histogram && label == "le");
    for (size_t j = 0; j < i && !bad; ++j) bad = labels[j].name == label;
    if (bad) {
      fail("invalid or repeated label \"" + std::string(label) + "\" on \"" + name_ + "\"");
      return false;
    }
  }
  return true;
}

void PrometheusWriter::write_line(std::string_view suffix, const Labels& labels, const Label* extra,
                                  std::string_view value) {
  out_ += name_;
  out_ += suffix;
  if (!labels.empty() || extra != nullptr) {
    out_ += '{';
    bool first = true;
    auto append = [&](const Label& label) {
      if (!first) out_ += ',';
      first = false;
      out_ += label.name;
      out_ += "=\"";
      out_ += prometheus_escape_label_value(label.value);
      out_ += '"';
    };
    for (const Label& label : labels) append(label);
    if (extra != nullptr) append(*extra);
    out_ += '}';
  }
  out_ += ' ';
  out_ += value;
  out_ += '\n';
}

void PrometheusWriter::fail(std::string message) {
  if (status_) status_ = base::fail(std::move(message));
}

}  // namespace mcptap::proxy

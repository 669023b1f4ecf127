// PrometheusWriter and LatencyHistogram: exact output, escaping, cumulative buckets, misuse,
// and every document checked against the exposition grammar (and prometheus_client's parser).
#include "proxy/prometheus.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace mcptap::proxy {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

// ---- A validator for exposition format 0.0.4 ---------------------------------------------

// Returns "" when `text` is a valid document, else the first problem. Checks: every line is a
// HELP, TYPE or sample line of the grammar; HELP and TYPE come once per family, before its
// samples; a family's samples are contiguous; counters end in _total; histograms have
// cumulative buckets ending in le="+Inf" that equals _count.
std::string validate_exposition(const std::string& text) {
  static const std::string kName = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  static const std::string kLabel = "[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\[\\\\\"n])*\"";
  static const std::string kValue =
      "(?:[-+]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]Inf|NaN)";
  static const std::regex kHelp("# HELP (" + kName + ") (?:[^\\\\\\n]|\\\\[\\\\n])*");
  static const std::regex kType("# TYPE (" + kName + ") (counter|gauge|histogram|summary|untyped)");
  static const std::regex kSample("(" + kName + ")(?:\\{((?:" + kLabel + ")(?:," + kLabel +
                                  ")*)?,?\\})? (" + kValue + ")(?: -?[0-9]+)?");
  static const std::regex kLe("(?:^|,)le=\"([^\"]*)\"");

  if (!text.empty() && text.back() != '\n') return "document does not end with a newline";
  std::map<std::string, std::string> types;
  std::set<std::string> helped, finished;
  std::string current;                        // the family whose samples are being read
  std::map<std::string, double> last_bucket;  // per histogram series: labels without le
  std::map<std::string, std::string> inf_bucket;
  for (const std::string& line : lines_of(text)) {
    std::smatch match;
    if (std::regex_match(line, match, kHelp)) {
      if (!helped.insert(match[1]).second) return "second HELP for " + match[1].str();
      if (types.count(match[1])) return "HELP after TYPE for " + match[1].str();
      continue;
    }
    if (std::regex_match(line, match, kType)) {
      std::string name = match[1];
      if (!helped.count(name)) return "TYPE without HELP for " + name;
      if (!types.emplace(name, match[2]).second) return "second TYPE for " + name;
      if (match[2] == "counter" && !name.ends_with("_total")) {
        return "counter without _total: " + name;
      }
      if (!current.empty()) finished.insert(current);
      current = name;
      continue;
    }
    if (!std::regex_match(line, match, kSample)) return "not a sample line: " + line;
    std::string name = match[1], labels = match[2], value = match[3];
    std::string family = name;
    for (std::string suffix : {"_bucket", "_sum", "_count"}) {
      std::string base =
          name.size() > suffix.size() ? name.substr(0, name.size() - suffix.size()) : "";
      if (name.ends_with(suffix) && types.count(base) && types[base] == "histogram") family = base;
    }
    if (!types.count(family)) return "sample before its TYPE: " + line;
    if (family != current || finished.count(family)) return "family not contiguous: " + line;
    if (types[family] == "histogram" && name == family) return "bare histogram sample: " + line;
    if (name.ends_with("_bucket") && family != name) {
      std::smatch le;
      if (!std::regex_search(labels, le, kLe)) return "bucket without le: " + line;
      std::string series = family + "{" + std::regex_replace(labels, kLe, "") + "}";
      double count = std::stod(value);
      auto previous = last_bucket.find(series);
      if (previous != last_bucket.end() && count < previous->second) {
        return "buckets not cumulative: " + line;
      }
      last_bucket[series] = count;
      if (le[1] == "+Inf") inf_bucket[series] = value;
    }
    if (name.ends_with("_count") && family != name) {
      std::string series = family + "{" + labels + "}";
      if (!inf_bucket.count(series)) return "_count without a +Inf bucket: " + line;
      if (inf_bucket[series] != value) return "_count differs from the +Inf bucket: " + line;
    }
  }
  return "";
}

// When /usr/bin/python3 has prometheus_client (Debian's python3-prometheus-client), its
// parser must accept the document and see these families. "" on success or when missing.
std::string validate_with_prometheus_client(const std::string& text, const std::string& expect) {
  static const bool available =
      std::system("/usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null") == 0;
  if (!available) return "";
  // ctest runs the tests of this binary as parallel processes: one file each.
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string path = ::testing::TempDir() + "/mcptap_metrics_" + std::to_string(getpid()) + "_" +
                     test->name() + ".txt";
  std::ofstream(path) << text;
  std::string command =
      "/usr/bin/python3 -c 'import sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "families = list(text_string_to_metric_families(open(sys.argv[1]).read()))\n"
      "print(\" \".join(f\"{f.name}:{f.type}:{len(f.samples)}\" for f in families))' " +
      path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "cannot run python3";
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  int status = pclose(pipe);
  std::remove(path.c_str());
  if (!output.empty() && output.back() == '\n') output.pop_back();
  if (status != 0) return "prometheus_client rejected it: " + output;
  return output == expect ? "" : "prometheus_client saw: " + output;
}

// ---- Output ------------------------------------------------------------------------------

TEST(PrometheusWriterTest, CountersAndGaugesWithLabels) {
  PrometheusWriter writer;
  ASSERT_TRUE(writer.family("mcptap_messages_total", MetricType::Counter, "Messages captured."));
  writer.sample({{"route", "gates"}, {"direction", "client_to_server"}}, uint64_t{42});
  writer.sample({{"route", "gates"}, {"direction", "server_to_client"}}, 0);
  ASSERT_TRUE(writer.family("mcptap_spool_bytes", MetricType::Gauge, "Bytes in the spool."));
  writer.sample({}, int64_t{123456789});
  ASSERT_TRUE(writer.family("mcptap_lag_seconds", MetricType::Gauge, "Sink lag."));
  writer.sample({}, 0.25);
  writer.sample({{"q", "x"}}, -1.5);

  std::vector<std::string> expected = {
      "# HELP mcptap_messages_total Messages captured.",
      "# TYPE mcptap_messages_total counter",
      "mcptap_messages_total{route=\"gates\",direction=\"client_to_server\"} 42",
      "mcptap_messages_total{route=\"gates\",direction=\"server_to_client\"} 0",
      "# HELP mcptap_spool_bytes Bytes in the spool.",
      "# TYPE mcptap_spool_bytes gauge",
      "mcptap_spool_bytes 123456789",
      "# HELP mcptap_lag_seconds Sink lag.",
      "# TYPE mcptap_lag_seconds gauge",
      "mcptap_lag_seconds 0.25",
      "mcptap_lag_seconds{q=\"x\"} -1.5",
  };
  EXPECT_EQ(lines_of(writer.text()), expected);
  EXPECT_TRUE(writer.status()) << writer.status().error().message;
  EXPECT_EQ(validate_exposition(writer.text()), "");
  EXPECT_EQ(validate_with_prometheus_client(writer.text(),
                                            "mcptap_messages:counter:2 mcptap_spool_bytes:gauge:1 "
                                            "mcptap_lag_seconds:gauge:2"),
            "");
}

TEST(PrometheusWriterTest, LabelValuesAndHelpAreEscaped) {
  PrometheusWriter writer;
  ASSERT_TRUE(
      writer.family("mcptap_routes", MetricType::Gauge, "Routes \\ with \"quotes\"\nand lines."));
  writer.sample({{"name", "a\\b\"c\nd"}}, 1);
  std::vector<std::string> expected = {
      "# HELP mcptap_routes Routes \\\\ with \"quotes\"\\nand lines.",
      "# TYPE mcptap_routes gauge",
      "mcptap_routes{name=\"a\\\\b\\\"c\\nd\"} 1",
  };
  EXPECT_EQ(lines_of(writer.text()), expected);
  EXPECT_EQ(prometheus_escape_label_value("plain"), "plain");
  EXPECT_EQ(prometheus_escape_label_value("\\\"\n"), "\\\\\\\"\\n");
  EXPECT_EQ(validate_exposition(writer.text()), "");
  EXPECT_EQ(validate_with_prometheus_client(writer.text(), "mcptap_routes:gauge:1"), "");
}

TEST(PrometheusWriterTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  const double bounds[] = {0.1, 0.5, 1};
  const uint64_t counts[] = {2, 0, 3, 1};  // per bucket; the last is above 1
  PrometheusWriter writer;
  ASSERT_TRUE(writer.family("mcptap_latency_seconds", MetricType::Histogram, "Latency."));
  writer.histogram({{"route", "r"}}, bounds, counts, 4.75);
  std::vector<std::string> expected = {
      "# HELP mcptap_latency_seconds Latency.",
      "# TYPE mcptap_latency_seconds histogram",
      "mcptap_latency_seconds_bucket{route=\"r\",le=\"0.1\"} 2",
      "mcptap_latency_seconds_bucket{route=\"r\",le=\"0.5\"} 2",
      "mcptap_latency_seconds_bucket{route=\"r\",le=\"1\"} 5",
      "mcptap_latency_seconds_bucket{route=\"r\",le=\"+Inf\"} 6",
      "mcptap_latency_seconds_sum{route=\"r\"} 4.75",
      "mcptap_latency_seconds_count{route=\"r\"} 6",
  };
  EXPECT_EQ(lines_of(writer.text()), expected);
  EXPECT_EQ(validate_exposition(writer.text()), "");
  EXPECT_EQ(validate_with_prometheus_client(writer.text(), "mcptap_latency_seconds:histogram:6"),
            "");
}

TEST(PrometheusWriterTest, LatencyHistogramRendersAllBounds) {
  LatencyHistogram histogram;
  histogram.observe(0.0005);  // exactly a bound: that bucket ("le")
  histogram.observe(0.003);
  histogram.observe(0.003);
  histogram.observe(61);  // above every bound
  PrometheusWriter writer;
  ASSERT_TRUE(writer.family("mcptap_response_latency_seconds", MetricType::Histogram, "RTT."));
  writer.histogram({}, histogram);
  std::vector<std::string> lines = lines_of(writer.text());
  ASSERT_EQ(lines.size(), 2 + LatencyHistogram::kBuckets + 2);
  EXPECT_EQ(lines[2], "mcptap_response_latency_seconds_bucket{le=\"0.0005\"} 1");
  EXPECT_EQ(lines[3], "mcptap_response_latency_seconds_bucket{le=\"0.001\"} 1");
  EXPECT_EQ(lines[4], "mcptap_response_latency_seconds_bucket{le=\"0.0025\"} 1");
  EXPECT_EQ(lines[5], "mcptap_response_latency_seconds_bucket{le=\"0.005\"} 3");
  EXPECT_EQ(lines[2 + 15], "mcptap_response_latency_seconds_bucket{le=\"60\"} 3");
  EXPECT_EQ(lines[2 + 16], "mcptap_response_latency_seconds_bucket{le=\"+Inf\"} 4");
  EXPECT_EQ(lines[2 + 17], "mcptap_response_latency_seconds_sum 61.0065");
  EXPECT_EQ(lines[2 + 18], "mcptap_response_latency_seconds_count 4");
  EXPECT_EQ(validate_exposition(writer.text()), "");
}

// ---- LatencyHistogram --------------------------------------------------------------------

TEST(LatencyHistogramTest, BucketsAreLessOrEqualAndEdgesAreHandled) {
  LatencyHistogram histogram;
  histogram.observe(-0.5);  // clock stepped back: counts as 0
  histogram.observe(std::nan(""));
  histogram.observe(0.001);
  histogram.observe(0.0010001);
  histogram.observe(60);
  histogram.observe(std::numeric_limits<double>::infinity());
  histogram.observe_microseconds(250000);  // 0.25 s
  LatencyHistogram::Snapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, 6u);       // NaN ignored
  EXPECT_EQ(snapshot.counts[0], 1u);   // the negative one
  EXPECT_EQ(snapshot.counts[1], 1u);   // 0.001 <= 0.001
  EXPECT_EQ(snapshot.counts[2], 1u);   // just above 0.001
  EXPECT_EQ(snapshot.counts[8], 1u);   // 0.25
  EXPECT_EQ(snapshot.counts[15], 1u);  // 60
  EXPECT_EQ(snapshot.counts[16], 1u);  // +Inf
  EXPECT_TRUE(std::isinf(snapshot.sum));
}

TEST(LatencyHistogramTest, SumAccumulates) {
  LatencyHistogram histogram;
  for (int i = 0; i < 1000; ++i) histogram.observe(0.002);
  LatencyHistogram::Snapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, 1000u);
  EXPECT_EQ(snapshot.counts[2], 1000u);  // (0.001, 0.0025]
  EXPECT_NEAR(snapshot.sum, 2.0, 1e-9);
}

// ---- Numbers -----------------------------------------------------------------------------

TEST(PrometheusNumberTest, ValuesPrometheusParses) {
  EXPECT_EQ(prometheus_number(0), "0");
  EXPECT_EQ(prometheus_number(-0.0), "0");
  EXPECT_EQ(prometheus_number(3), "3");
  EXPECT_EQ(prometheus_number(123456789), "123456789");
  EXPECT_EQ(prometheus_number(-42), "-42");
  EXPECT_EQ(prometheus_number(0.0005), "0.0005");
  EXPECT_EQ(prometheus_number(2.5), "2.5");
  EXPECT_EQ(prometheus_number(0.1 + 0.2), "0.30000000000000004");  // round-trips exactly
  EXPECT_EQ(prometheus_number(1e-7), "1e-07");
  EXPECT_EQ(prometheus_number(1e300), "1e+300");
  EXPECT_EQ(prometheus_number(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(prometheus_number(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(prometheus_number(std::nan("")), "NaN");
  for (double value : {0.1, 1.0 / 3, 6.02214076e23, 5e-324, 1.7976931348623157e308}) {
    EXPECT_EQ(std::strtod(prometheus_number(value).c_str(), nullptr), value)
        << prometheus_number(value);
  }
  PrometheusWriter writer;
  ASSERT_TRUE(writer.family("mcptap_big", MetricType::Gauge, "h"));
  writer.sample({}, std::numeric_limits<uint64_t>::max());
  writer.sample({{"a", "inf"}}, std::numeric_limits<double>::infinity());
  writer.sample({{"a", "nan"}}, std::nan(""));
  EXPECT_EQ(lines_of(writer.text())[2], "mcptap_big 18446744073709551615");
  EXPECT_EQ(lines_of(writer.text())[3], "mcptap_big{a=\"inf\"} +Inf");
  EXPECT_EQ(lines_of(writer.text())[4], "mcptap_big{a=\"nan\"} NaN");
  EXPECT_EQ(validate_exposition(writer.text()), "");
}

// ---- Misuse never produces an invalid document -------------------------------------------

TEST(PrometheusWriterTest, MisuseIsReportedAndLeftOut) {
  PrometheusWriter writer;
  EXPECT_FALSE(writer.family("mcptap_requests", MetricType::Counter, "no _total"));
  writer.sample({}, 1);  // belongs to the rejected family: dropped
  ASSERT_FALSE(writer.status());
  EXPECT_EQ(writer.status().error().message, "counter \"mcptap_requests\" does not end in _total");
  EXPECT_FALSE(writer.family("9bad", MetricType::Gauge, "h"));
  EXPECT_FALSE(writer.family("bad-name", MetricType::Gauge, "h"));
  ASSERT_TRUE(writer.family("mcptap_ok_total", MetricType::Counter, "h"));
  writer.sample({}, -1);                       // negative counter
  writer.sample({}, -0.5);                     // negative counter
  writer.sample({{"__reserved", "x"}}, 1);     // reserved label name
  writer.sample({{"a", "1"}, {"a", "2"}}, 1);  // repeated label
  writer.sample({{"bad-label", "x"}}, 1);
  const double bounds[] = {1};
  const uint64_t counts[] = {1, 1};
  writer.histogram({}, bounds, counts, 1);  // histogram sample for a counter
  writer.sample({{"route", "r"}}, 7);
  EXPECT_FALSE(writer.family("mcptap_ok_total", MetricType::Counter, "again"));
  ASSERT_TRUE(writer.family("mcptap_h_seconds", MetricType::Histogram, "h"));
  writer.sample({}, 1);                                // plain sample for a histogram
  writer.histogram({{"le", "1"}}, bounds, counts, 1);  // le is the writer's
  const uint64_t short_counts[] = {1};
  writer.histogram({}, bounds, short_counts, 1);  // no overflow bucket
  const double unordered[] = {1, 0.5};
  const uint64_t three[] = {1, 1, 1};
  writer.histogram({}, unordered, three, 1);
  std::vector<std::string> expected = {
      "# HELP mcptap_ok_total h",          "# TYPE mcptap_ok_total counter",
      "mcptap_ok_total{route=\"r\"} 7",    "# HELP mcptap_h_seconds h",
      "# TYPE mcptap_h_seconds histogram",
  };
  EXPECT_EQ(lines_of(writer.text()), expected);
  EXPECT_EQ(validate_exposition(writer.text()), "");
}

// ---- The validator itself must be able to fail --------------------------------------------

TEST(ExpositionValidatorTest, RejectsBrokenDocuments) {
  EXPECT_EQ(validate_exposition("# HELP a_total h\n# TYPE a_total counter\na_total 1\n"), "");
  EXPECT_NE(validate_exposition("a_total 1\n"), "");            // no TYPE
  EXPECT_NE(validate_exposition("# TYPE a gauge\na 1\n"), "");  // no HELP
  EXPECT_NE(validate_exposition("# HELP a h\n# TYPE a gauge\na{x=\"\"\"} 1\n"), "");
  EXPECT_NE(validate_exposition("# HELP a h\n# TYPE a gauge\na{x=\"1\"} one\n"), "");
  EXPECT_NE(validate_exposition("# HELP a h\n# TYPE a gauge\na inf\n"), "");
  EXPECT_NE(validate_exposition("# HELP a h\n# TYPE a counter\na 1\n"), "");  // no _total
  EXPECT_NE(validate_exposition("# HELP a h\n# TYPE a gauge\n# HELP b h\n# TYPE b gauge\n"
                                "b 1\na 1\n"),
            "");  // not contiguous
  EXPECT_NE(validate_exposition("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                                "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"),
            "");  // not cumulative
  EXPECT_NE(validate_exposition("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\n"
                                "h_sum 1\nh_count 1\n"),
            "");                                                          // count differs
  EXPECT_NE(validate_exposition("# HELP a h\n# TYPE a gauge\na 1"), "");  // no final newline
}

TEST(PrometheusWriterTest, FullDocumentIsValid) {
  LatencyHistogram fast, slow;
  fast.observe(0.0001);
  slow.observe(2);
  slow.observe(45);
  PrometheusWriter writer;
  writer.family("mcptap_up", MetricType::Gauge, "1 while the process runs.");
  writer.sample({}, 1);
  writer.family("mcptap_bytes_total", MetricType::Counter, "Bytes forwarded.");
  writer.sample({{"route", "a"}, {"direction", "client_to_server"}}, uint64_t{1} << 40);
  writer.sample({{"route", "b\"q"}, {"direction", "server_to_client"}}, uint64_t{7});
  writer.family("mcptap_response_latency_seconds", MetricType::Histogram, "Latency.");
  writer.histogram({{"route", "a"}}, fast);
  writer.histogram({{"route", "b"}}, slow);
  EXPECT_TRUE(writer.status()) << writer.status().error().message;
  EXPECT_EQ(validate_exposition(writer.text()), "");
  EXPECT_EQ(validate_with_prometheus_client(
                writer.text(),
                "mcptap_up:gauge:1 mcptap_bytes:counter:2 mcptap_response_latency_seconds:"
                "histogram:" +
                    std::to_string(2 * (LatencyHistogram::kBuckets + 2))),
            "");
  std::string taken = writer.take();
  EXPECT_NE(taken.find("mcptap_response_latency_seconds_count{route=\"b\"} 2\n"),
            std::string::npos);
}

TEST(PrometheusWireLabelTest, KeepsShortPlainNamesOnly) {
  for (std::string_view kept : {"tools/call", "notifications/progress", "initialize",
                                "resources/templates/list", "x.y-z_1", "A/B"}) {
    EXPECT_EQ(prometheus_wire_label(kept), kept);
  }
  const std::string longest(kMaxWireLabelBytes, 'm');
  EXPECT_EQ(prometheus_wire_label(longest), longest);
  EXPECT_EQ(prometheus_wire_label(longest + "m"), "other");
  EXPECT_EQ(prometheus_wire_label(std::string(1 << 20, 'm')), "other");
  for (std::string_view odd : std::initializer_list<std::string_view>{
           "", "tools call", "a\"b", "a\\b", "a\nb", "a{b}", "a=b", "a,b", "caf\xc3\xa9",
           std::string_view("a\0b", 3), "a\x7f"}) {
    EXPECT_EQ(prometheus_wire_label(odd), "other") << odd;
  }
}

// The latency family at its worst for one route: 64 methods of the longest plain name plus
// "other", every count and sum at its longest. This is the bound the README states:
// 65 x (2921 + 19 x route name bytes), plus the HELP and TYPE lines.
TEST(PrometheusWriterTest, WorstCaseLatencyFamilyIsBoundedAndQuick) {
  const std::string route(32, 'r');
  std::vector<std::string> methods;
  for (int i = 0; i < 64; ++i) {
    std::string method = std::to_string(i) + "/";
    method.resize(kMaxWireLabelBytes, 'm');
    methods.push_back(std::string(prometheus_wire_label(method)));
  }
  methods.push_back("other");
  std::array<uint64_t, LatencyHistogram::kBuckets> counts{};
  counts.fill(std::numeric_limits<uint64_t>::max() / LatencyHistogram::kBuckets);
  const double sum = 1.2345678901234567e+300;
  auto started = std::chrono::steady_clock::now();
  PrometheusWriter writer;
  writer.family("mcptap_request_latency_seconds", MetricType::Histogram, "help");
  for (const std::string& method : methods) {
    writer.histogram({{"route", route}, {"method", method}}, LatencyHistogram::kUpperBounds, counts,
                     sum);
  }
  double elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(writer.status()) << writer.status().error().message;
  const size_t header =
      writer.text().find("_bucket") - std::string("mcptap_request_latency_seconds").size();
  const size_t bound = 65 * (2921 + 19 * route.size());
  EXPECT_LE(writer.text().size() - header, bound);
  EXPECT_GT(writer.text().size() - header, bound * 9 / 10);  // the arithmetic is tight
  std::printf("worst-case latency family, one route: %zu bytes, rendered in %.3f ms\n",
              writer.text().size(), elapsed_ms);
  EXPECT_LT(elapsed_ms, 250.0);
}

}  // namespace
}  // namespace mcptap::proxy

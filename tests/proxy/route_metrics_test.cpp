// The per-route families of /metrics as text: operation linking families come with a fixed
// label set for every route (no wire string becomes a label), and the document stays valid.
#include "proxy/route_metrics.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "capture/message_pipeline.h"

namespace mcptap::proxy {
namespace {

struct NullConsumer : capture::RecordConsumer {
  bool consume(capture::Record&&) override { return true; }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

// The sample lines of one family, in order.
std::vector<std::string> samples_of(const std::string& text, const std::string& family) {
  std::vector<std::string> samples;
  for (const std::string& line : lines_of(text)) {
    if (line.rfind(family + "{", 0) == 0) samples.push_back(line);
  }
  return samples;
}

class RouteMetricsTest : public ::testing::Test {
 protected:
  RouteMetricsTest() {
    a_.name = "a";
    b_.name = "b";
  }

  std::string metrics() {
    PrometheusWriter writer;
    write_route_metrics(
        writer, {RouteState{a_, traffic_, pipeline_a_}, RouteState{b_, traffic_, pipeline_b_}});
    EXPECT_TRUE(writer.status()) << writer.status().error().message;
    return writer.take();
  }

  capture::Redactor redactor_{capture::RedactOptions{}};
  NullConsumer consumer_;
  capture::MessagePipeline pipeline_a_{"a", capture::CaptureOptions{}, redactor_, consumer_};
  capture::MessagePipeline pipeline_b_{"b", capture::CaptureOptions{}, redactor_, consumer_};
  RouteConfig a_;
  RouteConfig b_;
  RouteCounters traffic_;
};

TEST_F(RouteMetricsTest, OperationFamiliesHaveAFixedLabelSetPerRoute) {
  std::string text = metrics();
  EXPECT_EQ(samples_of(text, "mcptap_operation_evictions_total"),
            (std::vector<std::string>{
                R"(mcptap_operation_evictions_total{route="a",reason="operations"} 0)",
                R"(mcptap_operation_evictions_total{route="a",reason="bytes"} 0)",
                R"(mcptap_operation_evictions_total{route="a",reason="idle"} 0)",
                R"(mcptap_operation_evictions_total{route="b",reason="operations"} 0)",
                R"(mcptap_operation_evictions_total{route="b",reason="bytes"} 0)",
                R"(mcptap_operation_evictions_total{route="b",reason="idle"} 0)"}));
  EXPECT_EQ(samples_of(text, "mcptap_operation_unlinked_total"),
            (std::vector<std::string>{
                R"(mcptap_operation_unlinked_total{route="a",reason="ambiguous_retry"} 0)",
                R"(mcptap_operation_unlinked_total{route="a",reason="unknown_subscription"} 0)",
                R"(mcptap_operation_unlinked_total{route="a",reason="subscription_mismatch"} 0)",
                R"(mcptap_operation_unlinked_total{route="b",reason="ambiguous_retry"} 0)",
                R"(mcptap_operation_unlinked_total{route="b",reason="unknown_subscription"} 0)",
                R"(mcptap_operation_unlinked_total{route="b",reason="subscription_mismatch"} 0)"}));
  EXPECT_EQ(samples_of(text, "mcptap_operations"),
            (std::vector<std::string>{R"(mcptap_operations{route="a"} 0)",
                                      R"(mcptap_operations{route="b"} 0)"}));
  EXPECT_EQ(samples_of(text, "mcptap_operation_bytes"),
            (std::vector<std::string>{R"(mcptap_operation_bytes{route="a"} 0)",
                                      R"(mcptap_operation_bytes{route="b"} 0)"}));
  EXPECT_EQ(samples_of(text, "mcptap_header_mismatch_total"),
            (std::vector<std::string>{R"(mcptap_header_mismatch_total{route="a"} 0)",
                                      R"(mcptap_header_mismatch_total{route="b"} 0)"}));
  // Each says how it behaves while capture is off, like every capture family.
  for (const char* family :
       {"mcptap_operation_evictions_total", "mcptap_operations", "mcptap_operation_bytes",
        "mcptap_operation_unlinked_total", "mcptap_header_mismatch_total"}) {
    std::string help = "# HELP " + std::string(family) + " ";
    size_t at = text.find(help);
    ASSERT_NE(at, std::string::npos) << family;
    std::string line = text.substr(at, text.find('\n', at) - at);
    EXPECT_NE(line.find("Not counted while capture is off."), std::string::npos) << line;
    std::string type = text.find("# TYPE " + std::string(family) + " counter") != std::string::npos
                           ? "counter"
                           : "gauge";
    EXPECT_EQ(type, std::string(family).ends_with("_total") ? "counter" : "gauge") << family;
  }
}

}  // namespace
}  // namespace mcptap::proxy

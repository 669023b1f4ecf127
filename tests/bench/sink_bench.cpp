// Sink benchmark: rows/s from Sink::consume to committed rows on one connection, the raw
// `psql \copy` rate of the same rows, and the drain of a spool filled during an outage.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "sink/copy_binary.h"
#include "sink/record_columns.h"
#include "sink/schema.h"
#include "sink/sink.h"

namespace {

using namespace mcptap;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string url, raw_url, state_dir, cluster_script, python = "/usr/bin/python3";
  int rows = 100000;
  int outage_s = 60;
  int input_rate = 2000;
  std::string work_dir = "/tmp/mcptap-sink-bench";
};

int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A ~1 KB JSON-RPC request, like a tools/call with a text argument.
capture::Record make_record(int n) {
  static const std::string text = [] {
    std::string lorem;
    while (lorem.size() < 860) lorem += "lorem ipsum dolor sit amet, consectetur adipiscing elit ";
    return lorem.substr(0, 860);
  }();
  capture::Record record;
  record.id = base::Uuid::v7();
  record.captured_at_us = now_us();
  record.route = "bench";
  record.connection_id = "bench-conn-" + std::to_string(n % 16);
  record.session_id = record.connection_id;
  record.transport = capture::Transport::WebSocket;
  record.direction = capture::Direction::ClientToServer;
  record.kind = capture::Kind::Request;
  record.jsonrpc_id = std::to_string(n);
  record.method = "tools/call";
  record.correlation_id = base::Uuid::v7();
  record.payload = R"({"jsonrpc":"2.0","id":)" + std::to_string(n) +
                   R"(,"method":"tools/call","params":{"name":"search","arguments":{"text":")" +
                   text + R"("}}})";
  record.payload_bytes = static_cast<int64_t>(record.payload->size());
  record.meta_json = R"({"opcode":1,"compressed":false})";
  return record;
}

constexpr int kRounds = 3;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

bool run(const std::string& command) {
  return std::system(command.c_str()) == 0;
}

sink::SinkOptions options_for(const Args& args, const std::string& spool_dir) {
  sink::SinkOptions options;
  options.postgres_url = args.url;
  options.spool_dir = spool_dir;
  options.reconnect_initial_ms = 50;
  options.reconnect_max_ms = 1000;
  if (const char* v = std::getenv("BENCH_FSYNC_MS")) options.fsync_interval_ms = std::atoi(v);
  if (const char* v = std::getenv("BENCH_BATCH")) options.batch_max_rows = size_t(std::atoi(v));
  return options;
}

template <typename Condition>
bool wait_until(Condition condition, double timeout_s) {
  Clock::time_point start = Clock::now();
  while (!condition()) {
    if (seconds_since(start) > timeout_s) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// (a) everything consumed at once; rows/s until the last one is committed.
double sink_rows_per_second(const Args& args, const std::vector<capture::Record>& records) {
  std::filesystem::remove_all(args.work_dir + "/steady");
  sink::Sink sink(options_for(args, args.work_dir + "/steady"));
  sink.start();
  wait_until([&] { return sink.stats().postgres_up.load(); }, 30);
  Clock::time_point start = Clock::now();
  for (const auto& record : records) sink.consume(capture::Record(record));
  const double consumed_s = seconds_since(start);
  wait_until([&] { return sink.stats().written_records.load() == records.size(); }, 600);
  const double elapsed = seconds_since(start);
  std::printf("  consume() of %zu records took %.3f s (%.2f us each)\n", records.size(), consumed_s,
              consumed_s * 1e6 / double(records.size()));
  sink.stop(std::chrono::milliseconds(10'000));
  return double(records.size()) / elapsed;
}

// (b) psql \copy of the same rows into an identical, freshly migrated table.
double raw_copy_rows_per_second(const Args& args, const std::vector<capture::Record>& records) {
  const std::string file = args.work_dir + "/rows.copy";
  {
    std::ofstream out(file, std::ios::binary);
    std::string tuples;
    sink::append_copy_header(tuples);
    for (const auto& record : records) sink::append_copy_row(record, tuples);
    sink::append_copy_trailer(tuples);
    out << tuples;
  }
  const std::string command = "psql -X -q '" + args.raw_url + "' -c \"\\copy mcptap.messages (" +
                              sink::copy_column_list() + ") FROM '" + file +
                              "' WITH (FORMAT binary)\"";
  Clock::time_point start = Clock::now();
  if (!run(command)) std::fprintf(stderr, "psql \\copy failed\n");
  return double(records.size()) / seconds_since(start);
}

struct DrainResult {
  uint64_t backlog = 0;
  double drain_s = 0;
  double drain_rate = 0;
};

// (c) records arrive at input_rate; PostgreSQL is down for outage_s, then comes back while
// they keep arriving. The drain ends when the spool is empty again.
DrainResult outage_drain(const Args& args) {
  std::filesystem::remove_all(args.work_dir + "/outage");
  sink::Sink sink(options_for(args, args.work_dir + "/outage"));
  sink.start();
  wait_until([&] { return sink.stats().postgres_up.load(); }, 30);
  const std::string cluster = args.python + " " + args.cluster_script + " ";
  run(cluster + "halt " + args.state_dir + " >/dev/null");
  int n = 0;
  Clock::time_point start = Clock::now();
  auto feed_until = [&](double until_s) {
    while (seconds_since(start) < until_s) {
      const int due = int(seconds_since(start) * args.input_rate);
      while (n < due) sink.consume(make_record(n++));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  feed_until(args.outage_s);
  DrainResult result;
  result.backlog = sink.stats().spool_records.load();
  run(cluster + "resume " + args.state_dir + " >/dev/null");
  Clock::time_point resumed = Clock::now();
  const uint64_t written_before = sink.stats().written_records.load();
  // Input goes on during the drain; done once the spool holds less than 50 ms of input.
  while (sink.stats().spool_records.load() > uint64_t(args.input_rate / 20 + 1) &&
         seconds_since(resumed) < 600) {
    feed_until(seconds_since(start) + 0.05);
  }
  result.drain_s = seconds_since(resumed);
  result.drain_rate = double(sink.stats().written_records.load() - written_before) / result.drain_s;
  sink.stop(std::chrono::milliseconds(30'000));
  return result;
}

bool parse(int argc, char** argv, Args* args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i], value = argv[i + 1];
    if (key == "--url")
      args->url = value;
    else if (key == "--raw-url")
      args->raw_url = value;
    else if (key == "--state-dir")
      args->state_dir = value;
    else if (key == "--cluster-script")
      args->cluster_script = value;
    else if (key == "--rows")
      args->rows = std::atoi(value.c_str());
    else if (key == "--outage-s")
      args->outage_s = std::atoi(value.c_str());
    else if (key == "--input-rate")
      args->input_rate = std::atoi(value.c_str());
    else if (key == "--work-dir")
      args->work_dir = value;
    else
      return false;
  }
  return !args->url.empty() && !args->raw_url.empty() && !args->state_dir.empty() &&
         !args->cluster_script.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: sink_bench --url URL --raw-url URL --state-dir DIR --cluster-script "
                 "pg_cluster.py [--rows N] [--outage-s S] [--input-rate R] [--work-dir DIR]\n");
    return 2;
  }
  base::set_min_log_level(base::LogLevel::Error);
  std::filesystem::create_directories(args.work_dir);
  for (const std::string& url : {args.url, args.raw_url}) {
    sink::PgConnection connection(url);
    base::Status migrated = connection.ok() ? sink::migrate(connection, 3) : base::Status();
    if (!connection.ok() || !migrated) {
      std::fprintf(stderr, "cannot prepare %s: %s %s\n", url.c_str(), connection.error().c_str(),
                   migrated ? "" : sink::describe(migrated.error()).c_str());
      return 1;
    }
  }
  // Interleaved rounds with fresh ids, medians reported: other load on the machine hits
  // both measurements alike.
  std::vector<double> raw_rates, sink_rates;
  size_t payload_size = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<capture::Record> records;
    records.reserve(size_t(args.rows));
    for (int i = 0; i < args.rows; ++i) records.push_back(make_record(i));
    payload_size = records[0].payload->size();
    raw_rates.push_back(raw_copy_rows_per_second(args, records));
    sink_rates.push_back(sink_rows_per_second(args, records));
    std::printf("  round %d: psql \\copy %.0f rows/s, sink %.0f rows/s\n", round + 1,
                raw_rates.back(), sink_rates.back());
  }
  const double raw = median(raw_rates);
  const double sink_rate = median(sink_rates);
  std::printf("\n%d rows a round, payload %zu bytes, median of %d rounds\n", args.rows,
              payload_size, kRounds);
  std::printf("\n| measurement | rows/s | ratio |\n|---|---:|---:|\n");
  std::printf("| psql \\copy (raw limit) | %.0f | 1.00 |\n", raw);
  std::printf("| mcptap sink (consume -> committed) | %.0f | %.2f |\n", sink_rate, sink_rate / raw);
  if (args.outage_s > 0) {
    DrainResult drain = outage_drain(args);
    std::printf(
        "\n| outage | input rows/s | backlog rows | drain time s | drain rows/s | drain/input |\n");
    std::printf("|---|---:|---:|---:|---:|---:|\n");
    std::printf("| %d s | %d | %llu | %.2f | %.0f | %.1fx |\n", args.outage_s, args.input_rate,
                static_cast<unsigned long long>(drain.backlog), drain.drain_s, drain.drain_rate,
                drain.drain_rate / args.input_rate);
  }
  std::filesystem::remove_all(args.work_dir);
  return 0;
}

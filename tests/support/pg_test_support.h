// Tests against the throwaway PostgreSQL cluster: its URL, unique names, records, queries.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "base/clock.h"
#include "capture/record.h"
#include "sink/pg_connection.h"

namespace mcptap::test_support {

using sink::PgConnection;
using sink::PgResult;

// The URL the ctest fixture (tests/support/pg_cluster.py) wrote; empty when it is missing.
inline std::string test_pg_url() {
  std::ifstream file(MCPTAP_PG_URL_FILE);
  std::string url;
  std::getline(file, url);
  return url;
}

// Names that keep concurrently running tests out of each other's rows.
inline std::string unique_name(const std::string& prefix) {
  static std::mt19937_64 random{std::random_device{}()};
  char suffix[20];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(random()));
  return prefix + "_" + suffix;
}

inline int64_t now_unix_us() {
  return base::unix_now_us();
}

constexpr int64_t kMicrosPerDay = int64_t{86'400} * 1'000'000;

inline capture::Record make_record(const std::string& route, int sequence,
                                   int64_t captured_at_us = now_unix_us()) {
  capture::Record record;
  record.id = base::Uuid::v7();
  record.captured_at_us = captured_at_us;
  record.route = route;
  record.connection_id = route + "-conn";
  record.session_id = route + "-session";
  record.transport = capture::Transport::WebSocket;
  record.direction = capture::Direction::ClientToServer;
  record.kind = capture::Kind::Request;
  record.jsonrpc_id = std::to_string(sequence);
  record.method = "tools/call";
  record.payload =
      R"({"jsonrpc":"2.0","id":)" + std::to_string(sequence) + R"(,"method":"tools/call"})";
  record.payload_bytes = static_cast<int64_t>(record.payload->size());
  return record;
}

// A connection to the test cluster; fails the test when there is none.
inline PgConnection connect_or_fail() {
  std::string url = test_pg_url();
  EXPECT_FALSE(url.empty()) << "no test cluster URL in " << MCPTAP_PG_URL_FILE
                            << ": run through ctest (fixture postgres)";
  PgConnection connection(url);
  EXPECT_TRUE(connection.ok()) << connection.error();
  return connection;
}

// The first column of every row, as text ("<null>" for null).
inline std::vector<std::string> column(PgConnection& connection, const std::string& sql,
                                       const std::vector<std::string>& params = {}) {
  auto result = connection.run(sql, params);
  EXPECT_TRUE(result && PQresultStatus(result->get()) == PGRES_TUPLES_OK)
      << sql << ": " << (result ? "" : result.error().message);
  std::vector<std::string> values;
  if (!result || PQresultStatus(result->get()) != PGRES_TUPLES_OK) return values;
  for (int row = 0; row < PQntuples(result->get()); ++row) {
    values.emplace_back(PQgetisnull(result->get(), row, 0) ? "<null>"
                                                           : PQgetvalue(result->get(), row, 0));
  }
  return values;
}

inline std::string scalar(PgConnection& connection, const std::string& sql,
                          const std::vector<std::string>& params = {}) {
  std::vector<std::string> values = column(connection, sql, params);
  EXPECT_EQ(values.size(), 1u) << sql;
  return values.empty() ? "" : values.front();
}

inline int64_t count_rows(PgConnection& connection, const std::string& route) {
  return std::stoll(
      scalar(connection, "SELECT count(*) FROM mcptap.messages WHERE route = $1", {route}));
}

}  // namespace mcptap::test_support

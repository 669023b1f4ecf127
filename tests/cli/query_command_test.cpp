// Tests for cli/query_command and cli/diff_command against the throwaway PostgreSQL cluster.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/client_commands.h"
#include "cli/trace.h"
#include "sink/pg_connection.h"
#include "sink/record_columns.h"
#include "sink/schema.h"

namespace mcptap::cli {
namespace {

std::string test_pg_url() {
  std::ifstream file(MCPTAP_PG_URL_FILE);
  std::string url;
  std::getline(file, url);
  return url;
}

// Tests run in parallel against one database; each keeps to its own route.
std::string unique_route(const std::string& prefix) {
  static std::mt19937_64 random{std::random_device{}()};
  return prefix + "_" + std::to_string(random() % 1'000'000'000'000ULL);
}

constexpr int64_t kMicrosPerSecond = 1'000'000;

struct Message {
  std::string kind;            // request, response, error, notification
  std::string direction;       // client_to_server, server_to_client
  std::string jsonrpc_id;      // "" for NULL
  std::string method;          // "" for NULL
  std::string correlation_id;  // "" for NULL
  std::string latency_us;      // "" for NULL
  std::string payload = "{}";  // JSON text
  int64_t seconds_ago = 0;     // captured_at = now() - this
  std::string session = "s1";
  std::string meta = "{}";  // JSON text
};

class QueryCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string url = test_pg_url();
    ASSERT_FALSE(url.empty()) << "no test cluster URL in " << MCPTAP_PG_URL_FILE
                              << ": run through ctest (fixture postgres)";
    connection_ = std::make_unique<sink::PgConnection>(url);
    ASSERT_TRUE(connection_->ok()) << connection_->error();
    base::Status migrated = sink::migrate(*connection_, 3);
    ASSERT_TRUE(migrated) << sink::describe(migrated.error());
    // Rows a few days old need the partitions of those days.
    auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    for (int days_ago = 1; days_ago <= 3; ++days_ago) {
      base::Status made =
          sink::ensure_partition_for(*connection_, now_us - days_ago * 86400 * kMicrosPerSecond);
      ASSERT_TRUE(made) << sink::describe(made.error());
    }
    route_ = unique_route("query_test");
  }

  // Inserts one row and returns its id.
  std::string insert(const Message& message) {
    auto result = connection_->run(
        "INSERT INTO mcptap.messages (id, captured_at, route, connection_id, session_id,"
        " transport, direction, kind, jsonrpc_id, method, correlation_id, latency_us, payload,"
        " payload_bytes, meta)"
        " VALUES (gen_random_uuid(), now() - $1::bigint * interval '1 second', $2, 'c1', $3,"
        " 'websocket', $4, $5, NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, '')::uuid,"
        " NULLIF($9, '')::bigint, $10::jsonb, $11::integer, $12::jsonb)"
        " RETURNING id::text",
        {std::to_string(message.seconds_ago), route_, message.session, message.direction,
         message.kind, message.jsonrpc_id, message.method, message.correlation_id,
         message.latency_us, message.payload, std::to_string(message.payload.size()), message.meta},
        sink::ErrorText::Full);
    EXPECT_TRUE(result) << result.error().message;
    return result && PQntuples(result->get()) == 1 ? PQgetvalue(result->get(), 0, 0) : "";
  }

  std::string new_uuid() {
    auto result = connection_->run("SELECT gen_random_uuid()::text");
    EXPECT_TRUE(result) << result.error().message;
    return result ? PQgetvalue(result->get(), 0, 0) : "";
  }

  // A request at seconds_ago and its reply one second later.
  void insert_exchange(const std::string& id, const std::string& method, int64_t seconds_ago,
                       const std::string& reply_kind = "response",
                       const std::string& reply_payload = "{}") {
    std::string correlation = new_uuid();
    insert({"request", "client_to_server", id, method, correlation, "", "{}", seconds_ago});
    insert({reply_kind, "server_to_client", id, method, correlation, "12345", reply_payload,
            seconds_ago - 1});
  }

  // The test's own rows, narrowed further by edit.
  template <typename Edit>
  std::vector<MessageRow> fetch_where(Edit edit, bool with_payloads = false) {
    MessageFilter filter;
    filter.route = route_;
    edit(filter);
    return fetch_messages(*connection_, filter, with_payloads);
  }

  std::unique_ptr<sink::PgConnection> connection_;
  std::string route_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(QueryCommandTest, TimelinePutsEachReplyRightUnderItsRequest) {
  // Two requests in flight at once: their replies arrive after both requests.
  std::string first = new_uuid();
  std::string second = new_uuid();
  insert({"request", "client_to_server", "1", "tools/call", first, "", "{}", 50});
  insert({"request", "client_to_server", "2", "tools/list", second, "", "{}", 49});
  insert({"notification", "server_to_client", "", "notifications/message", "", "", "{}", 48});
  insert({"error", "server_to_client", "2", "tools/list", second, "2100",
          R"({"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found"}})", 47});
  insert({"response", "server_to_client", "1", "tools/call", first, "12345", "{}", 46});

  std::vector<MessageRow> rows = fetch_where([](MessageFilter&) {});
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows.front().jsonrpc_id, "1");  // oldest first
  std::vector<std::string> lines = lines_of(format_timeline(rows));
  ASSERT_EQ(lines.size(), 5u) << format_timeline(rows);
  EXPECT_TRUE(contains(lines[0], "→") && contains(lines[0], "request") &&
              contains(lines[0], "tools/call") && contains(lines[0], "id=1"))
      << lines[0];
  EXPECT_EQ(lines[1].rfind("  ↳ ", 0), 0u) << lines[1];
  EXPECT_TRUE(contains(lines[1], "← ") && contains(lines[1], "response") &&
              contains(lines[1], "id=1") && contains(lines[1], "12.3 ms"))
      << lines[1];
  EXPECT_TRUE(contains(lines[2], "request") && contains(lines[2], "id=2")) << lines[2];
  EXPECT_EQ(lines[3].rfind("  ↳ ", 0), 0u) << lines[3];
  EXPECT_TRUE(contains(lines[3], "error") && contains(lines[3], "2.10 ms") &&
              contains(lines[3], "error: -32601 Method not found"))
      << lines[3];
  EXPECT_TRUE(contains(lines[4], "notification") && contains(lines[4], "notifications/message"))
      << lines[4];
  EXPECT_NE(lines[4].rfind("  ↳ ", 0), 0u);
}

TEST_F(QueryCommandTest, AReplyWhoseRequestIsNotInTheResultStandsAlone) {
  // Its request was never captured (capture was switched on in between, say).
  std::string correlation = new_uuid();
  insert({"response", "server_to_client", "7", "tools/call", correlation, "12345", "{}", 30});
  std::vector<MessageRow> rows = fetch_where([&](MessageFilter& f) { f.limit = 1; });
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].kind, "response");
  std::string timeline = format_timeline(rows);
  EXPECT_NE(timeline.rfind("  ↳ ", 0), 0u) << timeline;
  EXPECT_TRUE(contains(timeline, "12.3 ms")) << timeline;
}

TEST_F(QueryCommandTest, ProgressAndCancelNotificationsGoUnderTheirRequestBeforeTheAnswer) {
  std::string call = new_uuid();
  std::string other = new_uuid();
  insert({"request", "client_to_server", "1", "tools/call", call, "", "{}", 50});
  insert({"request", "client_to_server", "2", "tools/call", other, "", "{}", 49});
  insert({"notification", "server_to_client", "", "notifications/progress", call, "", "{}", 48});
  insert({"notification", "server_to_client", "", "notifications/message", "", "", "{}", 47});
  insert({"notification", "client_to_server", "", "notifications/cancelled", other, "", "{}", 46});
  insert({"notification", "server_to_client", "", "notifications/progress", call, "", "{}", 45});
  insert({"response", "server_to_client", "1", "tools/call", call, "9000", "{}", 44});

  std::vector<MessageRow> rows = fetch_where([](MessageFilter&) {});
  ASSERT_EQ(rows.size(), 7u);
  std::string timeline = format_timeline(rows);
  std::vector<std::string> lines = lines_of(timeline);
  ASSERT_EQ(lines.size(), 7u) << timeline;
  EXPECT_TRUE(contains(lines[0], "request") && contains(lines[0], "id=1")) << timeline;
  for (int i : {1, 2}) {
    EXPECT_EQ(lines[i].rfind("  ↳ ", 0), 0u) << timeline;
    EXPECT_TRUE(contains(lines[i], "notifications/progress")) << timeline;
  }
  EXPECT_EQ(lines[3].rfind("  ↳ ", 0), 0u) << timeline;
  EXPECT_TRUE(contains(lines[3], "response") && contains(lines[3], "9.00 ms")) << timeline;
  EXPECT_TRUE(contains(lines[4], "request") && contains(lines[4], "id=2")) << timeline;
  EXPECT_EQ(lines[5].rfind("  ↳ ", 0), 0u) << timeline;
  EXPECT_TRUE(contains(lines[5], "notifications/cancelled")) << timeline;
  // A notification that refers to no request stays on its own line.
  EXPECT_NE(lines[6].rfind("  ↳ ", 0), 0u) << timeline;
  EXPECT_TRUE(contains(lines[6], "notifications/message")) << timeline;
}

TEST_F(QueryCommandTest, LimitCountsExchangesAndNeverStartsWithAnOrphanAnswer) {
  // Three calls, each with a progress notification and an answer, then a lone message.
  std::vector<std::string> calls;
  for (int i = 0; i < 3; ++i) {
    std::string correlation = new_uuid();
    calls.push_back(correlation);
    int64_t at = 100 - 10 * i;
    std::string id = std::to_string(i + 1);
    insert({"request", "client_to_server", id, "tools/call", correlation, "", "{}", at});
    insert({"notification", "server_to_client", "", "notifications/progress", correlation, "", "{}",
            at - 1});
    insert({"response", "server_to_client", id, "tools/call", correlation, "2000", "{}", at - 2});
  }
  insert({"notification", "server_to_client", "", "notifications/message", "", "", "{}", 60});

  std::vector<MessageRow> two = fetch_where([](MessageFilter& f) { f.limit = 2; });
  ASSERT_EQ(two.size(), 4u);  // the last call whole, and the lone notification
  EXPECT_EQ(two[0].kind, "request");
  EXPECT_EQ(two[0].correlation_id, calls[2]);
  EXPECT_EQ(two[3].method, "notifications/message");

  std::vector<MessageRow> three = fetch_where([](MessageFilter& f) { f.limit = 3; });
  ASSERT_EQ(three.size(), 7u);
  EXPECT_EQ(three[0].kind, "request");
  EXPECT_EQ(three[0].correlation_id, calls[1]);
  std::vector<std::string> lines = lines_of(format_timeline(three));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_NE(lines[0].rfind("  ↳ ", 0), 0u) << lines[0];

  // A filter that leaves a call's request out: its first matching row starts the exchange.
  std::vector<MessageRow> progress = fetch_where([](MessageFilter& f) {
    f.method = "notifications/progress";
    f.limit = 2;
  });
  ASSERT_EQ(progress.size(), 2u);
  EXPECT_EQ(progress[0].correlation_id, calls[1]);
  EXPECT_EQ(progress[1].correlation_id, calls[2]);
}

TEST_F(QueryCommandTest, AToolFailureReadsAsOneInTheTimeline) {
  std::string correlation = new_uuid();
  insert({"request", "client_to_server", "5", "tools/call", correlation, "", "{}", 20});
  const std::string long_text =
      R"(the file /srv/data/report.csv could not be opened:\npermission denied for user )"
      R"(\"reports\" in the finance group)";  // JSON text: a line break, quotes
  insert({"response", "server_to_client", "5", "tools/call", correlation, "3000",
          R"({"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"image","data":"x"},)"
          R"({"type":"text","text":")" +
              long_text + R"("}],"isError":true}})",
          19, "s1", R"({"tool_error":true})"});
  // Stored without meta.tool_error (an older capture): the payload still says so.
  insert_exchange("6", "tools/call", 15, "response",
                  R"({"jsonrpc":"2.0","id":6,"result":{"content":[],"isError":true}})");
  insert_exchange("7", "tools/call", 10, "response",
                  R"({"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"fine"}],)"
                  R"("isError":false}})");

  std::vector<MessageRow> rows = fetch_where([](MessageFilter&) {});
  ASSERT_EQ(rows.size(), 6u);
  std::vector<std::string> lines = lines_of(format_timeline(rows));
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_TRUE(contains(lines[1], "response")) << lines[1];
  const std::string expected_detail =
      "tool error: the file /srv/data/report.csv could not be opened: permissio...";
  EXPECT_EQ(lines[1].substr(lines[1].size() - expected_detail.size()), expected_detail) << lines[1];
  EXPECT_TRUE(lines[3].size() >= 10 && lines[3].substr(lines[3].size() - 10) == "tool error")
      << lines[3];
  EXPECT_FALSE(contains(lines[5], "error")) << lines[5];

  // --json: meta as stored.
  std::vector<MessageRow> with_payloads = fetch_where([](MessageFilter&) {}, true);
  nlohmann::json answer = nlohmann::json::parse(lines_of(format_json_lines(with_payloads))[1]);
  EXPECT_EQ(answer["meta"]["tool_error"], true);
  EXPECT_EQ(answer["payload"]["result"]["isError"], true);
}

TEST_F(QueryCommandTest, LimitKeepsTheNewestInTimeOrder) {
  for (int i = 0; i < 5; ++i) {
    insert(
        {"notification", "client_to_server", "", "n" + std::to_string(i), "", "", "{}", 100 - i});
  }
  std::vector<MessageRow> rows = fetch_where([&](MessageFilter& f) { f.limit = 3; });
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].method, "n2");
  EXPECT_EQ(rows[2].method, "n4");
}

TEST_F(QueryCommandTest, MethodFilterKeepsRequestsWithTheirReplies) {
  insert_exchange("1", "tools/call", 20);
  insert_exchange("2", "resources/read", 18);
  std::vector<MessageRow> rows = fetch_where([&](MessageFilter& f) { f.method = "tools/call"; });
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].kind, "request");
  EXPECT_EQ(rows[1].kind, "response");
  for (const MessageRow& row : rows) EXPECT_EQ(row.method, "tools/call");
}

TEST_F(QueryCommandTest, RouteFilterKeepsOtherRoutesOut) {
  insert_exchange("1", "tools/call", 20);
  std::vector<MessageRow> rows =
      fetch_where([&](MessageFilter& f) { f.route = route_ + "_other"; });
  EXPECT_TRUE(rows.empty());
  EXPECT_EQ(format_timeline(rows), "no messages match\n");
  EXPECT_EQ(fetch_where([](MessageFilter&) {}).size(), 2u);
}

TEST_F(QueryCommandTest, CorrelationFilterFindsOneExchangeAcrossRoutes) {
  std::string correlation = new_uuid();
  insert({"request", "client_to_server", "9", "ping", correlation, "", "{}", 10});
  insert({"response", "server_to_client", "9", "ping", correlation, "800", "{}", 9});
  insert_exchange("10", "ping", 8);
  MessageFilter filter;
  filter.route = "";  // no route: the correlation id alone must narrow it
  filter.correlation_id = correlation;
  std::vector<MessageRow> rows = fetch_messages(*connection_, filter, false);
  ASSERT_EQ(rows.size(), 2u);
  for (const MessageRow& row : rows) EXPECT_EQ(row.correlation_id, correlation);
  EXPECT_TRUE(contains(format_timeline(rows), "0.80 ms"));
}

TEST_F(QueryCommandTest, SinceAndSessionFilters) {
  insert({"notification", "client_to_server", "", "old", "", "", "{}", 2 * 86400});
  insert({"notification", "client_to_server", "", "hour", "", "", "{}", 3600});
  insert({"notification", "client_to_server", "", "recent", "", "", "{}", 60, "s2"});
  std::vector<MessageRow> rows = fetch_where([&](MessageFilter& f) { f.since_seconds = 7200; });
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].method, "hour");
  EXPECT_EQ(rows[1].method, "recent");
  EXPECT_EQ(fetch_where([&](MessageFilter& f) { f.since_seconds = 3 * 86400; }).size(), 3u);
  std::vector<MessageRow> session = fetch_where([&](MessageFilter& f) { f.session_id = "s2"; });
  ASSERT_EQ(session.size(), 1u);
  EXPECT_EQ(session[0].method, "recent");
}

TEST_F(QueryCommandTest, JsonLinesCarryEveryColumn) {
  insert_exchange("\"a\"", "tools/call", 5, "response",
                  R"({"jsonrpc":"2.0","id":"a","result":{}})");
  std::vector<MessageRow> rows = fetch_where([](MessageFilter&) {}, true);
  ASSERT_EQ(rows.size(), 2u);
  std::vector<std::string> lines = lines_of(format_json_lines(rows));
  ASSERT_EQ(lines.size(), 2u);
  nlohmann::json response = nlohmann::json::parse(lines[1]);
  // Every column of the table, in its order.
  nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(lines[1]);
  std::vector<std::string> keys;
  for (auto it = ordered.begin(); it != ordered.end(); ++it) keys.push_back(it.key());
  std::vector<std::string> columns;
  for (const sink::RecordColumn& column : sink::record_columns()) columns.emplace_back(column.name);
  EXPECT_EQ(keys, columns);
  EXPECT_EQ(response["jsonrpc_id"], "\"a\"");
  EXPECT_EQ(response["latency_us"], 12345);
  EXPECT_EQ(response["payload"]["result"], nlohmann::json::object());
  EXPECT_EQ(response["meta"], nlohmann::json::object());
  EXPECT_EQ(response["route"], route_);
  EXPECT_TRUE(is_uuid_text(response["id"].get<std::string>()));
  std::string captured_at = response["captured_at"];
  EXPECT_EQ(captured_at.size(), 27u) << captured_at;  // 2026-11-23T10:00:00.123456Z
  EXPECT_EQ(captured_at.back(), 'Z');
}

TEST_F(QueryCommandTest, DiffComparesTwoStoredPayloads) {
  std::string first = insert({"request", "client_to_server", "1", "tools/call", "", "",
                              R"({"params":{"arguments":{"text":"a","old":true},"n":[1]}})"});
  std::string second = insert({"request", "client_to_server", "2", "tools/call", "", "",
                               R"({"params":{"arguments":{"text":"b","extra":1},"n":[1,2]}})"});
  EXPECT_EQ(diff_stored_payloads(*connection_, first, second),
            "+ params.arguments.extra: 1\n"
            "- params.arguments.old: true\n"
            "~ params.arguments.text: \"a\" → \"b\"\n"
            "+ params.n[1]: 2\n");
  EXPECT_EQ(diff_stored_payloads(*connection_, first, first), "identical\n");
}

TEST_F(QueryCommandTest, DiffSaysWhichSideIsAToolError) {
  const std::string failed =
      R"({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"no"}],"isError":true}})";
  const std::string succeeded =
      R"({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}]}})";
  std::string failure = insert({"response", "server_to_client", "1", "tools/call", "", "", failed,
                                0, "s1", R"({"tool_error":true})"});
  std::string success =
      insert({"response", "server_to_client", "1", "tools/call", "", "", succeeded});
  EXPECT_EQ(diff_stored_payloads(*connection_, failure, success),
            "tool error: the first message, not the second\n"
            "~ result.content[0].text: \"no\" → \"ok\"\n"
            "- result.isError: true\n");
  std::string diff = diff_stored_payloads(*connection_, success, failure);
  EXPECT_EQ(diff.substr(0, diff.find('\n')), "tool error: the second message, not the first");
  EXPECT_EQ(diff_stored_payloads(*connection_, failure, failure),
            "tool error: both messages\nidentical\n");
  EXPECT_EQ(diff_stored_payloads(*connection_, success, success), "identical\n");
}

TEST_F(QueryCommandTest, DiffOfAMissingOrMalformedIdIsACommandError) {
  std::string first = insert({"request", "client_to_server", "1", "ping", "", "", "{}"});
  std::string missing = new_uuid();
  try {
    diff_stored_payloads(*connection_, first, missing);
    ADD_FAILURE() << "no error";
  } catch (const CommandError& error) {
    EXPECT_EQ(std::string(error.what()), "no message with id " + missing);
    EXPECT_EQ(error.exit_code(), kExitFailure);
  }
  try {
    diff_stored_payloads(*connection_, first, "not-a-uuid");
    ADD_FAILURE() << "no error";
  } catch (const CommandError& error) {
    EXPECT_EQ(error.exit_code(), kExitUsage);
  }
}

TEST(QueryPieces, ATracedToolFailureSaysSo) {
  Trace trace;
  trace.origin.request.kind = "request";
  trace.origin.request.payload = nlohmann::json::parse(R"({"params":{"name":"read"}})");
  trace.origin.reply = TraceMessage{};
  trace.origin.reply->kind = "response";
  trace.origin.reply->payload =
      nlohmann::json::parse(R"({"result":{"content":[],"isError":true}})");
  std::vector<std::string> lines = lines_of(format_trace(trace));
  ASSERT_GE(lines.size(), 4u);
  EXPECT_TRUE(contains(lines[3], "response") && contains(lines[3], "  tool error")) << lines[3];
  EXPECT_FALSE(contains(lines[1], "tool error")) << lines[1];
  trace.origin.reply->payload = nlohmann::json::parse(R"({"result":{"isError":"yes"}})");
  EXPECT_FALSE(contains(format_trace(trace), "tool error"));
}

// The trace shows some of a row's columns, under the table's names.
TEST(QueryPieces, ATracedMessageShowsColumnsOfTheTable) {
  Trace trace;
  trace.origin.reply = TraceMessage{};
  nlohmann::ordered_json json = trace_as_json(trace);
  for (const char* side : {"request", "reply"}) {
    const nlohmann::ordered_json& message = json["origin"][side];
    ASSERT_TRUE(message.is_object()) << side;
    for (auto it = message.begin(); it != message.end(); ++it) {
      bool is_column = false;
      for (const sink::RecordColumn& column : sink::record_columns()) {
        is_column = is_column || column.name == it.key();
      }
      EXPECT_TRUE(is_column) << it.key() << " is not a column of mcptap.messages";
    }
  }
}

TEST(QueryPieces, DurationsParse) {
  EXPECT_EQ(parse_duration_seconds("30s"), 30);
  EXPECT_EQ(parse_duration_seconds("15m"), 900);
  EXPECT_EQ(parse_duration_seconds("2h"), 7200);
  EXPECT_EQ(parse_duration_seconds("7d"), 7 * 86400);
  EXPECT_EQ(parse_duration_seconds("1h30m"), 5400);
  for (const char* bad : {"", "30", "s", "3x", "-5m", "1.5h", "0s", "1h 30m", "9999999999d"}) {
    EXPECT_EQ(parse_duration_seconds(bad), std::nullopt) << bad;
  }
}

TEST(QueryPieces, UuidText) {
  EXPECT_TRUE(is_uuid_text("0190a3f4-7b1c-7d2e-8f00-123456789abc"));
  EXPECT_TRUE(is_uuid_text("0190A3F4-7B1C-7D2E-8F00-123456789ABC"));
  EXPECT_FALSE(is_uuid_text("0190a3f47b1c7d2e8f00123456789abc"));
  EXPECT_FALSE(is_uuid_text("0190a3f4-7b1c-7d2e-8f00-123456789abg"));
}

}  // namespace
}  // namespace mcptap::cli

// Tests for cli/query_command and cli/diff_command against the throwaway PostgreSQL cluster.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/client_commands.h"
#include "cli/query_timeline.h"
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
  std::string payload = "{}";  // JSON text; "" for NULL
  int64_t seconds_ago = 0;     // captured_at = now() - this
  std::string session = "s1";
  std::string meta = "{}";        // JSON text
  std::string operation_id = "";  // "" for NULL
};

// The operation_id column of schema migration 2, for a database migrated by a build that
// does not add it yet; the same DDL as the migration's, so a no-op once it has run.
constexpr const char* kAddOperationColumn =
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid ="
    " 'mcptap.messages'::regclass AND attname = 'operation_id' AND NOT attisdropped) THEN"
    " ALTER TABLE mcptap.messages ADD COLUMN IF NOT EXISTS operation_id uuid; END IF; END $$";

class QueryCommandTest : public ::testing::Test {
 public:
  void SetUp() override {
    std::string url = test_pg_url();
    ASSERT_FALSE(url.empty()) << "no test cluster URL in " << MCPTAP_PG_URL_FILE
                              << ": run through ctest (fixture postgres)";
    connection_ = std::make_unique<sink::PgConnection>(url);
    ASSERT_TRUE(connection_->ok()) << connection_->error();
    base::Status migrated = sink::migrate(*connection_, 3);
    ASSERT_TRUE(migrated) << sink::describe(migrated.error());
    auto added = connection_->run(kAddOperationColumn, {}, sink::ErrorText::Full);
    ASSERT_TRUE(added) << added.error().message;
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
        " payload_bytes, meta, operation_id)"
        " VALUES (gen_random_uuid(), now() - $1::bigint * interval '1 second', $2, 'c1', $3,"
        " 'websocket', $4, $5, NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, '')::uuid,"
        " NULLIF($9, '')::bigint, NULLIF($10, '')::jsonb, $11::integer, $12::jsonb,"
        " NULLIF($13, '')::uuid)"
        " RETURNING id::text",
        {std::to_string(message.seconds_ago), route_, message.session, message.direction,
         message.kind, message.jsonrpc_id, message.method, message.correlation_id,
         message.latency_us, message.payload, std::to_string(message.payload.size()), message.meta,
         message.operation_id},
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

// ---- Operations: several requests under one operation_id ----

// A tools/call answered input_required twice, then complete: three round trips, the
// retries linked by their request state and by the heuristic. Returns the operation id.
std::string insert_weather_operation(QueryCommandTest& test, int64_t at) {
  std::string op = test.new_uuid();
  std::string second = test.new_uuid();
  std::string third = test.new_uuid();
  const std::string params = R"({"params":{"name":"get_weather"}})";
  test.insert(
      {"request", "client_to_server", "1", "tools/call", op, "", params, at, "s1", "{}", op});
  test.insert({"response", "server_to_client", "1", "tools/call", op, "60000",
               R"({"result":{"resultType":"input_required","inputRequests":{"github_login":)"
               R"({"method":"elicitation/create"}},"requestState":"x"}})",
               at - 1, "s1", R"({"result_type":"input_required"})", op});
  test.insert({"request", "client_to_server", "2", "tools/call", second, "", params, at - 2, "s1",
               R"({"operation_link":"request_state"})", op});
  test.insert({"response", "server_to_client", "2", "tools/call", second, "500000",
               R"({"result":{"resultType":"input_required","inputRequests":)"
               R"({"capital_of_france":{"method":"sampling/createMessage"}}}})",
               at - 3, "s1", R"({"result_type":"input_required"})", op});
  test.insert({"request", "client_to_server", "3", "tools/call", third, "", params, at - 4, "s1",
               R"({"operation_link":"heuristic"})", op});
  test.insert({"response", "server_to_client", "3", "tools/call", third, "1510000",
               R"({"result":{"resultType":"complete","content":[]}})", at - 5, "s1",
               R"({"result_type":"complete","operation":{"round_trips":3,"elapsed_us":2410000,)"
               R"("inputs":[{"key":"github_login","method":"elicitation/create"},)"
               R"({"key":"capital_of_france","method":"sampling/createMessage"}]}})",
               op});
  return op;
}

bool ends_with(const std::string& text, const std::string& end) {
  return text.size() >= end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
}

bool under_something(const std::string& line) {
  return line.rfind("  ↳ ", 0) == 0;
}

TEST_F(QueryCommandTest, AMultiRoundTripOperationPrintsUnderOneHeader) {
  insert_exchange("9", "ping", 80);  // stored before operation ids: no operation_id
  std::string op = insert_weather_operation(*this, 70);
  std::string later = new_uuid();  // a new plain exchange: its own operation
  insert(
      {"request", "client_to_server", "10", "tools/list", later, "", "{}", 20, "s1", "{}", later});
  insert({"response", "server_to_client", "10", "tools/list", later, "900", "{}", 19, "s1", "{}",
          later});

  std::vector<MessageRow> rows = fetch_where([](MessageFilter&) {});
  ASSERT_EQ(rows.size(), 10u);
  EXPECT_EQ(rows[2].operation_id, op);
  EXPECT_EQ(rows[0].operation_id, std::nullopt);
  std::string timeline = format_timeline(rows);
  std::vector<std::string> lines = lines_of(timeline);
  ASSERT_EQ(lines.size(), 11u) << timeline;
  EXPECT_TRUE(contains(lines[0], "request") && contains(lines[0], "ping")) << timeline;
  EXPECT_TRUE(under_something(lines[1]) && contains(lines[1], "ping")) << timeline;
  // The header: where, what, how long in all, and what the server asked along the way.
  const std::string& header = lines[2];
  EXPECT_FALSE(under_something(header)) << timeline;
  EXPECT_TRUE(contains(header, " operation ") && contains(header, "tools/call")) << timeline;
  EXPECT_TRUE(contains(header, "2.41 s")) << timeline;
  EXPECT_TRUE(ends_with(header,
                        "get_weather  3 round trips  asked: github_login (elicitation/create), "
                        "capital_of_france (sampling/createMessage)"))
      << timeline;
  for (size_t i = 3; i <= 8; ++i) EXPECT_TRUE(under_something(lines[i])) << timeline;
  EXPECT_TRUE(contains(lines[3], "request") && contains(lines[3], "id=1") &&
              ends_with(lines[3], "id=1"))
      << timeline;
  EXPECT_TRUE(contains(lines[4], "60.0 ms") && ends_with(lines[4], "input required: github_login"))
      << timeline;
  EXPECT_TRUE(contains(lines[5], "id=2") && ends_with(lines[5], "retry (request_state)"))
      << timeline;
  EXPECT_TRUE(ends_with(lines[6], "input required: capital_of_france")) << timeline;
  EXPECT_TRUE(contains(lines[7], "id=3") && ends_with(lines[7], "retry (heuristic)")) << timeline;
  EXPECT_TRUE(contains(lines[8], "1510 ms") && ends_with(lines[8], "complete")) << timeline;
  EXPECT_TRUE(contains(lines[9], "tools/list") && !under_something(lines[9])) << timeline;
  EXPECT_TRUE(under_something(lines[10])) << timeline;
}

TEST_F(QueryCommandTest, LimitCountsOperations) {
  std::string op = insert_weather_operation(*this, 70);
  insert_exchange("9", "ping", 30);
  // The newest operation alone, then both: never the operation's last exchange alone.
  std::vector<MessageRow> one = fetch_where([](MessageFilter& f) { f.limit = 1; });
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0].method, "ping");
  std::vector<MessageRow> two = fetch_where([](MessageFilter& f) { f.limit = 2; });
  ASSERT_EQ(two.size(), 8u);
  EXPECT_EQ(two[0].kind, "request");
  EXPECT_EQ(two[0].jsonrpc_id, "1");
  EXPECT_EQ(two[0].operation_id, op);
  // A filter that leaves the first requests out: the first matching row starts it.
  std::vector<MessageRow> retries = fetch_where([](MessageFilter& f) {
    f.limit = 1;
    f.method = "tools/call";
  });
  EXPECT_EQ(retries.size(), 6u);
}

TEST_F(QueryCommandTest, OperationFilterFindsItsRowsAndThoseOfAnOlderExchange) {
  std::string op = insert_weather_operation(*this, 70);
  insert_weather_operation(*this, 60);
  std::string old = new_uuid();  // a row stored before operation ids: its exchange
  insert({"request", "client_to_server", "5", "ping", old, "", "{}", 50});
  insert({"response", "server_to_client", "5", "ping", old, "800", "{}", 49});
  // Another operation's row that has this correlation id is not of this operation.
  insert({"notification", "server_to_client", "", "notifications/progress", old, "", "{}", 48, "s1",
          "{}", new_uuid()});

  MessageFilter filter;  // no route: the operation id alone narrows it
  filter.operation_id = op;
  std::vector<MessageRow> rows = fetch_messages(*connection_, filter, false);
  ASSERT_EQ(rows.size(), 6u);
  for (const MessageRow& row : rows) EXPECT_EQ(row.operation_id, op);
  EXPECT_EQ(rows.front().jsonrpc_id, "1");  // oldest first
  EXPECT_EQ(rows.back().jsonrpc_id, "3");
  EXPECT_TRUE(contains(lines_of(format_timeline(rows))[0], "3 round trips"));

  filter.operation_id = old;
  rows = fetch_messages(*connection_, filter, false);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].kind, "request");
  EXPECT_EQ(rows[1].kind, "response");
  EXPECT_EQ(rows[1].operation_id, std::nullopt);
}

TEST_F(QueryCommandTest, ATaskOperationShowsItsTaskAndPolls) {
  const std::string task = "786512e2-5a1c-4c55-a0d4-d2b4c1f00b2e";
  std::string op = new_uuid();
  std::string poll = new_uuid();
  std::string last = new_uuid();
  insert({"request", "client_to_server", "1", "tools/call", op, "",
          R"({"params":{"name":"long_job"}})", 60, "s1", "{}", op});
  insert({"response", "server_to_client", "1", "tools/call", op, "4000",
          R"({"result":{"resultType":"task","taskId":")" + task + R"(","status":"working"}})", 59,
          "s1", R"({"result_type":"task"})", op});
  insert({"request", "client_to_server", "2", "tasks/get", poll, "",
          R"({"params":{"taskId":")" + task + R"("}})", 58, "s1", R"({"operation_link":"task"})",
          op});
  insert({"response", "server_to_client", "2", "tasks/get", poll, "2000",
          R"({"result":{"resultType":"complete","taskId":")" + task + R"(","status":"working"}})",
          57, "s1", R"({"result_type":"complete"})", op});
  insert({"notification", "server_to_client", "", "notifications/tasks", "", "",
          R"({"params":{"taskId":")" + task + R"(","status":"completed"}})", 56, "s1",
          R"({"operation_link":"task"})", op});
  insert({"request", "client_to_server", "3", "tasks/get", last, "",
          R"({"params":{"taskId":")" + task + R"("}})", 55, "s1", R"({"operation_link":"task"})",
          op});
  insert({"response", "server_to_client", "3", "tasks/get", last, "2000",
          R"({"result":{"resultType":"complete","taskId":")" + task + R"(","status":"completed"}})",
          54, "s1",
          R"({"result_type":"complete","operation":{"round_trips":3,"elapsed_us":6002000,)"
          R"("inputs":[]}})",
          op});

  std::vector<MessageRow> rows = fetch_where([](MessageFilter&) {});
  ASSERT_EQ(rows.size(), 7u);
  std::string timeline = format_timeline(rows);
  std::vector<std::string> lines = lines_of(timeline);
  ASSERT_EQ(lines.size(), 8u) << timeline;
  EXPECT_TRUE(contains(lines[0], "6.00 s") &&
              ends_with(lines[0], "long_job  3 round trips  task 786512e2…"))
      << timeline;
  EXPECT_TRUE(ends_with(lines[2], "4.00 ms  task 786512e2…")) << timeline;
  EXPECT_TRUE(contains(lines[3], "tasks/get") && ends_with(lines[3], "task 786512e2…")) << timeline;
  // A poll's answer says nothing more: only the final one is the operation's.
  EXPECT_TRUE(ends_with(lines[4], "2.00 ms")) << timeline;
  // The task's notification is the operation's, at its time.
  EXPECT_TRUE(under_something(lines[5]) && contains(lines[5], "notifications/tasks") &&
              ends_with(lines[5], "task 786512e2…"))
      << timeline;
  EXPECT_TRUE(ends_with(lines[7], "2.00 ms  complete")) << timeline;

  // Still running: the header counts what the rows show, its time up to the last one.
  rows.pop_back();
  lines = lines_of(format_timeline(rows));
  // (Each row's time is now() less its age when inserted: a few ms more between them.)
  EXPECT_TRUE(contains(lines[0], "  5.0") &&
              ends_with(lines[0], "long_job  3 round trips  task 786512e2…"))
      << lines[0];
}

TEST_F(QueryCommandTest, HttpErrorAnswersAndHeaderChecksSaySo) {
  // A 401 page from an auth layer: kind error, no payload, the start of the body in meta.
  std::string refused = new_uuid();
  insert({"request", "client_to_server", "1", "tools/call", refused, "", "{}", 40});
  insert({"error", "server_to_client", "1", "tools/call", refused, "3000", "", 39, "s1",
          R"({"http":{"status":401,"body_excerpt":"<html>\r\n<head><title>401 Authorization )"
          R"(Required</title>\u001b[2J</head><body>nginx</body></html>"}})"});
  // A JSON-RPC error the server named, to a request whose headers disagreed with its body.
  std::string mismatch = new_uuid();
  insert({"request", "client_to_server", "2", "tools/call", mismatch, "", "{}", 30, "s1",
          R"({"header_mismatch":[{"header":"mcp-name","reason":"differs"},)"
          R"({"header":"mcp-method","reason":"missing"}]})"});
  insert({"error", "server_to_client", "2", "tools/call", mismatch, "1000",
          R"({"error":{"code":-32020,"message":"Header mismatch: Mcp-Name"}})", 29, "s1",
          R"({"error_name":"HeaderMismatch","http":{"status":400}})"});
  // An HTTP answer that is fine says nothing of its status.
  insert({"response", "server_to_client", "3", "ping", "", "", "{}", 20, "s1",
          R"({"http":{"status":200}})"});

  std::vector<std::string> lines = lines_of(format_timeline(fetch_where([](MessageFilter&) {})));
  ASSERT_EQ(lines.size(), 5u);
  // Cut to 60 characters, on one line, the escape written out.
  EXPECT_TRUE(ends_with(lines[1],
                        "3.00 ms  HTTP 401: <html> <head><title>401 Authorization "
                        R"(Required</title>\x1b[2J</...)"))
      << lines[1];
  EXPECT_TRUE(contains(lines[2], "id=2 ") &&
              ends_with(lines[2], "  header mismatch: mcp-name, mcp-method"))
      << lines[2];
  EXPECT_TRUE(ends_with(lines[3], "error: -32020 HeaderMismatch Header mismatch: Mcp-Name"))
      << lines[3];
  EXPECT_TRUE(ends_with(lines[4], "id=3")) << lines[4];
}

TEST_F(QueryCommandTest, AnOperationOfOneExchangePrintsAsAnExchange) {
  std::string call = new_uuid();
  insert({"request", "client_to_server", "1", "tools/call", call, "",
          R"({"params":{"name":"echo"}})", 30, "s1", "{}", call});
  insert({"notification", "server_to_client", "", "notifications/progress", call, "", "{}", 29,
          "s1", "{}", call});
  insert({"response", "server_to_client", "1", "tools/call", call, "2000",
          R"({"result":{"resultType":"complete"}})", 28, "s1", R"({"result_type":"complete"})",
          call});
  std::vector<MessageRow> rows = fetch_where([](MessageFilter&) {});
  ASSERT_EQ(rows.size(), 3u);
  std::string timeline = format_timeline(rows);
  // The same rows stored without operation ids print byte for byte the same.
  std::vector<MessageRow> stored_before = rows;
  for (MessageRow& row : stored_before) row.operation_id.reset();
  EXPECT_EQ(format_timeline(stored_before), timeline);
  std::vector<std::string> lines = lines_of(timeline);
  ASSERT_EQ(lines.size(), 3u) << timeline;
  EXPECT_FALSE(contains(timeline, "operation")) << timeline;
  EXPECT_TRUE(ends_with(lines[0], "id=1")) << timeline;
  EXPECT_TRUE(under_something(lines[1]) && ends_with(lines[1], "notifications/progress"))
      << timeline;
  EXPECT_TRUE(under_something(lines[2]) && ends_with(lines[2], "2.00 ms")) << timeline;
}

TEST_F(QueryCommandTest, ASubscriptionsNotificationsGoUnderItsListenRequest) {
  std::string listen = new_uuid();
  insert({"request", "client_to_server", "7", "subscriptions/listen", listen, "", "{}", 30, "s1",
          "{}", listen});
  for (int i = 0; i < 2; ++i) {
    insert({"notification", "server_to_client", "", "notifications/tools/list_changed", "", "",
            "{}", 29 - i, "s1", R"({"operation_link":"subscription"})", listen});
  }
  insert({"notification", "server_to_client", "", "notifications/message", "", "", "{}", 26});
  std::vector<std::string> lines = lines_of(format_timeline(fetch_where([](MessageFilter&) {})));
  ASSERT_EQ(lines.size(), 4u);
  for (int i : {1, 2}) {
    EXPECT_TRUE(under_something(lines[i]) && ends_with(lines[i], "subscription")) << lines[i];
  }
  EXPECT_FALSE(under_something(lines[3])) << lines[3];
}

TEST_F(QueryCommandTest, AnOperationStillRunningNamesAFewOfTheInputsAsked) {
  std::string op = new_uuid();
  std::string retry = new_uuid();
  std::string requests = "{";
  for (int i = 0; i < 20; ++i) requests += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":{}";
  requests += "}";
  insert({"request", "client_to_server", "1", "prompts/get", op, "",
          R"({"params":{"name":"p\u001b[2J"}})", 30, "s1", "{}", op});
  insert({"response", "server_to_client", "1", "prompts/get", op, "1000",
          R"({"result":{"resultType":"input_required","inputRequests":)" + requests + "}}", 29,
          "s1", R"({"result_type":"input_required"})", op});
  insert({"request", "client_to_server", "2", "prompts/get", retry, "", "{}", 28, "s1",
          R"({"operation_link":"heuristic"})", op});
  std::string timeline = format_timeline(fetch_where([](MessageFilter&) {}));
  std::vector<std::string> lines = lines_of(timeline);
  ASSERT_EQ(lines.size(), 4u) << timeline;
  // No final answer yet: two requests so far, the keys of the answers, cut; the name as
  // captured, written out.
  EXPECT_TRUE(ends_with(lines[0], R"(p\x1b[2J  2 round trips  asked: k0, k1, k2, k3, k4, k5, )"
                                  "k6, k7, …"))
      << timeline;
  EXPECT_TRUE(ends_with(lines[2],
                        "input required: k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, "
                        "k11, k12, k13, k14, k15, …"))
      << timeline;
}

TEST_F(QueryCommandTest, JsonLinesCarryTheOperationId) {
  insert_exchange("1", "ping", 30);  // stored before operation ids
  std::string op = insert_weather_operation(*this, 20);
  std::vector<std::string> lines =
      lines_of(format_json_lines(fetch_where([](MessageFilter&) {}, true)));
  ASSERT_EQ(lines.size(), 8u);
  nlohmann::json old = nlohmann::json::parse(lines[0]);
  ASSERT_TRUE(old.contains("operation_id"));
  EXPECT_TRUE(old["operation_id"].is_null());
  for (size_t i = 2; i < lines.size(); ++i) {
    EXPECT_EQ(nlohmann::json::parse(lines[i])["operation_id"], op) << lines[i];
  }
}

// `mcptap query --operation ID` itself: the command prints the operation's timeline, and
// refuses an id that is no UUID before it connects.
TEST_F(QueryCommandTest, QueryCommandPrintsOneOperation) {
  std::string op = insert_weather_operation(*this, 40);
  insert_exchange("9", "ping", 30);
  QueryArgs args;
  args.pg_url = test_pg_url();
  args.operation_id = op;
  testing::internal::CaptureStdout();
  int status = query_command(args);
  std::fflush(stdout);
  std::string output = testing::internal::GetCapturedStdout();
  EXPECT_EQ(status, kExitOk);
  std::vector<std::string> lines = lines_of(output);
  ASSERT_EQ(lines.size(), 7u) << output;
  EXPECT_TRUE(contains(lines[0], "3 round trips")) << output;
  EXPECT_FALSE(contains(output, "ping")) << output;

  args.json = true;
  testing::internal::CaptureStdout();
  EXPECT_EQ(query_command(args), kExitOk);
  std::fflush(stdout);
  lines = lines_of(testing::internal::GetCapturedStdout());
  ASSERT_EQ(lines.size(), 6u);
  for (const std::string& line : lines) EXPECT_EQ(nlohmann::json::parse(line)["operation_id"], op);

  args.json = false;
  args.operation_id = "not-a-uuid";
  testing::internal::CaptureStderr();
  EXPECT_EQ(query_command(args), kExitUsage);
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "mcptap: query: --operation: expected a UUID, got \"not-a-uuid\"\n");
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

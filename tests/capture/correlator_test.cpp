// Tests for request/response correlation (capture/correlator.cpp).
#include "capture/correlator.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/set_and_equal.h"

namespace mcptap::capture {
namespace {

constexpr Direction kUp = Direction::ClientToServer;
constexpr Direction kDown = Direction::ServerToClient;

ClassifiedMessage request(std::string id_text, std::string method,
                          std::optional<std::string> progress_token = std::nullopt) {
  ClassifiedMessage message;
  message.kind = Kind::Request;
  message.id_text = std::move(id_text);
  message.method = std::move(method);
  message.progress_token = std::move(progress_token);
  return message;
}

ClassifiedMessage response(std::string id_text) {
  ClassifiedMessage message;
  message.kind = Kind::Response;
  message.id_text = std::move(id_text);
  return message;
}

ClassifiedMessage error_reply(std::string id_text) {
  ClassifiedMessage message = response(std::move(id_text));
  message.kind = Kind::Error;
  return message;
}

ClassifiedMessage progress(std::string token) {
  ClassifiedMessage message;
  message.kind = Kind::Notification;
  message.method = "notifications/progress";
  message.progress_token = std::move(token);
  return message;
}

ClassifiedMessage cancellation(std::string request_id) {
  ClassifiedMessage message;
  message.kind = Kind::Notification;
  message.method = "notifications/cancelled";
  message.cancelled_request_id = std::move(request_id);
  return message;
}

void expect_unpaired(const Correlation& correlation) {
  EXPECT_FALSE(correlation.correlation_id);
  EXPECT_FALSE(correlation.method);
  EXPECT_FALSE(correlation.latency_us);
}

TEST(Correlator, RequestGetsFreshIdAndItsOwnMethod) {
  Correlator correlator;
  Correlation first = correlator.observe("s", kUp, request("1", "tools/list"), 100);
  Correlation second = correlator.observe("s", kUp, request("2", "tools/list"), 100);
  ASSERT_TRUE(first.correlation_id && second.correlation_id);
  EXPECT_NE(*first.correlation_id, *second.correlation_id);
  EXPECT_EQ(first.method, "tools/list");
  EXPECT_FALSE(first.latency_us);
  EXPECT_EQ(correlator.pending_requests(), 2u);
}

TEST(Correlator, ResponsePairsWithRequestAndMeasuresLatency) {
  Correlator correlator;
  Correlation sent = correlator.observe("s", kUp, request("1", "initialize"), 1'000'000);
  Correlation answer = correlator.observe("s", kDown, response("1"), 1'002'500);
  EXPECT_SET_AND_EQ(answer.correlation_id, sent.correlation_id);
  EXPECT_EQ(answer.method, "initialize");
  EXPECT_EQ(answer.latency_us, 2'500);
  EXPECT_EQ(correlator.pending_requests(), 0u);
  // Answered once: a second response with the same id has nothing left to pair with.
  expect_unpaired(correlator.observe("s", kDown, response("1"), 1'003'000));
}

TEST(Correlator, ErrorPairsLikeAResponse) {
  Correlator correlator;
  Correlation sent = correlator.observe("s", kUp, request("9", "tools/call"), 10);
  Correlation failure = correlator.observe("s", kDown, error_reply("9"), 40);
  EXPECT_SET_AND_EQ(failure.correlation_id, sent.correlation_id);
  EXPECT_EQ(failure.method, "tools/call");
  EXPECT_EQ(failure.latency_us, 30);
  EXPECT_EQ(correlator.pending_requests(), 0u);
}

TEST(Correlator, LatencyNeverNegativeWhenClockStepsBack) {
  Correlator correlator;
  correlator.observe("s", kUp, request("1", "ping"), 5'000);
  EXPECT_EQ(correlator.observe("s", kDown, response("1"), 4'000).latency_us, 0);
}

TEST(Correlator, ReusedIdThreeInFlightAnsweredOldestFirst) {
  // The relay sends every tools/call with id 3.
  Correlator correlator;
  std::vector<Correlation> sent;
  for (int i = 0; i < 3; ++i) {
    sent.push_back(correlator.observe("s", kUp, request("3", "tools/call"), 1'000 * (i + 1)));
  }
  EXPECT_EQ(correlator.pending_requests(), 3u);
  for (int i = 0; i < 3; ++i) {
    Correlation answer = correlator.observe("s", kDown, response("3"), 10'000);
    EXPECT_SET_AND_EQ(answer.correlation_id, sent[i].correlation_id) << i;
    EXPECT_EQ(answer.latency_us, 10'000 - 1'000 * (i + 1)) << i;
  }
  EXPECT_EQ(correlator.pending_requests(), 0u);
}

TEST(Correlator, NumberAndStringIdsDoNotPair) {
  Correlator correlator;
  correlator.observe("s", kUp, request("1", "ping"), 0);
  expect_unpaired(correlator.observe("s", kDown, response("\"1\""), 1));
  EXPECT_TRUE(correlator.observe("s", kDown, response("1"), 1).correlation_id);
}

TEST(Correlator, TwoIdsInterleaved) {
  Correlator correlator;
  Correlation a1 = correlator.observe("s", kUp, request("3", "tools/call"), 0);
  Correlation b1 = correlator.observe("s", kUp, request("4", "resources/read"), 1);
  Correlation a2 = correlator.observe("s", kUp, request("3", "tools/call"), 2);
  Correlation b2 = correlator.observe("s", kUp, request("4", "resources/read"), 3);

  Correlation answer_b1 = correlator.observe("s", kDown, response("4"), 10);
  EXPECT_SET_AND_EQ(answer_b1.correlation_id, b1.correlation_id);
  EXPECT_EQ(answer_b1.method, "resources/read");
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("3"), 11).correlation_id,
                    a1.correlation_id);
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, error_reply("3"), 12).correlation_id,
                    a2.correlation_id);
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("4"), 13).correlation_id,
                    b2.correlation_id);
  EXPECT_EQ(correlator.pending_requests(), 0u);
}

TEST(Correlator, ResponseInSameDirectionAsRequestIsNotPaired) {
  Correlator correlator;
  Correlation sent = correlator.observe("s", kUp, request("1", "tools/list"), 0);
  expect_unpaired(correlator.observe("s", kUp, response("1"), 5));
  EXPECT_EQ(correlator.pending_requests(), 1u);
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("1"), 6).correlation_id,
                    sent.correlation_id);
}

TEST(Correlator, ResponseWithoutRequestIsNotPaired) {
  Correlator correlator;
  expect_unpaired(correlator.observe("s", kDown, response("1"), 0));
  expect_unpaired(correlator.observe("s", kDown, error_reply("null"), 0));
}

TEST(Correlator, ServerToClientRequestsPairTheOtherWay) {
  Correlator correlator;
  // The server asks the client while the client's own id 1 is pending: same id, other way.
  Correlation client_call = correlator.observe("s", kUp, request("1", "tools/call"), 0);
  Correlation sampling = correlator.observe("s", kDown, request("1", "sampling/createMessage"), 5);
  Correlation roots = correlator.observe("s", kDown, request("2", "roots/list"), 6);

  Correlation sampling_answer = correlator.observe("s", kUp, response("1"), 25);
  EXPECT_SET_AND_EQ(sampling_answer.correlation_id, sampling.correlation_id);
  EXPECT_EQ(sampling_answer.method, "sampling/createMessage");
  EXPECT_EQ(sampling_answer.latency_us, 20);
  Correlation roots_answer = correlator.observe("s", kUp, error_reply("2"), 30);
  EXPECT_SET_AND_EQ(roots_answer.correlation_id, roots.correlation_id);
  EXPECT_EQ(roots_answer.method, "roots/list");

  Correlation call_answer = correlator.observe("s", kDown, response("1"), 40);
  EXPECT_SET_AND_EQ(call_answer.correlation_id, client_call.correlation_id);
  EXPECT_EQ(call_answer.method, "tools/call");
}

TEST(Correlator, ElicitationFromServerPairs) {
  Correlator correlator;
  Correlation asked = correlator.observe("s", kDown, request("\"e1\"", "elicitation/create"), 0);
  Correlation answered = correlator.observe("s", kUp, response("\"e1\""), 7);
  EXPECT_SET_AND_EQ(answered.correlation_id, asked.correlation_id);
  EXPECT_EQ(answered.method, "elicitation/create");
}

TEST(Correlator, ProgressJoinsItsRequestUntilItCompletes) {
  Correlator correlator;
  Correlation call = correlator.observe("s", kUp, request("3", "tools/call", "\"tok\""), 0);
  Correlation first = correlator.observe("s", kDown, progress("\"tok\""), 1);
  Correlation second = correlator.observe("s", kDown, progress("\"tok\""), 2);
  EXPECT_SET_AND_EQ(first.correlation_id, call.correlation_id);
  EXPECT_SET_AND_EQ(second.correlation_id, call.correlation_id);
  EXPECT_EQ(first.method, "notifications/progress");
  EXPECT_FALSE(first.latency_us);
  EXPECT_FALSE(correlator.observe("s", kDown, progress("\"other\""), 3).correlation_id);
  // Token "tok" and token tok (a number-like string vs its text) stay distinct.
  EXPECT_FALSE(correlator.observe("s", kDown, progress("tok"), 3).correlation_id);

  correlator.observe("s", kDown, response("3"), 4);
  EXPECT_FALSE(correlator.observe("s", kDown, progress("\"tok\""), 5).correlation_id);
}

TEST(Correlator, ProgressFromClientForServerRequest) {
  Correlator correlator;
  Correlation sampling =
      correlator.observe("s", kDown, request("1", "sampling/createMessage", "7"), 0);
  EXPECT_SET_AND_EQ(correlator.observe("s", kUp, progress("7"), 1).correlation_id,
                    sampling.correlation_id);
}

TEST(Correlator, ReusedProgressTokenFollowsTheLatestRequest) {
  Correlator correlator;
  Correlation older = correlator.observe("s", kUp, request("3", "tools/call", "1"), 0);
  Correlation newer = correlator.observe("s", kUp, request("3", "tools/call", "1"), 1);
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, progress("1"), 2).correlation_id,
                    newer.correlation_id);
  // The older request completing must not drop the newer request's token.
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("3"), 3).correlation_id,
                    older.correlation_id);
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, progress("1"), 4).correlation_id,
                    newer.correlation_id);
}

TEST(Correlator, CancellationJoinsAndRetiresTheRequest) {
  Correlator correlator;
  Correlation first = correlator.observe("s", kUp, request("3", "tools/call", "\"p\""), 0);
  Correlation second = correlator.observe("s", kUp, request("3", "tools/call"), 1);

  Correlation cancel = correlator.observe("s", kUp, cancellation("3"), 2);
  EXPECT_SET_AND_EQ(cancel.correlation_id, first.correlation_id);
  EXPECT_EQ(cancel.method, "notifications/cancelled");
  EXPECT_FALSE(cancel.latency_us);
  EXPECT_EQ(correlator.pending_requests(), 1u);
  EXPECT_FALSE(correlator.observe("s", kDown, progress("\"p\""), 3).correlation_id);

  // The next answer with id 3 belongs to the request that is still running.
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("3"), 4).correlation_id,
                    second.correlation_id);
}

TEST(Correlator, CancellationOnlyMatchesRequestsSentTheSameWay) {
  Correlator correlator;
  correlator.observe("s", kUp, request("3", "tools/call"), 0);
  Correlation wrong_way = correlator.observe("s", kDown, cancellation("3"), 1);
  EXPECT_FALSE(wrong_way.correlation_id);
  EXPECT_EQ(correlator.pending_requests(), 1u);

  Correlation server_call = correlator.observe("s", kDown, request("3", "roots/list"), 2);
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, cancellation("3"), 3).correlation_id,
                    server_call.correlation_id);
  EXPECT_EQ(correlator.pending_requests(), 1u);
  EXPECT_FALSE(correlator.observe("s", kDown, cancellation("99"), 4).correlation_id);
}

TEST(Correlator, OtherNotificationsCarryOnlyTheirMethod) {
  Correlator correlator;
  ClassifiedMessage note;
  note.kind = Kind::Notification;
  note.method = "notifications/initialized";
  Correlation correlation = correlator.observe("s", kUp, note, 0);
  EXPECT_FALSE(correlation.correlation_id);
  EXPECT_EQ(correlation.method, "notifications/initialized");
}

TEST(Correlator, InvalidAndBatchMessagesAreIgnored) {
  Correlator correlator;
  ClassifiedMessage invalid;
  invalid.kind = Kind::Invalid;
  invalid.id_text = "1";
  expect_unpaired(correlator.observe("s", kUp, invalid, 0));
  ClassifiedMessage batch;
  batch.kind = Kind::Batch;
  batch.batch_items.push_back(request("1", "ping"));
  expect_unpaired(correlator.observe("s", kUp, batch, 0));
  EXPECT_EQ(correlator.pending_requests(), 0u);
}

TEST(Correlator, EvictsOldestPendingAcrossIdsPastTheBound) {
  Correlator correlator(3);
  Correlation a = correlator.observe("s", kUp, request("3", "a", "\"ta\""), 0);
  Correlation b = correlator.observe("s", kUp, request("4", "b"), 1);
  Correlation c = correlator.observe("s", kUp, request("3", "c"), 2);
  Correlation d = correlator.observe("s", kUp, request("5", "d"), 3);  // evicts a
  EXPECT_EQ(correlator.pending_requests(), 3u);
  EXPECT_FALSE(correlator.observe("s", kDown, progress("\"ta\""), 4).correlation_id);

  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("3"), 5).correlation_id,
                    c.correlation_id);
  Correlation e = correlator.observe("s", kUp, request("6", "e"), 6);
  Correlation f = correlator.observe("s", kUp, request("7", "f"), 7);  // evicts b
  EXPECT_EQ(correlator.pending_requests(), 3u);
  expect_unpaired(correlator.observe("s", kDown, response("4"), 8));
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("5"), 9).correlation_id,
                    d.correlation_id);
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("6"), 9).correlation_id,
                    e.correlation_id);
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("7"), 9).correlation_id,
                    f.correlation_id);
  EXPECT_EQ(correlator.pending_requests(), 0u);
  static_cast<void>(a);
  static_cast<void>(b);
}

TEST(Correlator, BoundHoldsUnderManyUnansweredRequests) {
  Correlator correlator(100);
  std::vector<Correlation> sent;
  for (int i = 0; i < 10'000; ++i) {
    sent.push_back(correlator.observe("s", kUp, request(i % 2 ? "3" : std::to_string(i), "m"), i));
    ASSERT_LE(correlator.pending_requests(), 100u);
  }
  // The survivors are the 100 newest: the oldest id-3 request left is number 9901.
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("3"), 20'000).correlation_id,
                    sent[9901].correlation_id);
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("9900"), 20'000).correlation_id,
                    sent[9900].correlation_id);
  expect_unpaired(correlator.observe("s", kDown, response("9898"), 20'000));
}

TEST(Correlator, BoundIsPerSession) {
  Correlator correlator(2);
  correlator.observe("a", kUp, request("1", "m"), 0);
  correlator.observe("a", kUp, request("2", "m"), 0);
  correlator.observe("b", kUp, request("1", "m"), 0);
  correlator.observe("b", kUp, request("2", "m"), 0);
  EXPECT_EQ(correlator.pending_requests(), 4u);
}

TEST(Correlator, ZeroBoundKeepsNothing) {
  Correlator correlator(0);
  EXPECT_TRUE(correlator.observe("s", kUp, request("1", "m"), 0).correlation_id);
  EXPECT_EQ(correlator.pending_requests(), 0u);
  expect_unpaired(correlator.observe("s", kDown, response("1"), 1));
}

TEST(Correlator, ForgetSessionDropsEverythingOfThatSessionOnly) {
  Correlator correlator;
  correlator.observe("gone", kUp, request("1", "m", "\"t\""), 0);
  correlator.observe("gone", kDown, request("2", "roots/list"), 0);
  Correlation kept = correlator.observe("kept", kUp, request("1", "m", "\"t\""), 0);
  EXPECT_EQ(correlator.pending_requests(), 3u);

  correlator.forget_session("gone");
  EXPECT_EQ(correlator.pending_requests(), 1u);
  expect_unpaired(correlator.observe("gone", kDown, response("1"), 1));
  EXPECT_FALSE(correlator.observe("gone", kDown, progress("\"t\""), 1).correlation_id);
  EXPECT_SET_AND_EQ(correlator.observe("kept", kDown, progress("\"t\""), 1).correlation_id,
                    kept.correlation_id);
  correlator.forget_session("never-seen");
  EXPECT_EQ(correlator.pending_requests(), 1u);
}

TEST(Correlator, SessionsAreIsolated) {
  Correlator correlator;
  Correlation in_a = correlator.observe("a", kUp, request("3", "tools/call", "1"), 0);
  Correlation in_b = correlator.observe("b", kUp, request("3", "tools/call", "1"), 0);
  EXPECT_SET_AND_EQ(correlator.observe("b", kDown, progress("1"), 1).correlation_id,
                    in_b.correlation_id);
  EXPECT_SET_AND_EQ(correlator.observe("b", kDown, response("3"), 2).correlation_id,
                    in_b.correlation_id);
  expect_unpaired(correlator.observe("b", kDown, response("3"), 3));
  EXPECT_SET_AND_EQ(correlator.observe("a", kDown, progress("1"), 4).correlation_id,
                    in_a.correlation_id);
  EXPECT_SET_AND_EQ(correlator.observe("a", kDown, response("3"), 5).correlation_id,
                    in_a.correlation_id);
}

TEST(Correlator, SessionIdIsCopiedNotReferenced) {
  Correlator correlator;
  Correlation sent;
  {
    std::string session = "mcp-session-0123456789abcdef0123456789";
    sent = correlator.observe(session, kUp, request("1", "m"), 0);
    session.assign(session.size(), 'x');
  }
  std::string again = "mcp-session-0123456789abcdef0123456789";
  EXPECT_SET_AND_EQ(correlator.observe(again, kDown, response("1"), 1).correlation_id,
                    sent.correlation_id);
}

TEST(Correlator, SlotsAreReusedAfterLongRun) {
  // A long-lived session with steady traffic keeps pairing correctly as slots recycle.
  Correlator correlator(8);
  for (int round = 0; round < 1'000; ++round) {
    Correlation a = correlator.observe("s", kUp, request("3", "tools/call"), round);
    Correlation b = correlator.observe("s", kDown, request("3", "roots/list"), round);
    ASSERT_EQ(correlator.observe("s", kUp, response("3"), round + 1).correlation_id,
              b.correlation_id);
    ASSERT_EQ(correlator.observe("s", kDown, response("3"), round + 1).correlation_id,
              a.correlation_id);
  }
  EXPECT_EQ(correlator.pending_requests(), 0u);
}

// ---- Global bounds: sessions, bytes, idle time ------------------------------------------

constexpr int64_t kSecond = 1'000'000;

std::string numbered(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

CorrelationLimits limits(size_t max_sessions, size_t max_bytes, int64_t idle_timeout_us = 0) {
  CorrelationLimits limits;
  limits.max_sessions = max_sessions;
  limits.max_bytes = max_bytes;
  limits.session_idle_timeout_us = idle_timeout_us;
  return limits;
}

uint64_t evicted(const Correlator& correlator, Eviction reason) {
  return correlator.stats().evicted[static_cast<size_t>(reason)];
}

TEST(CorrelatorBounds, SessionBoundEvictsTheLeastRecentlyUsed) {
  Correlator correlator(limits(3, 1 << 20));
  Correlation a = correlator.observe("a", kUp, request("1", "m", "\"ta\""), 0);
  Correlation b = correlator.observe("b", kUp, request("1", "m"), 1);
  Correlation c = correlator.observe("c", kUp, request("1", "m"), 2);
  // Progress on a makes it recently used: b is now the least recently used.
  EXPECT_SET_AND_EQ(correlator.observe("a", kDown, progress("\"ta\""), 3).correlation_id,
                    a.correlation_id);
  Correlation d = correlator.observe("d", kUp, request("1", "m"), 4);
  EXPECT_EQ(correlator.stats().sessions, 3u);
  EXPECT_EQ(evicted(correlator, Eviction::Sessions), 1u);
  expect_unpaired(correlator.observe("b", kDown, response("1"), 5));
  EXPECT_SET_AND_EQ(correlator.observe("a", kDown, response("1"), 5).correlation_id,
                    a.correlation_id);
  EXPECT_SET_AND_EQ(correlator.observe("c", kDown, response("1"), 5).correlation_id,
                    c.correlation_id);
  EXPECT_SET_AND_EQ(correlator.observe("d", kDown, response("1"), 5).correlation_id,
                    d.correlation_id);
  // Answered sessions are kept, empty, until they idle out or are forgotten.
  EXPECT_EQ(correlator.stats().sessions, 3u);
  EXPECT_EQ(correlator.stats().pending, 0u);
  for (const char* session : {"a", "c", "d"}) correlator.forget_session(session);
  EXPECT_EQ(correlator.stats().sessions, 0u);
  EXPECT_EQ(correlator.stats().bytes, 0u);
  static_cast<void>(b);
}

TEST(CorrelatorBounds, DistinctSessionIdsNeverAnsweredStayBounded) {
  // A server that rejects unknown sessions answers with id null: nothing ever pairs.
  Correlator correlator(limits(1000, 1 << 20));
  for (int i = 0; i < 100'000; ++i) {
    correlator.observe(numbered("session-", i), kUp, request("1", "tools/call"), i);
    ASSERT_LE(correlator.stats().sessions, 1000u);
    ASSERT_LE(correlator.stats().bytes, size_t{1} << 20);
  }
  EXPECT_EQ(correlator.stats().pending, correlator.stats().sessions);
  EXPECT_EQ(evicted(correlator, Eviction::Sessions) + evicted(correlator, Eviction::Bytes),
            100'000u - correlator.stats().pending);
  // The newest session is still there and pairs.
  EXPECT_TRUE(correlator.observe("session-99999", kDown, response("1"), 100'000).correlation_id);
}

TEST(CorrelatorBounds, LongMethodsCountInBytesNotEntries) {
  // 2,000-character methods in distinct sessions: the byte bound binds long before the
  // session bound does.
  constexpr size_t kBound = 256 << 10;
  Correlator correlator(limits(1'000'000, kBound));
  const std::string method(2000, 'm');
  for (int i = 0; i < 20'000; ++i) {
    correlator.observe(numbered("s", i), kUp, request("1", method), i);
    ASSERT_LE(correlator.stats().bytes, kBound);
  }
  EXPECT_LT(correlator.stats().sessions, kBound / 2000);
  EXPECT_GT(evicted(correlator, Eviction::Bytes), 19'000u);
  EXPECT_EQ(evicted(correlator, Eviction::Sessions), 0u);
  // Least recently used went first: the newest survive and pair, with their whole method.
  Correlation newest = correlator.observe("s19999", kDown, response("1"), 30'000);
  EXPECT_EQ(newest.method, method);
  expect_unpaired(correlator.observe("s0", kDown, response("1"), 30'000));
}

TEST(CorrelatorBounds, OneSessionOverTheByteBoundLosesItsOldestRequests) {
  constexpr size_t kBound = 64 << 10;
  Correlator correlator(limits(10, kBound));
  std::vector<Correlation> sent;
  for (int i = 0; i < 100; ++i) {
    sent.push_back(
        correlator.observe("s", kUp, request(std::to_string(i), std::string(5000, 'x')), i));
    ASSERT_LE(correlator.stats().bytes, kBound);
  }
  EXPECT_GT(correlator.stats().pending, 5u);
  EXPECT_LT(correlator.stats().pending, 14u);
  expect_unpaired(correlator.observe("s", kDown, response("0"), 200));
  EXPECT_SET_AND_EQ(correlator.observe("s", kDown, response("99"), 200).correlation_id,
                    sent[99].correlation_id);
  // A request larger than the whole bound is not held at all, and holds nothing else.
  EXPECT_TRUE(
      correlator.observe("s", kUp, request("big", std::string(kBound, 'x')), 300).correlation_id);
  EXPECT_EQ(correlator.stats().pending, 0u);
  EXPECT_LT(correlator.stats().bytes, 4096u);  // the answered session, empty
  expect_unpaired(correlator.observe("s", kDown, response("big"), 301));
}

TEST(CorrelatorBounds, IdleSessionsAreForgottenAfterTheTimeout) {
  Correlator correlator(limits(100, 1 << 20, 10 * kSecond));
  correlator.observe("quiet", kUp, request("1", "m"), 0);
  Correlation busy = correlator.observe("busy", kUp, request("1", "m", "\"t\""), 0);
  correlator.observe("busy", kDown, progress("\"t\""), 8 * kSecond);  // keeps it alive
  EXPECT_EQ(evicted(correlator, Eviction::Idle), 0u);
  // Any message past the timeout retires what idled out.
  correlator.observe("other", kUp, request("1", "m"), 11 * kSecond);
  EXPECT_EQ(evicted(correlator, Eviction::Idle), 1u);
  EXPECT_EQ(correlator.stats().sessions, 2u);
  expect_unpaired(correlator.observe("quiet", kDown, response("1"), 12 * kSecond));
  EXPECT_SET_AND_EQ(correlator.observe("busy", kDown, response("1"), 12 * kSecond).correlation_id,
                    busy.correlation_id);
  // A clock that steps back retires nothing: busy (answered, kept) and other stay.
  correlator.observe("other", kUp, request("2", "m"), 0);
  EXPECT_EQ(correlator.stats().sessions, 2u);
  EXPECT_EQ(correlator.stats().pending, 2u);
}

TEST(CorrelatorBounds, AnsweredSessionsOutliveAFloodOfUnansweredOnes) {
  // A real session has had an answer paired; invented session ids never do (servers answer
  // them with id null). A flood of the latter, past both bounds, leaves the former whole.
  Correlator correlator(limits(100, 128 << 10));
  correlator.observe("real", kUp, request("0", "initialize"), 0);
  correlator.observe("real", kDown, response("0"), 1);
  Correlation call = correlator.observe("real", kUp, request("1", "tools/call"), 2);
  // Short methods reach the session bound first, long ones the byte bound.
  for (int i = 0; i < 10'000; ++i) {
    std::string method(i < 5'000 ? 10 : 3'000, 'x');
    correlator.observe(numbered("fake-", i), kUp, request("1", method), 3 + i);
  }
  EXPECT_GT(evicted(correlator, Eviction::Sessions), 0u);
  EXPECT_GT(evicted(correlator, Eviction::Bytes), 0u);
  EXPECT_SET_AND_EQ(correlator.observe("real", kDown, response("1"), 20'000).correlation_id,
                    call.correlation_id);
  // A new session still gets in once the table is full of answered ones.
  Correlator full(limits(2, 1 << 20));
  for (const char* session : {"a", "b"}) {
    full.observe(session, kUp, request("1", "m"), 0);
    full.observe(session, kDown, response("1"), 1);
  }
  Correlation newcomer = full.observe("c", kUp, request("1", "m"), 2);
  EXPECT_EQ(full.stats().sessions, 2u);
  EXPECT_SET_AND_EQ(full.observe("c", kDown, response("1"), 3).correlation_id,
                    newcomer.correlation_id);
}

// A 404 with id null is how servers refuse an unknown session: HTTP still pairs it with the
// request of its exchange, but that does not make an invented session a real one.
TEST(CorrelatorBounds, AnswersPairedByTheExchangeDoNotVouchForTheSession) {
  Correlator correlator(limits(2, 1 << 20));
  correlator.observe("real", kUp, request("0", "initialize"), 0);
  correlator.observe("real", kDown, response("0"), 1);
  Correlation call = correlator.observe("real", kUp, request("1", "tools/call"), 2);
  for (int i = 0; i < 100; ++i) {
    std::string session = numbered("fake-", i);
    Correlation asked = correlator.observe(session, kUp, request("1", "tools/call"), 3 + i);
    Correlation refused = correlator.observe_exchange_answer(session, kDown, "1", 3 + i);
    EXPECT_SET_AND_EQ(refused.correlation_id, asked.correlation_id);
    EXPECT_EQ(refused.method, "tools/call");
  }
  EXPECT_LE(correlator.stats().sessions, 2u);  // refused sessions leave nothing behind
  EXPECT_SET_AND_EQ(correlator.observe("real", kDown, response("1"), 200).correlation_id,
                    call.correlation_id);
}

TEST(CorrelatorBounds, ZeroIdleTimeoutNeverExpires) {
  Correlator correlator(limits(100, 1 << 20, 0));
  Correlation sent = correlator.observe("s", kUp, request("1", "m"), 0);
  correlator.observe("t", kUp, request("1", "m"), 1'000'000 * kSecond);
  EXPECT_SET_AND_EQ(
      correlator.observe("s", kDown, response("1"), 1'000'000 * kSecond).correlation_id,
      sent.correlation_id);
}

// A JSON string token of a thousand and some characters, distinct per i.
std::string long_token(int i) {
  std::string token = "\"";
  token += std::to_string(i);
  token.append(1000, 't');
  token += '"';
  return token;
}

TEST(CorrelatorBounds, ProgressTokenTableStaysWithinTheBounds) {
  // Every request announces a distinct, long token and none is ever answered.
  constexpr size_t kBound = 128 << 10;
  CorrelationLimits bounds = limits(10, kBound);
  bounds.max_pending_per_session = 1'000'000;
  Correlator correlator(bounds);
  std::vector<Correlation> sent;
  for (int i = 0; i < 10'000; ++i) {
    sent.push_back(correlator.observe("s", kUp, request(std::to_string(i), "m", long_token(i)), i));
    ASSERT_LE(correlator.stats().bytes, kBound);
    ASSERT_EQ(correlator.stats().progress_tokens, correlator.stats().pending);
  }
  EXPECT_LT(correlator.stats().progress_tokens, kBound / 2000);
  // A forgotten request's token joins nothing; a kept one still does.
  EXPECT_FALSE(correlator.observe("s", kDown, progress(long_token(0)), 20'000).correlation_id);
  EXPECT_SET_AND_EQ(
      correlator.observe("s", kDown, progress(long_token(9999)), 20'000).correlation_id,
      sent[9999].correlation_id);
}

TEST(CorrelatorBounds, PerSessionBoundIsCountedAsEviction) {
  Correlator correlator(2);
  for (int i = 0; i < 5; ++i) correlator.observe("s", kUp, request(std::to_string(i), "m"), i);
  EXPECT_EQ(evicted(correlator, Eviction::Pending), 3u);
  EXPECT_EQ(correlator.pending_requests(), 2u);
}

TEST(CorrelatorBounds, AccountingReturnsToZero) {
  Correlator correlator(limits(50, 1 << 20, 100 * kSecond));
  for (int i = 0; i < 500; ++i) {
    std::string session = numbered("s", i % 70);
    correlator.observe(session, kUp,
                       request(std::to_string(i), "tools/call", numbered("\"", i) + '"'), i);
  }
  for (int i = 0; i < 70; ++i) correlator.forget_session(numbered("s", i));
  EXPECT_EQ(correlator.stats().sessions, 0u);
  EXPECT_EQ(correlator.stats().pending, 0u);
  EXPECT_EQ(correlator.stats().progress_tokens, 0u);
  EXPECT_EQ(correlator.stats().bytes, 0u);
}

TEST(CorrelatorBounds, EvictionReasonsHaveMetricNames) {
  EXPECT_EQ(to_string(Eviction::Pending), "pending");
  EXPECT_EQ(to_string(Eviction::Sessions), "sessions");
  EXPECT_EQ(to_string(Eviction::Bytes), "bytes");
  EXPECT_EQ(to_string(Eviction::Idle), "idle");
}

}  // namespace
}  // namespace mcptap::capture

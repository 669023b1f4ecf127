// OperationLinker: multi round-trip retries (by requestState and by the heuristic), tasks of
// both revisions, subscriptions and their forgeries, and the bounds on what it keeps.
#include "capture/operation_linker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mcptap::capture {
namespace {

constexpr int64_t kSecond = 1000000;
const int64_t kT0 = int64_t{1785000000} * kSecond;  // an August 2026 wall clock

std::string state_digest(int n) {
  std::string hex = std::to_string(n);
  return hex + std::string(64 - hex.size(), 'a');  // the shape of a hex SHA-256
}

// One side of a conversation with a linker: requests and answers built by hand, as the
// facts extractor would deliver them.
class Conversation {
 public:
  explicit Conversation(OperationLinker& linker) : linker_(linker) {}

  struct Sent {
    LinkedOperation link;
    base::Uuid operation;  // the linked one, or the request's own (a fresh id here)
  };

  Sent request(std::string method, const OperationFacts& facts, int64_t at_us,
               std::string session = "s1", std::string client = "client/1.0",
               std::string id_text = "1") {
    OperationRequest request{session, id_text, method, client, facts, at_us};
    Sent sent{linker_.link_request(request), base::Uuid::v7()};
    if (sent.link.operation_id) sent.operation = *sent.link.operation_id;
    linker_.on_request(sent.operation, request);
    return sent;
  }

  std::optional<OperationSummary> answer(const base::Uuid& op, std::string method,
                                         const OperationFacts& facts, int64_t at_us,
                                         bool is_error = false) {
    return linker_.on_answer(OperationAnswer{op, method, facts, is_error, at_us});
  }

 private:
  OperationLinker& linker_;
};

OperationFacts named(std::string name) {
  OperationFacts facts;
  facts.name = std::move(name);
  return facts;
}

OperationFacts input_required(int state, std::vector<InputAsked> inputs) {
  OperationFacts facts;
  facts.result_type = "input_required";
  if (state > 0) facts.request_state_sha256 = state_digest(state);
  facts.inputs = std::move(inputs);
  return facts;
}

OperationFacts retry(std::string name, int state, std::vector<std::string> keys) {
  OperationFacts facts = named(std::move(name));
  if (state > 0) facts.request_state_sha256 = state_digest(state);
  facts.has_input_responses = true;
  facts.input_response_keys = std::move(keys);
  return facts;
}

OperationFacts complete() {
  OperationFacts facts;
  facts.result_type = "complete";
  return facts;
}

OperationFacts task(std::string task_id, std::optional<std::string> status = std::nullopt) {
  OperationFacts facts;
  facts.task_id = std::move(task_id);
  facts.task_status = std::move(status);
  return facts;
}

uint64_t unlinked(const OperationLinker& linker, Unlinked reason) {
  return linker.stats().unlinked[static_cast<size_t>(reason)];
}
uint64_t evicted(const OperationLinker& linker, OperationEviction reason) {
  return linker.stats().evicted[static_cast<size_t>(reason)];
}

const InputAsked kLogin{"github_login", "elicitation/create"};
const InputAsked kCapital{"capital_of_france", "sampling/createMessage"};

TEST(OperationLinker, MultiRoundTripTwiceThenCompleteIsOneOperationOfThreeRoundTrips) {
  OperationLinker linker;
  Conversation c(linker);
  auto first = c.request("tools/call", named("deploy"), kT0);
  EXPECT_FALSE(first.link.operation_id);
  EXPECT_FALSE(c.answer(first.operation, "tools/call", input_required(1, {kLogin}), kT0 + 100));

  auto second = c.request("tools/call", retry("deploy", 1, {"github_login"}), kT0 + 2000);
  ASSERT_EQ(second.link.operation_id, first.operation);
  EXPECT_EQ(second.link.link, OperationLink::RequestState);
  EXPECT_FALSE(
      c.answer(first.operation, "tools/call", input_required(2, {kCapital, kLogin}), kT0 + 3000));

  auto third = c.request("tools/call", retry("deploy", 2, {"capital_of_france"}), kT0 + 5000);
  ASSERT_EQ(third.link.operation_id, first.operation);
  std::optional<OperationSummary> summary =
      c.answer(first.operation, "tools/call", complete(), kT0 + 7500);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->round_trips, 3u);
  EXPECT_EQ(summary->elapsed_us, 7500);
  EXPECT_EQ(summary->inputs, (std::vector<InputAsked>{kLogin, kCapital}));
  EXPECT_FALSE(summary->inputs_truncated);
  EXPECT_EQ(to_meta(*summary), nlohmann::json::parse(R"({"round_trips":3,"elapsed_us":7500,
      "inputs":[{"key":"github_login","method":"elicitation/create"},
                {"key":"capital_of_france","method":"sampling/createMessage"}]})"));
  // Written once: a repeated final answer has no summary.
  EXPECT_FALSE(c.answer(first.operation, "tools/call", complete(), kT0 + 8000));
}

TEST(OperationLinker, ASingleExchangeHasNoSummaryAndKeepsNothing) {
  OperationLinker linker;
  Conversation c(linker);
  auto call = c.request("tools/call", named("echo"), kT0);
  EXPECT_EQ(linker.stats().operations, 1u);
  EXPECT_GT(linker.stats().bytes, 0u);
  EXPECT_FALSE(c.answer(call.operation, "tools/call", OperationFacts{}, kT0 + 10));
  EXPECT_EQ(linker.stats().operations, 0u);
  EXPECT_EQ(linker.stats().bytes, 0u);
  EXPECT_EQ(linker.stats().evicted, (std::array<uint64_t, kOperationEvictionReasons>{}));
  // Requests of one exchange each keep no state at all.
  c.request("tools/list", OperationFacts{}, kT0 + 20);
  EXPECT_EQ(linker.stats().operations, 0u);
}

TEST(OperationLinker, AnErrorEndsAMultiRoundTripOperation) {
  OperationLinker linker;
  Conversation c(linker);
  auto call = c.request("prompts/get", named("greet"), kT0);
  c.answer(call.operation, "prompts/get", input_required(5, {kLogin}), kT0 + 10);
  c.request("prompts/get", retry("greet", 5, {"github_login"}), kT0 + 20);
  auto summary = c.answer(call.operation, "prompts/get", OperationFacts{}, kT0 + 30, true);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->round_trips, 2u);
  EXPECT_EQ(summary->elapsed_us, 30);
}

TEST(OperationLinker, RetryLinksAcrossSessionsAndConnections) {
  OperationLinker linker;
  Conversation c(linker);
  auto first = c.request("resources/read", named("file:///a"), kT0, "connection-1");
  c.answer(first.operation, "resources/read", input_required(7, {kLogin}), kT0 + 10);
  auto retried = c.request("resources/read", retry("file:///a", 7, {"github_login"}), kT0 + 20,
                           "connection-2", "client/1.0", "2");
  EXPECT_EQ(retried.link.operation_id, first.operation);
  EXPECT_EQ(retried.link.link, OperationLink::RequestState);
}

TEST(OperationLinker, TwoConcurrentOperationsOfOneToolAreNotMixed) {
  OperationLinker linker;
  Conversation c(linker);
  auto a = c.request("tools/call", named("confirm"), kT0, "s1", "client/1.0", "1");
  auto b = c.request("tools/call", named("confirm"), kT0 + 1, "s2", "client/1.0", "1");
  c.answer(a.operation, "tools/call", input_required(11, {kLogin}), kT0 + 10);
  c.answer(b.operation, "tools/call", input_required(12, {kLogin}), kT0 + 11);

  auto b_retry = c.request("tools/call", retry("confirm", 12, {"github_login"}), kT0 + 20);
  auto a_retry = c.request("tools/call", retry("confirm", 11, {"github_login"}), kT0 + 21);
  EXPECT_EQ(b_retry.link.operation_id, b.operation);
  EXPECT_EQ(a_retry.link.operation_id, a.operation);
  EXPECT_NE(a.operation, b.operation);
  c.answer(b.operation, "tools/call", input_required(13, {kCapital}), kT0 + 30);
  c.request("tools/call", retry("confirm", 13, {"capital_of_france"}), kT0 + 40);
  auto b_done = c.answer(b.operation, "tools/call", complete(), kT0 + 50);
  auto a_done = c.answer(a.operation, "tools/call", complete(), kT0 + 60);
  ASSERT_TRUE(a_done && b_done);
  EXPECT_EQ(a_done->round_trips, 2u);
  EXPECT_EQ(b_done->round_trips, 3u);
  EXPECT_EQ(a_done->inputs, std::vector<InputAsked>{kLogin});
  EXPECT_EQ(b_done->inputs, (std::vector<InputAsked>{kLogin, kCapital}));
}

TEST(OperationLinker, RetryWithoutRequestStateLinksOnlyInsideTheWindow) {
  OperationLimits limits;
  limits.retry_window_us = 10 * kSecond;
  OperationLinker linker(limits);
  Conversation c(linker);
  auto call = c.request("tools/call", named("confirm"), kT0);
  c.answer(call.operation, "tools/call", input_required(0, {kLogin}), kT0 + kSecond);

  // Another client, another tool, or a key that was never asked: not this operation.
  EXPECT_FALSE(c.request("tools/call", retry("confirm", 0, {"github_login"}), kT0 + 2 * kSecond,
                         "s1", "other/2.0")
                   .link.operation_id);
  EXPECT_FALSE(c.request("tools/call", retry("other", 0, {"github_login"}), kT0 + 2 * kSecond)
                   .link.operation_id);
  EXPECT_FALSE(c.request("tools/call", retry("confirm", 0, {"password"}), kT0 + 2 * kSecond)
                   .link.operation_id);

  auto inside = c.request("tools/call", retry("confirm", 0, {"github_login"}), kT0 + 9 * kSecond,
                          "another-session");
  EXPECT_EQ(inside.link.operation_id, call.operation);
  EXPECT_EQ(inside.link.link, OperationLink::Heuristic);

  c.answer(call.operation, "tools/call", input_required(0, {kLogin}), kT0 + 10 * kSecond);
  auto outside = c.request("tools/call", retry("confirm", 0, {"github_login"}), kT0 + 21 * kSecond);
  EXPECT_FALSE(outside.link.operation_id);
  EXPECT_EQ(unlinked(linker, Unlinked::AmbiguousRetry), 0u);
}

TEST(OperationLinker, RetryWithoutRequestStateMatchingTwoOperationsIsLeftAloneAndCounted) {
  OperationLinker linker;
  Conversation c(linker);
  auto a = c.request("tools/call", named("confirm"), kT0);
  auto b = c.request("tools/call", named("confirm"), kT0 + 1);
  c.answer(a.operation, "tools/call", input_required(0, {kLogin}), kT0 + 10);
  c.answer(b.operation, "tools/call", input_required(0, {kLogin}), kT0 + 11);
  auto retried = c.request("tools/call", retry("confirm", 0, {"github_login"}), kT0 + 20);
  EXPECT_FALSE(retried.link.operation_id);
  EXPECT_EQ(retried.link.link, OperationLink::None);
  EXPECT_EQ(unlinked(linker, Unlinked::AmbiguousRetry), 1u);
  EXPECT_EQ(to_string(Unlinked::AmbiguousRetry), "ambiguous_retry");

  // Once one of them has its answer, the other is the only candidate.
  c.answer(a.operation, "tools/call", complete(), kT0 + 30);
  EXPECT_EQ(
      c.request("tools/call", retry("confirm", 0, {"github_login"}), kT0 + 40).link.operation_id,
      b.operation);
}

// 2025-11-25: task augmentation, CreateTaskResult nests the task, tasks/get polls,
// tasks/result carries the outcome.
TEST(OperationLinker, Task2025NestedShapeEndsWithTasksResult) {
  OperationLinker linker;
  Conversation c(linker);
  OperationFacts augmented = named("delay");
  augmented.task_requested = true;
  auto call = c.request("tools/call", augmented, kT0);
  EXPECT_FALSE(c.answer(call.operation, "tools/call", task("786512e2", "working"), kT0 + 10));

  for (int poll = 0; poll < 2; ++poll) {
    auto get = c.request("tasks/get", task("786512e2"), kT0 + 100 + poll * 100);
    EXPECT_EQ(get.link.operation_id, call.operation);
    EXPECT_EQ(get.link.link, OperationLink::Task);
    EXPECT_FALSE(c.answer(call.operation, "tasks/get",
                          task("786512e2", poll == 0 ? "working" : "completed"),
                          kT0 + 150 + poll * 100));
  }
  LinkedOperation status = linker.link_notification("s1", task("786512e2", "completed"), nullptr);
  EXPECT_EQ(status.operation_id, call.operation);
  EXPECT_EQ(status.link, OperationLink::Task);

  auto result = c.request("tasks/result", task("786512e2"), kT0 + 400);
  EXPECT_EQ(result.link.operation_id, call.operation);
  // The answer of tasks/result names the task through related-task _meta.
  auto summary = c.answer(call.operation, "tasks/result", task("786512e2"), kT0 + 500);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->round_trips, 4u);
  EXPECT_EQ(summary->elapsed_us, 500);
  // Kept for late polls.
  EXPECT_EQ(c.request("tasks/get", task("786512e2"), kT0 + 600).link.operation_id, call.operation);
}

// The 2026 tasks extension: a flat task answer, tasks/update, and the terminal tasks/get.
TEST(OperationLinker, Task2026FlatShapeEndsWithTheTerminalTasksGet) {
  OperationLinker linker;
  Conversation c(linker);
  auto call = c.request("tools/call", named("long_job"), kT0);
  OperationFacts created = task("t-2026", "working");
  created.result_type = "task";
  EXPECT_FALSE(c.answer(call.operation, "tools/call", created, kT0 + 10));

  auto get = c.request("tasks/get", task("t-2026"), kT0 + 100);
  EXPECT_EQ(get.link.operation_id, call.operation);
  OperationFacts needs_input = task("t-2026", "input_required");
  needs_input.result_type = "complete";
  needs_input.inputs = {kLogin};
  EXPECT_FALSE(c.answer(call.operation, "tasks/get", needs_input, kT0 + 110));
  // Snapshots repeat what they ask: inputs are kept once per key.
  c.request("tasks/get", task("t-2026"), kT0 + 150);
  EXPECT_FALSE(c.answer(call.operation, "tasks/get", needs_input, kT0 + 160));

  OperationFacts update = task("t-2026");
  update.has_input_responses = true;
  update.input_response_keys = {"github_login"};
  auto updated = c.request("tasks/update", update, kT0 + 200);
  EXPECT_EQ(updated.link.operation_id, call.operation);
  EXPECT_EQ(updated.link.link, OperationLink::Task);
  EXPECT_FALSE(c.answer(call.operation, "tasks/update", complete(), kT0 + 210));

  c.request("tasks/get", task("t-2026"), kT0 + 300);
  OperationFacts done = task("t-2026", "completed");
  done.result_type = "complete";
  auto summary = c.answer(call.operation, "tasks/get", done, kT0 + 310);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->round_trips, 5u);
  EXPECT_EQ(summary->elapsed_us, 310);
  EXPECT_EQ(summary->inputs, std::vector<InputAsked>{kLogin});
}

TEST(OperationLinker, ACancelledTaskEndsWithTasksCancel) {
  OperationLinker linker;
  Conversation c(linker);
  auto call = c.request("tools/call", named("long_job"), kT0);
  OperationFacts created = task("t-c");
  created.result_type = "task";
  c.answer(call.operation, "tools/call", created, kT0 + 10);
  c.request("tasks/cancel", task("t-c"), kT0 + 20);
  auto summary = c.answer(call.operation, "tasks/cancel", task("t-c", "cancelled"), kT0 + 30);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->round_trips, 2u);
}

// A task created before capture began: its first poll starts an operation, later ones
// (and its status notifications and related-task requests) group with it.
TEST(OperationLinker, PollsOfAnUnknownTaskGroupTogether) {
  OperationLinker linker;
  Conversation c(linker);
  auto first = c.request("tasks/get", task("old-task"), kT0);
  EXPECT_FALSE(first.link.operation_id);
  auto second = c.request("tasks/get", task("old-task"), kT0 + 100);
  EXPECT_EQ(second.link.operation_id, first.operation);
  EXPECT_EQ(second.link.link, OperationLink::Task);
  auto elicitation = c.request("elicitation/create", task("old-task"), kT0 + 150);
  EXPECT_EQ(elicitation.link.operation_id, first.operation);
  // tasks/list names no task and is not linked.
  EXPECT_FALSE(c.request("tasks/list", OperationFacts{}, kT0 + 200).link.operation_id);
  EXPECT_FALSE(c.request("tasks/get", task("other-task"), kT0 + 300).link.operation_id);
}

TEST(OperationLinker, TheSameTaskIdOnTwoRoutesIsTwoOperations) {
  OperationLinker route_a;
  OperationLinker route_b;
  Conversation a(route_a);
  Conversation b(route_b);
  OperationFacts created = task("shared");
  created.result_type = "task";
  auto call_a = a.request("tools/call", named("job"), kT0);
  auto call_b = b.request("tools/call", named("job"), kT0);
  a.answer(call_a.operation, "tools/call", created, kT0 + 10);
  b.answer(call_b.operation, "tools/call", created, kT0 + 10);
  EXPECT_EQ(a.request("tasks/get", task("shared"), kT0 + 20).link.operation_id, call_a.operation);
  EXPECT_EQ(b.request("tasks/get", task("shared"), kT0 + 20).link.operation_id, call_b.operation);
  EXPECT_NE(call_a.operation, call_b.operation);
}

OperationFacts tagged(std::string subscription_id) {
  OperationFacts facts;
  facts.subscription_id = std::move(subscription_id);
  return facts;
}

TEST(OperationLinker, SubscriptionNotificationsJoinTheirListenOfTheSameSessionOnly) {
  OperationLinker linker;
  Conversation c(linker);
  auto listen = c.request("subscriptions/listen", OperationFacts{}, kT0, "ws-1", "client/1.0", "7");
  LinkedOperation joined = linker.link_notification("ws-1", tagged("7"), nullptr);
  EXPECT_EQ(joined.operation_id, listen.operation);
  EXPECT_EQ(joined.link, OperationLink::Subscription);

  // The id of another session's listen, and an id nobody announced: forged.
  EXPECT_FALSE(linker.link_notification("ws-2", tagged("7"), nullptr).operation_id);
  EXPECT_FALSE(linker.link_notification("ws-1", tagged("\"7\""), nullptr).operation_id);
  EXPECT_EQ(unlinked(linker, Unlinked::UnknownSubscription), 2u);

  // On the listen's own HTTP stream the stream decides; a tag naming another id is counted.
  LinkedOperation on_stream = linker.link_notification("h", tagged("8"), &listen.operation);
  EXPECT_EQ(on_stream.operation_id, listen.operation);
  EXPECT_EQ(on_stream.link, OperationLink::Subscription);
  EXPECT_EQ(unlinked(linker, Unlinked::SubscriptionMismatch), 1u);
  linker.link_notification("h", tagged("7"), &listen.operation);
  EXPECT_EQ(unlinked(linker, Unlinked::SubscriptionMismatch), 1u);
  // Request-scoped notifications on a request's stream belong to that request.
  LinkedOperation progress = linker.link_notification("h", OperationFacts{}, &listen.operation);
  EXPECT_EQ(progress.operation_id, listen.operation);
  EXPECT_EQ(progress.link, OperationLink::None);
  EXPECT_FALSE(linker.link_notification("h", OperationFacts{}, nullptr).operation_id);

  // Once the stream ends, its id means nothing.
  linker.end_stream(listen.operation);
  EXPECT_FALSE(linker.link_notification("ws-1", tagged("7"), nullptr).operation_id);
  EXPECT_EQ(unlinked(linker, Unlinked::UnknownSubscription), 3u);
}

TEST(OperationLinker, ForgettingASessionForgetsItsListens) {
  OperationLinker linker;
  Conversation c(linker);
  auto kept = c.request("subscriptions/listen", OperationFacts{}, kT0, "a", "client/1.0", "1");
  c.request("subscriptions/listen", OperationFacts{}, kT0, "b", "client/1.0", "1");
  linker.forget_session("b");
  EXPECT_FALSE(linker.link_notification("b", tagged("1"), nullptr).operation_id);
  EXPECT_EQ(linker.link_notification("a", tagged("1"), nullptr).operation_id, kept.operation);
}

TEST(OperationLinker, ASessionKeepsItsLatestListens) {
  OperationLinker linker;
  Conversation c(linker);
  for (int i = 0; i < 65; ++i) {
    c.request("subscriptions/listen", OperationFacts{}, kT0 + i, "ws", "client/1.0",
              std::to_string(i));
  }
  EXPECT_FALSE(linker.link_notification("ws", tagged("0"), nullptr).operation_id);
  EXPECT_TRUE(linker.link_notification("ws", tagged("1"), nullptr).operation_id);
  EXPECT_TRUE(linker.link_notification("ws", tagged("64"), nullptr).operation_id);
}

// 100 000 operations left open (each awaiting input with a state): the bounds hold, the
// oldest go first, and every one forgotten is counted.
TEST(OperationLinker, OpenOperationsAreBoundedAndEvictionsCounted) {
  OperationLinker linker;  // defaults: 50 000 operations, 16 MiB
  Conversation c(linker);
  constexpr int kOperations = 100000;
  std::vector<base::Uuid> ids;
  ids.reserve(kOperations);
  size_t peak_bytes = 0;
  for (int i = 0; i < kOperations; ++i) {
    auto call = c.request("tools/call", named("tool-" + std::to_string(i % 100)), kT0 + i);
    c.answer(call.operation, "tools/call", input_required(i + 1, {kLogin, kCapital}), kT0 + i);
    ids.push_back(call.operation);
    peak_bytes = std::max(peak_bytes, linker.stats().bytes);
  }
  const OperationStats& stats = linker.stats();
  EXPECT_LE(stats.operations, 50000u);
  EXPECT_LE(peak_bytes, size_t{16} << 20);
  uint64_t forgotten =
      evicted(linker, OperationEviction::Operations) + evicted(linker, OperationEviction::Bytes);
  EXPECT_EQ(forgotten, kOperations - stats.operations);
  EXPECT_GT(forgotten, 0u);
  // The newest still links; the oldest is forgotten with its index entries.
  EXPECT_EQ(
      c.request("tools/call", retry("tool-99", kOperations, {"github_login"}), kT0 + kOperations)
          .link.operation_id,
      ids.back());
  EXPECT_FALSE(c.request("tools/call", retry("tool-0", 1, {"github_login"}), kT0 + kOperations)
                   .link.operation_id);
}

TEST(OperationLinker, TheByteBoundEvictsAndHolds) {
  OperationLimits limits;
  limits.max_bytes = 256 << 10;
  OperationLinker linker(limits);
  Conversation c(linker);
  for (int i = 0; i < 20000; ++i) {
    auto call = c.request("tools/call", named(std::string(200, 'n') + std::to_string(i)), kT0 + i);
    c.answer(call.operation, "tools/call", input_required(i + 1, {kLogin}), kT0 + i);
    ASSERT_LE(linker.stats().bytes, limits.max_bytes);
  }
  EXPECT_GT(evicted(linker, OperationEviction::Bytes), 0u);
  EXPECT_EQ(evicted(linker, OperationEviction::Operations), 0u);
  EXPECT_EQ(evicted(linker, OperationEviction::Bytes) + linker.stats().operations, 20000u);
}

TEST(OperationLinker, IdleOperationsGoWhenTheClockMovesOn) {
  OperationLimits limits;
  limits.idle_timeout_us = 60 * kSecond;
  OperationLinker linker(limits);
  Conversation c(linker);
  auto old_call = c.request("tools/call", named("a"), kT0);
  c.answer(old_call.operation, "tools/call", input_required(1, {kLogin}), kT0);
  auto recent = c.request("tools/call", named("b"), kT0 + 50 * kSecond);
  c.answer(recent.operation, "tools/call", input_required(2, {kLogin}), kT0 + 50 * kSecond);
  EXPECT_EQ(linker.stats().operations, 2u);

  auto late = c.request("tools/call", retry("a", 1, {"github_login"}), kT0 + 61 * kSecond);
  EXPECT_FALSE(late.link.operation_id);
  EXPECT_EQ(evicted(linker, OperationEviction::Idle), 1u);
  EXPECT_EQ(c.request("tools/call", retry("b", 2, {"github_login"}), kT0 + 62 * kSecond)
                .link.operation_id,
            recent.operation);
  EXPECT_EQ(to_string(OperationEviction::Idle), "idle");
}

TEST(OperationLinker, ClosedOperationsAreForgottenBeforeOpenOnes) {
  OperationLimits limits;
  limits.max_operations = 2;
  OperationLinker linker(limits);
  Conversation c(linker);
  auto open_one = c.request("tools/call", named("a"), kT0);
  c.answer(open_one.operation, "tools/call", input_required(1, {kLogin}), kT0 + 1);
  auto finished = c.request("tools/call", named("b"), kT0 + 2);
  c.answer(finished.operation, "tools/call", input_required(2, {kLogin}), kT0 + 3);
  c.request("tools/call", retry("b", 2, {"github_login"}), kT0 + 4);
  ASSERT_TRUE(c.answer(finished.operation, "tools/call", complete(), kT0 + 5));  // most recent

  c.request("tools/call", named("c"), kT0 + 6);
  EXPECT_EQ(evicted(linker, OperationEviction::Operations), 1u);
  EXPECT_EQ(c.request("tools/call", retry("a", 1, {"github_login"}), kT0 + 7).link.operation_id,
            open_one.operation);
  EXPECT_FALSE(c.request("tools/call", retry("b", 2, {"github_login"}), kT0 + 8).link.operation_id);
}

TEST(OperationLinker, InputsAreCappedAndMarkedTruncated) {
  OperationLinker linker;
  Conversation c(linker);
  auto call = c.request("tools/call", named("many"), kT0);
  int state = 1;
  for (int round = 0; round < 3; ++round) {
    std::vector<InputAsked> asked;
    for (int i = 0; i < 20; ++i) {
      asked.push_back({"key-" + std::to_string(round * 20 + i), "elicitation/create"});
    }
    c.answer(call.operation, "tools/call", input_required(state, asked), kT0 + round * 10 + 1);
    c.request("tools/call", retry("many", state, {}), kT0 + round * 10 + 2);
    ++state;
  }
  auto summary = c.answer(call.operation, "tools/call", complete(), kT0 + 100);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->inputs.size(), kMaxInputsPerMessage);
  EXPECT_TRUE(summary->inputs_truncated);
  EXPECT_EQ(to_meta(*summary)["inputs_truncated"], true);
}

TEST(OperationLinker, LinkNamesAreTheMetaValues) {
  EXPECT_EQ(to_string(OperationLink::None), "");
  EXPECT_EQ(to_string(OperationLink::RequestState), "request_state");
  EXPECT_EQ(to_string(OperationLink::Heuristic), "heuristic");
  EXPECT_EQ(to_string(OperationLink::Task), "task");
  EXPECT_EQ(to_string(OperationLink::Subscription), "subscription");
  EXPECT_EQ(to_string(OperationEviction::Operations), "operations");
  EXPECT_EQ(to_string(OperationEviction::Bytes), "bytes");
  EXPECT_EQ(to_string(Unlinked::UnknownSubscription), "unknown_subscription");
  EXPECT_EQ(to_string(Unlinked::SubscriptionMismatch), "subscription_mismatch");
}

}  // namespace
}  // namespace mcptap::capture

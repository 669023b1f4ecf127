// Tests for capture/sse_parser: the event-stream rules at every split, priming events, caps.
#include "capture/sse_parser.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "base/sha256.h"

namespace mcptap::capture {
namespace {

// An SseEvent copied out of the callback, so it outlives the parser's buffers.
struct Event {
  std::string type = "message";
  std::string data;
  std::string id;
  bool has_id_field = false;
  std::optional<uint64_t> retry_ms;
  bool data_present = true;
  uint64_t data_size = 0;  // filled from data when left 0 by an expectation
  bool truncated = false;
  std::string sha256_hex;
  bool operator==(const Event&) const = default;
};

void PrintTo(const Event& event, std::ostream* out) {
  *out << "{type=" << testing::PrintToString(event.type)
       << " data=" << testing::PrintToString(event.data)
       << " id=" << testing::PrintToString(event.id) << " has_id=" << event.has_id_field
       << " retry=" << (event.retry_ms ? std::to_string(*event.retry_ms) : "none")
       << " data_present=" << event.data_present << " size=" << event.data_size
       << " truncated=" << event.truncated << " sha=" << event.sha256_hex << "}";
}

Event copy(const SseEvent& event) {
  return {std::string(event.event_type),
          std::string(event.data),
          std::string(event.id),
          event.has_id_field,
          event.retry_ms,
          event.data_present,
          event.data_size,
          event.truncated,
          std::string(event.sha256_hex)};
}

// Everything observable about one parse, compared between ways of splitting the input.
struct Outcome {
  std::vector<Event> events;
  uint64_t comments = 0;
  uint64_t oversized_fields = 0;
  uint64_t pending_at_end = 0;
  uint64_t discarded = 0;
  std::string last_event_id;
  bool operator==(const Outcome&) const = default;
};

struct Limits {
  uint64_t max_event_bytes = 1 << 20;
  size_t max_field_bytes = SseParser::kDefaultMaxFieldBytes;
};

Outcome parse_pieces(const std::vector<std::string_view>& pieces, Limits limits = {}) {
  SseParser parser(limits.max_event_bytes, limits.max_field_bytes);
  Outcome outcome;
  auto collect = [&](const SseEvent& event) { outcome.events.push_back(copy(event)); };
  for (std::string_view piece : pieces) parser.feed(piece, collect);
  outcome.comments = parser.comments();
  outcome.oversized_fields = parser.oversized_fields();
  outcome.pending_at_end = parser.pending_bytes();
  outcome.last_event_id = parser.last_event_id();
  outcome.discarded = parser.finish();
  EXPECT_EQ(parser.events(), outcome.events.size());
  return outcome;
}

Outcome parse_whole(std::string_view stream, Limits limits = {}) {
  return parse_pieces({stream}, limits);
}

// Parses the stream whole, in two pieces split at every byte boundary, and byte by byte;
// all must agree. Returns the outcome of the whole parse.
Outcome parse_every_way(std::string_view stream, Limits limits = {}) {
  const Outcome whole = parse_whole(stream, limits);
  for (size_t split = 0; split <= stream.size(); ++split) {
    EXPECT_EQ(parse_pieces({stream.substr(0, split), stream.substr(split)}, limits), whole)
        << "split at byte " << split;
  }
  std::vector<std::string_view> bytes;
  for (size_t at = 0; at < stream.size(); ++at) bytes.push_back(stream.substr(at, 1));
  EXPECT_EQ(parse_pieces(bytes, limits), whole) << "byte by byte";
  return whole;
}

Event data_event(std::string data) {
  Event event;
  event.data_size = data.size();
  event.data = std::move(data);
  return event;
}

Event with_id(Event event, std::string id, bool has_id_field = true) {
  event.id = std::move(id);
  event.has_id_field = has_id_field;
  return event;
}

Event with_type(Event event, std::string type) {
  event.type = std::move(type);
  return event;
}

std::string sha256_hex(std::string_view bytes) {
  base::Sha256 hash;
  hash.update(bytes);
  return hash.finish_hex();
}

TEST(SseParser, McpResponseEvent) {
  const std::string json = R"({"jsonrpc":"2.0","id":1,"result":{"tools":[]}})";
  const std::string stream = "id: 1\nevent: message\ndata: " + json + "\n\n";
  Outcome outcome = parse_every_way(stream);
  EXPECT_EQ(outcome.events, std::vector<Event>{with_id(data_event(json), "1")});
  EXPECT_EQ(outcome.last_event_id, "1");
  EXPECT_EQ(outcome.pending_at_end, 0u);
  EXPECT_EQ(outcome.discarded, 0u);
}

TEST(SseParser, PrimingEventWithEmptyDataIsReported) {
  // The shape MCP's streamable HTTP servers send before the response, for resumption.
  const std::string json = R"({"jsonrpc":"2.0","id":7,"result":{}})";
  const std::string stream = "id: 4f1c_0\ndata: \n\nid: 4f1c_1\ndata: " + json + "\n\n";
  Outcome outcome = parse_every_way(stream);
  EXPECT_EQ(outcome.events, (std::vector<Event>{with_id(data_event(""), "4f1c_0"),
                                                with_id(data_event(json), "4f1c_1")}));
  EXPECT_TRUE(outcome.events[0].data_present);
}

TEST(SseParser, EventWithOnlyAnIdIsReportedWithoutData) {
  Event id_only = with_id(data_event(""), "42");
  id_only.data_present = false;
  EXPECT_EQ(parse_every_way("id: 42\n\n").events, std::vector<Event>{id_only});
}

TEST(SseParser, MultiLineDataIsJoinedWithNewlines) {
  // "data" without a colon is an empty data line; "data:x" has no space to remove; only
  // one leading space is removed.
  const std::string stream = "data: first\ndata\ndata:third\ndata:  fourth\ndata: \n\n";
  EXPECT_EQ(parse_every_way(stream).events,
            std::vector<Event>{data_event("first\n\nthird\n fourth\n")});
}

TEST(SseParser, CarriageReturnOnlyLineEndings) {
  const std::string stream = "id: 1\revent: ping\rdata: a\rdata: b\r\rdata: c\r\r";
  EXPECT_EQ(parse_every_way(stream).events,
            (std::vector<Event>{with_type(with_id(data_event("a\nb"), "1"), "ping"),
                                with_id(data_event("c"), "1", false)}));
}

TEST(SseParser, CrlfAndMixedLineEndings) {
  const std::string stream = "data: a\r\ndata: b\n\r\ndata: c\r\n\rdata: d\r\n\n";
  EXPECT_EQ(parse_every_way(stream).events,
            (std::vector<Event>{data_event("a\nb"), data_event("c"), data_event("d")}));
}

TEST(SseParser, CrlfSplitAcrossFeedsIsOneLineEnding) {
  // Were the LF taken as a second line ending, the blank line would end the event early.
  Outcome outcome = parse_pieces({"data: a\r", "\ndata: b\r", "\n\r", "\n"});
  EXPECT_EQ(outcome.events, std::vector<Event>{data_event("a\nb")});
}

TEST(SseParser, CommentsAreCountedNotReported) {
  const std::string stream = ": ping\n:\ndata: a\n: inside an event\ndata: b\n\n: bye\n";
  Outcome outcome = parse_every_way(stream);
  EXPECT_EQ(outcome.events, std::vector<Event>{data_event("a\nb")});
  EXPECT_EQ(outcome.comments, 4u);
  EXPECT_EQ(outcome.pending_at_end, 0u) << "a trailing comment is no unfinished event";
}

TEST(SseParser, RetryAcceptsDigitsOnly) {
  const std::string stream =
      "retry: 3000\ndata: a\n\n"
      "retry: 30a0\ndata: b\n\n"
      "retry: -1\ndata: c\n\n"
      "retry:\ndata: d\n\n"
      "retry: 99999999999999999999999\n\n";
  Event a = data_event("a");
  a.retry_ms = 3000;
  Event saturated;
  saturated.data_present = false;
  saturated.retry_ms = UINT64_MAX;
  EXPECT_EQ(parse_every_way(stream).events,
            (std::vector<Event>{a, data_event("b"), data_event("c"), data_event("d"), saturated}));
}

TEST(SseParser, LastEventIdPersistsUntilChanged) {
  using namespace std::string_literals;
  const std::string stream =
      "id: 1\ndata: a\n\n"
      "data: b\n\n"
      "id: 2\0x\ndata: c\n\n"s  // an id with NUL is ignored
      "id\ndata: d\n\n"         // an empty id resets the last event id
      "id: 3\ndata: e\n\n";
  ASSERT_EQ(stream.find('\0'), 29u);
  Outcome outcome = parse_every_way(stream);
  EXPECT_EQ(outcome.events,
            (std::vector<Event>{with_id(data_event("a"), "1"), with_id(data_event("b"), "1", false),
                                with_id(data_event("c"), "1", false), with_id(data_event("d"), ""),
                                with_id(data_event("e"), "3")}));
  EXPECT_EQ(outcome.last_event_id, "3");
}

TEST(SseParser, LastEventIdWaitsForTheBlankLine) {
  Outcome outcome = parse_every_way("id: 1\ndata: a\n\nid: 2\ndata: b\n");
  EXPECT_EQ(outcome.events, std::vector<Event>{with_id(data_event("a"), "1")});
  EXPECT_EQ(outcome.last_event_id, "1");
}

TEST(SseParser, EventTypeDefaultsAndDoesNotPersist) {
  const std::string stream = "event: update\ndata: a\n\ndata: b\n\nevent:\ndata: c\n\nevent\n\n";
  Event type_only;
  type_only.data_present = false;
  EXPECT_EQ(parse_every_way(stream).events,
            (std::vector<Event>{with_type(data_event("a"), "update"), data_event("b"),
                                data_event("c"), type_only}));
}

TEST(SseParser, UnknownAndMiscasedFieldsAreIgnored) {
  const std::string stream = "Data: no\nfoo: bar\ndatas: no\nlongfieldname: x\ndata: yes\n\n";
  EXPECT_EQ(parse_every_way(stream).events, std::vector<Event>{data_event("yes")});
}

TEST(SseParser, BlocksThatSetNothingReportNothing) {
  Outcome outcome = parse_every_way("\n\n\r\n: keep-alive\n\nfoo: bar\n\nretry: x\n\n");
  EXPECT_TRUE(outcome.events.empty());
  EXPECT_EQ(outcome.comments, 1u);
}

TEST(SseParser, LeadingBomIsSkippedOnce) {
  Outcome outcome = parse_every_way("\xEF\xBB\xBF: hello\ndata: a\n\n");
  EXPECT_EQ(outcome.events, std::vector<Event>{data_event("a")});
  EXPECT_EQ(outcome.comments, 1u);
  // A second BOM is content: it makes the first line a field with an unknown name.
  outcome = parse_every_way(
      "\xEF\xBB\xBF\xEF\xBB\xBF"
      "data: a\n\ndata: b\n\n");
  EXPECT_EQ(outcome.events, std::vector<Event>{data_event("b")});
}

TEST(SseParser, PartialBomIsContent) {
  // Were the two bytes dropped, the line would be a comment.
  Outcome outcome = parse_every_way("\xEF\xBB: not a comment\ndata: a\n\n");
  EXPECT_EQ(outcome.comments, 0u);
  EXPECT_EQ(outcome.events, std::vector<Event>{data_event("a")});
}

TEST(SseParser, IncompleteEventAtEndIsDiscarded) {
  const std::string stream = "data: a\n\n: note\ndata: b\nid: 9\ndata: unterminated";
  Outcome outcome = parse_every_way(stream);
  EXPECT_EQ(outcome.events, std::vector<Event>{data_event("a")});
  const uint64_t pending = std::string_view("data: b\nid: 9\ndata: unterminated").size();
  EXPECT_EQ(outcome.pending_at_end, pending);
  EXPECT_EQ(outcome.discarded, pending);
  EXPECT_EQ(outcome.last_event_id, "") << "the id of an undispatched event is not taken";
}

TEST(SseParser, LongDataIsCutAndHashed) {
  const std::string first = std::string(30, 'x');
  const std::string second = std::string(40, 'y');
  const std::string full = first + "\n" + second;
  const std::string stream = "id: 5\ndata: " + first + "\ndata: " + second + "\n\ndata: small\n\n";
  Outcome outcome = parse_every_way(stream, {.max_event_bytes = 32});
  Event cut = with_id(data_event(full.substr(0, 32)), "5");
  cut.data_size = full.size();
  cut.truncated = true;
  cut.sha256_hex = sha256_hex(full);
  EXPECT_EQ(outcome.events, (std::vector<Event>{cut, with_id(data_event("small"), "5", false)}));
}

TEST(SseParser, DataExactlyAtTheCapIsWhole) {
  Outcome outcome = parse_every_way("data: 0123\ndata: 5678\n\n", {.max_event_bytes = 9});
  EXPECT_EQ(outcome.events, std::vector<Event>{data_event("0123\n5678")});
}

TEST(SseParser, OversizedFieldValuesAreIgnoredWhole) {
  const std::string long_id(20, '7');
  const std::string stream =
      "id: 1\ndata: a\n\nid: " + long_id + "\nevent: " + long_id + "\ndata: " + long_id + "\n\n";
  Outcome outcome = parse_every_way(stream, {.max_field_bytes = 16});
  EXPECT_EQ(outcome.events, (std::vector<Event>{with_id(data_event("a"), "1"),
                                                with_id(data_event(long_id), "1", false)}));
  EXPECT_EQ(outcome.oversized_fields, 2u);
}

TEST(SseParser, LargeEventInManyFeeds) {
  std::string payload;
  for (int i = 0; i < 100000; ++i) payload += "{\"n\":" + std::to_string(i) + "}";
  const std::string stream = "data: " + payload + "\r\n\r\n";
  std::vector<std::string_view> pieces;
  for (size_t at = 0; at < stream.size(); at += 4093) {
    pieces.push_back(std::string_view(stream).substr(at, 4093));
  }
  EXPECT_EQ(parse_pieces(pieces, {.max_event_bytes = 1 << 22}).events,
            std::vector<Event>{data_event(payload)});
}

}  // namespace
}  // namespace mcptap::capture

// Server-sent events (text/event-stream, WHATWG HTML): bytes in, events out.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/sha256.h"

namespace mcptap::capture {

// One event of the stream. The views point into the parser and are valid only during the
// callback that reports the event.
struct SseEvent {
  std::string_view event_type;       // the event field's value, or "message" when it had none
  std::string_view data;             // data lines joined with "\n", at most max_event_bytes
  uint64_t data_size = 0;            // full length of the joined data, even when data was cut
  bool truncated = false;            // data holds only the first max_event_bytes
  std::string_view sha256_hex;       // SHA-256 of the full data; set when truncated
  std::string_view id;               // the last event id after this event (ids persist, per spec)
  bool has_id_field = false;         // this event set the id itself (an id field without NUL)
  std::optional<uint64_t> retry_ms;  // a valid retry field of this event (saturates)
  bool data_present = false;         // it had a data line; a browser dispatches only these
};

// Splits a text/event-stream into events as the HTML standard does, with two differences
// that capture needs: an event is reported even when it has no data (MCP servers send
// "priming" events that carry only an id, and resumption with Last-Event-ID depends on it),
// and bytes are kept as they came instead of being decoded to UTF-16. A block of lines
// that set nothing (blank lines, comments, unknown or ignored fields) reports no event.
//
// Memory stays bounded whatever the input: an event's data is cut at max_event_bytes (the
// rest is only counted and hashed), and an event, id or retry value longer than
// max_field_bytes is ignored as a whole, because a cut id or event name would be wrong.
class SseParser {
 public:
  static constexpr size_t kDefaultMaxFieldBytes = 4096;
  using EventCallback = std::function<void(const SseEvent&)>;

  explicit SseParser(uint64_t max_event_bytes, size_t max_field_bytes = kDefaultMaxFieldBytes);

  // Consumes any number of bytes; a line or a CRLF may be split anywhere. Calls on_event
  // once per event completed by these bytes, never per byte. Work is O(bytes).
  void feed(std::string_view bytes, const EventCallback& on_event);
  // End of stream. Per spec an event not closed by a blank line is discarded, as is an
  // unterminated last line. Returns how many bytes were discarded (see pending_bytes); the
  // parser is not fed again afterwards.
  uint64_t finish();

  // Bytes of the event in progress: from the first non-comment line after the last blank
  // line to the end of what was fed. Zero between events.
  uint64_t pending_bytes() const;
  // The last event id as of the last blank line, what a client would resume from.
  const std::string& last_event_id() const { return last_event_id_; }
  uint64_t events() const { return events_; }
  uint64_t comments() const { return comments_; }
  // Event, id or retry values ignored for exceeding max_field_bytes.
  uint64_t oversized_fields() const { return oversized_fields_; }

 private:
  enum class LineState { kStart, kName, kAfterColon, kValue, kSkip };
  enum class Field { kNone, kData, kEvent, kId, kRetry };
  static constexpr size_t kLongestFieldName = 5;  // "retry"

  std::string_view skip_bom(std::string_view bytes, const EventCallback& on_event);
  void consume(std::string_view bytes, const EventCallback& on_event);
  size_t consume_name(std::string_view bytes, size_t at, const EventCallback& on_event);
  size_t consume_value(std::string_view bytes, size_t at, const EventCallback& on_event);
  size_t skip_rest_of_line(std::string_view bytes, size_t at, const EventCallback& on_event);
  void begin_value();
  void append_value(std::string_view part);
  void end_line(char terminator, const EventCallback& on_event);
  void apply_field();
  void begin_data_line();
  void append_data(std::string_view part);
  void dispatch(const EventCallback& on_event);
  void reset_event();

  uint64_t max_event_bytes_;
  size_t max_field_bytes_;

  // Stream framing.
  size_t bom_matched_ = 0;
  bool bom_done_ = false;
  bool skip_next_lf_ = false;  // the last line ended with CR; an LF right after belongs to it
  uint64_t consumed_ = 0;      // bytes consumed by the line machine (after the BOM)
  std::optional<uint64_t> event_start_;  // offset of the pending event's first field line

  // The line being read.
  LineState state_ = LineState::kStart;
  Field field_ = Field::kNone;
  char name_[kLongestFieldName] = {};
  size_t name_size_ = 0;
  std::string value_;  // an event, id or retry value, at most max_field_bytes_

  // The event being built.
  std::string data_;  // at most max_event_bytes_
  uint64_t data_size_ = 0;
  bool data_present_ = false;
  bool hashing_ = false;  // data outgrew the cap; data_hash_ runs over all of it
  base::Sha256 data_hash_;
  std::string data_hash_hex_;
  std::string event_type_;
  std::string id_buffer_;  // the spec's "last event ID buffer"; survives dispatch
  bool has_id_field_ = false;
  std::optional<uint64_t> retry_ms_;
  bool event_has_fields_ = false;

  std::string last_event_id_;
  uint64_t events_ = 0;
  uint64_t comments_ = 0;
  uint64_t oversized_fields_ = 0;
};

}  // namespace mcptap::capture

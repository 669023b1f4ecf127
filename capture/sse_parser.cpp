// A streaming text/event-stream parser: a line machine fed by chunks, bounded per event.
#include "capture/sse_parser.h"

#include <limits>

namespace mcptap::capture {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kLineEnds = "\r\n";
constexpr std::string_view kDefaultEventType = "message";
// A data buffer grown by one huge event is released, so an idle stream stays small.
constexpr size_t kRetainedDataCapacity = 64u << 10;

// The spec accepts a retry value made of ASCII digits only; larger-than-life values saturate.
std::optional<uint64_t> parse_retry(std::string_view value) {
  if (value.empty()) return std::nullopt;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t milliseconds = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    milliseconds = milliseconds > (kMax - digit) / 10 ? kMax : milliseconds * 10 + digit;
  }
  return milliseconds;
}

}  // namespace

SseParser::SseParser(uint64_t max_event_bytes, size_t max_field_bytes)
    : max_event_bytes_(max_event_bytes), max_field_bytes_(max_field_bytes) {}

void SseParser::feed(std::string_view bytes, const EventCallback& on_event) {
  if (!bom_done_) bytes = skip_bom(bytes, on_event);
  consume(bytes, on_event);
}

uint64_t SseParser::finish() {
  const uint64_t discarded = pending_bytes();
  reset_event();
  event_start_.reset();
  state_ = LineState::kStart;
  value_.clear();
  return discarded;
}

uint64_t SseParser::pending_bytes() const {
  return event_start_ ? consumed_ - *event_start_ : 0;
}

// The BOM may arrive split over several feeds. Bytes that looked like its start but were
// not are stream content, so they are handed to the line machine after all.
std::string_view SseParser::skip_bom(std::string_view bytes, const EventCallback& on_event) {
  while (!bom_done_ && !bytes.empty()) {
    if (bytes.front() != kUtf8Bom[bom_matched_]) {
      bom_done_ = true;
      consume(kUtf8Bom.substr(0, bom_matched_), on_event);
      break;
    }
    bytes.remove_prefix(1);
    bom_done_ = ++bom_matched_ == kUtf8Bom.size();
  }
  return bytes;
}

void SseParser::consume(std::string_view bytes, const EventCallback& on_event) {
  size_t at = 0;
  while (at < bytes.size()) {
    if (skip_next_lf_) {
      skip_next_lf_ = false;
      if (bytes[at] == '\n') {
        ++at;
        continue;
      }
    }
    switch (state_) {
      case LineState::kStart:
      case LineState::kName:
        at = consume_name(bytes, at, on_event);
        break;
      case LineState::kAfterColon:
        // One space after the colon is syntax, not value.
        if (bytes[at] == ' ') ++at;
        state_ = LineState::kValue;
        break;
      case LineState::kValue:
        at = consume_value(bytes, at, on_event);
        break;
      case LineState::kSkip:
        at = skip_rest_of_line(bytes, at, on_event);
        break;
    }
  }
  consumed_ += bytes.size();
}

// Reads a line's first bytes up to its colon. Only names of five bytes or fewer can be a
// field the spec knows, so a longer name makes the line ignorable at once.
size_t SseParser::consume_name(std::string_view bytes, size_t at, const EventCallback& on_event) {
  for (; at < bytes.size(); ++at) {
    const char c = bytes[at];
    if (c == '\r' || c == '\n') {
      end_line(c, on_event);
      return at + 1;
    }
    if (state_ == LineState::kStart) {
      if (c == ':') {
        ++comments_;
        state_ = LineState::kSkip;
        return at + 1;
      }
      if (!event_start_) event_start_ = consumed_ + at;
      state_ = LineState::kName;
      name_size_ = 0;
    }
    if (c == ':') {
      begin_value();
      return at + 1;
    }
    if (name_size_ == kLongestFieldName) {
      state_ = LineState::kSkip;
      return at + 1;
    }
    name_[name_size_++] = c;
  }
  return at;
}

size_t SseParser::consume_value(std::string_view bytes, size_t at, const EventCallback& on_event) {
  const size_t end = bytes.find_first_of(kLineEnds, at);
  const size_t stop = end == std::string_view::npos ? bytes.size() : end;
  append_value(bytes.substr(at, stop - at));
  if (end == std::string_view::npos) return bytes.size();
  end_line(bytes[end], on_event);
  return end + 1;
}

size_t SseParser::skip_rest_of_line(std::string_view bytes, size_t at,
                                    const EventCallback& on_event) {
  const size_t end = bytes.find_first_of(kLineEnds, at);
  if (end == std::string_view::npos) return bytes.size();
  end_line(bytes[end], on_event);
  return end + 1;
}

// Names the field from the bytes before the colon (or of the whole line, when it has none).
void SseParser::begin_value() {
  const std::string_view name(name_, name_size_);
  field_ = name == "data"    ? Field::kData
           : name == "event" ? Field::kEvent
           : name == "id"    ? Field::kId
           : name == "retry" ? Field::kRetry
                             : Field::kNone;
  state_ = field_ == Field::kNone ? LineState::kSkip : LineState::kAfterColon;
  if (field_ == Field::kData) {
    begin_data_line();
  } else {
    value_.clear();
  }
}

void SseParser::append_value(std::string_view part) {
  if (part.empty()) return;
  if (field_ == Field::kData) {
    append_data(part);
    return;
  }
  if (value_.size() + part.size() > max_field_bytes_) {
    ++oversized_fields_;
    value_.clear();
    state_ = LineState::kSkip;
    return;
  }
  value_.append(part);
}

void SseParser::end_line(char terminator, const EventCallback& on_event) {
  skip_next_lf_ = terminator == '\r';
  switch (state_) {
    case LineState::kStart:
      dispatch(on_event);
      break;
    case LineState::kName:
      // A line without a colon is a field whose value is empty.
      begin_value();
      apply_field();
      break;
    case LineState::kAfterColon:
    case LineState::kValue:
      apply_field();
      break;
    case LineState::kSkip:
      break;
  }
  state_ = LineState::kStart;
}

void SseParser::apply_field() {
  switch (field_) {
    case Field::kNone:
    case Field::kData:  // data went into data_ as it arrived
      return;
    case Field::kEvent:
      event_type_ = value_;
      break;
    case Field::kId:
      // The spec ignores an id containing NUL: it could not be sent back in a header.
      if (value_.find('\0') != std::string::npos) return;
      id_buffer_ = value_;
      has_id_field_ = true;
      break;
    case Field::kRetry: {
      std::optional<uint64_t> retry = parse_retry(value_);
      if (!retry) return;
      retry_ms_ = retry;
      break;
    }
  }
  event_has_fields_ = true;
}

// Data lines are joined with "\n"; adding the separator before every line but the first
// equals the spec's "append LF, strip the last LF at dispatch" without a trailing byte.
void SseParser::begin_data_line() {
  if (data_present_) append_data("\n");
  data_present_ = true;
  event_has_fields_ = true;
}

void SseParser::append_data(std::string_view part) {
  data_size_ += part.size();
  if (!hashing_ && data_.size() + part.size() > max_event_bytes_) {
    // The data outgrows the cap: from here on only its hash grows, seeded with the prefix.
    hashing_ = true;
    data_hash_ = base::Sha256();
    data_hash_.update(data_);
  }
  if (!hashing_) {
    data_.append(part);
    return;
  }
  data_hash_.update(part);
  const size_t room = max_event_bytes_ > data_.size() ? max_event_bytes_ - data_.size() : 0;
  data_.append(part.substr(0, room));
}

// A blank line ends the event. The last event id is taken on every blank line, as the spec
// does, even when there is nothing to report.
void SseParser::dispatch(const EventCallback& on_event) {
  last_event_id_ = id_buffer_;
  event_start_.reset();
  if (event_has_fields_) {
    if (hashing_) data_hash_hex_ = data_hash_.finish_hex();
    SseEvent event;
    event.event_type = event_type_.empty() ? kDefaultEventType : std::string_view(event_type_);
    event.data = data_;
    event.data_size = data_size_;
    event.truncated = hashing_;
    event.sha256_hex = data_hash_hex_;
    event.id = last_event_id_;
    event.has_id_field = has_id_field_;
    event.retry_ms = retry_ms_;
    event.data_present = data_present_;
    ++events_;
    on_event(event);
  }
  reset_event();
}

void SseParser::reset_event() {
  data_.clear();
  if (data_.capacity() > kRetainedDataCapacity) std::string().swap(data_);
  data_size_ = 0;
  data_present_ = false;
  hashing_ = false;
  data_hash_hex_.clear();
  event_type_.clear();
  has_id_field_ = false;
  retry_ms_.reset();
  event_has_fields_ = false;
}

}  // namespace mcptap::capture

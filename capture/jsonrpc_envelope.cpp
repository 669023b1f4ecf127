// The envelope in one hand-written pass: every byte checked as nlohmann's parser checks it,
// strings looked at in place, and the few members kept parsed from their own text once
// they end. Anything unusual is left to the whole-document path.
#include "capture/jsonrpc_envelope.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "base/text.h"
#include "capture/json_bounded.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

// What an open container is to the envelope.
enum class Role {
  Batch,    // the top-level array: its object elements are messages
  Message,  // a message object: id and method kept, error as null, result and params reduced
  Params,   // a message's params object: _meta, progressToken and requestId kept
  Result,   // a message's result object: only "isError": true kept
  Drop,     // nothing below is kept (it is still checked, and checked for secrets)
};
// Where a value goes, and what it becomes if it opens a container.
enum class Slot {
  Root,          // the whole text
  BatchElement,  // an element of the top-level array
  Params,        // a message's params member
  Result,        // a message's result member: null, unless it is an object with isError true
  IsError,       // result.isError: becomes true in its result only if it is the literal true
  Keep,          // kept whole: parsed from its own text
  Drop,
};

// Bytes a string holds as they are: printable ASCII other than the quote and backslash.
constexpr std::array<bool, 256> plain_string_bytes() {
  std::array<bool, 256> table{};
  for (int c = 0x20; c < 0x80; ++c) table[c] = c != '"' && c != '\\';
  return table;
}
constexpr std::array<bool, 256> kPlainStringByte = plain_string_bytes();

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

void append_utf8(uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

class EnvelopeScanner {
 public:
  EnvelopeScanner(std::string_view text, size_t max_depth, const Redactor& redactor)
      : p_(text.data()),
        end_(text.data() + text.size()),
        max_depth_(max_depth),
        redactor_(redactor) {}

  std::optional<JsonRpcEnvelope> run() {
    // nlohmann skips a byte order mark; the whole-document path does the same.
    if (p_ < end_ && static_cast<unsigned char>(*p_) == 0xEF) return std::nullopt;
    skip_whitespace();
    bool value_next = true;
    while (true) {
      if (value_next) {
        opened_with_contents_ = false;
        if (!value()) return outcome_after_stop();
        // A container with contents wants its first element (or member's value) next.
        value_next = opened_with_contents_;
        continue;
      }
      if (kept_node_ && open_.size() == kept_depth_ && !finish_kept()) return std::nullopt;
      skip_whitespace();
      if (open_.empty()) {
        if (p_ != end_) return std::nullopt;
        return JsonRpcEnvelope{std::move(root_), false};
      }
      if (p_ == end_) return std::nullopt;
      const bool object = open_.back().object;
      if (*p_ == ',') {
        ++p_;
        skip_whitespace();
        if (object && !key()) return outcome_after_stop();
        value_next = true;
      } else if (*p_ == (object ? '}' : ']')) {
        ++p_;
        open_.pop_back();
      } else {
        return std::nullopt;
      }
    }
  }

 private:
  struct Frame {
    json* node;  // null for Role::Drop
    Role role;
    bool object;
  };
  struct Destination {
    json* node;  // null: nothing of the value is kept
    Slot slot;
  };

  std::optional<JsonRpcEnvelope> outcome_after_stop() {
    if (needs_redaction_) return JsonRpcEnvelope{json(), true};
    return std::nullopt;
  }

  void skip_whitespace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  Destination destination() {
    if (open_.empty()) return {&root_, Slot::Root};
    Frame& parent = open_.back();
    switch (parent.role) {
      case Role::Batch: {
        // The previous element is complete: nothing points into the array any more.
        auto& elements = parent.node->get_ref<json::array_t&>();
        elements.emplace_back();
        return {&elements.back(), Slot::BatchElement};
      }
      case Role::Message:
      case Role::Params:
      case Role::Result:
        return std::exchange(next_, Destination{nullptr, Slot::Drop});
      case Role::Drop:
        break;
    }
    return {nullptr, Slot::Drop};
  }

  // One value: a container is opened (its contents follow in the main loop), a scalar is
  // read whole. False when the text stops here (invalid, or a secret).
  bool value() {
    if (p_ == end_) return false;
    Destination to = destination();
    const bool container = *p_ == '{' || *p_ == '[';
    // Neither a result nor its isError is parsed: a result's scalar value is only present,
    // and isError counts only as the literal true, seen below as it is read.
    json* tool_error_of = nullptr;
    if (to.slot == Slot::IsError) {
      tool_error_of = to.node;
      to = {nullptr, Slot::Drop};
    } else if (to.slot == Slot::Result && !container) {
      to = {nullptr, Slot::Drop};
    }
    if (to.node && (to.slot == Slot::Keep || !container) && !kept_node_) {
      // Kept whole: parsed from its own text once it ends.
      kept_node_ = to.node;
      kept_begin_ = p_;
      kept_depth_ = open_.size();
      to = {nullptr, Slot::Drop};
    }
    if (container) return open(to);
    bool read = false;
    switch (*p_) {
      case '"':
        read = string_value();
        break;
      case 't':
        read = literal("true");
        if (read && tool_error_of) (*tool_error_of)["isError"] = true;
        break;
      case 'f':
        read = literal("false");
        break;
      case 'n':
        read = literal("null");
        break;
      default:
        read = number();
        break;
    }
    return read;
  }

  bool open(Destination to) {
    if (open_.size() >= max_depth_) return false;
    const bool object = *p_ == '{';
    ++p_;
    Role role = Role::Drop;  // an array where a message or params stands: kept empty
    if (to.node && to.slot == Slot::Result) {
      // The result stays null (present) unless an isError member makes it an object.
      if (object) role = Role::Result;
    } else if (to.node) {
      *to.node = object ? json::object() : json::array();
      switch (to.slot) {
        case Slot::Root:
          role = object ? Role::Message : Role::Batch;
          break;
        case Slot::BatchElement:
          if (object) role = Role::Message;
          break;
        case Slot::Params:
          if (object) role = Role::Params;
          break;
        case Slot::Result:
        case Slot::IsError:
        case Slot::Keep:
        case Slot::Drop:
          break;
      }
    }
    open_.push_back({role == Role::Drop ? nullptr : to.node, role, object});
    skip_whitespace();
    // Empty: closed by the main loop, which sees the closing bracket next.
    if (p_ < end_ && *p_ == (object ? '}' : ']')) return true;
    opened_with_contents_ = true;
    return !object || key();
  }

  // A member's name, the colon, and where its value goes. Names with escapes are left to
  // the whole document (they are rare, and a secret could hide behind one).
  bool key() {
    if (p_ == end_ || *p_ != '"') return false;
    std::string_view name;
    bool escaped = false;
    if (!scan_string(&name, &escaped) || escaped) return false;
    if (redactor_.is_secret_key(name)) return stop_for_redaction();
    skip_whitespace();
    if (p_ == end_ || *p_ != ':') return false;
    ++p_;
    skip_whitespace();
    Frame& frame = open_.back();
    next_ = {nullptr, Slot::Drop};
    if (frame.role == Role::Message) {
      if (name == "id" || name == "method") {
        next_ = {&member(frame, name), Slot::Keep};
      } else if (name == "result") {
        // Its presence, and whether a tool failed (result.isError).
        json& result = member(frame, name);
        result = nullptr;
        next_ = {&result, Slot::Result};
      } else if (name == "error") {
        member(frame, name) = nullptr;  // only its presence matters
      } else if (name == "params") {
        next_ = {&member(frame, name), Slot::Params};
      }
    } else if (frame.role == Role::Params) {
      if (name == "_meta" || name == "progressToken" || name == "requestId") {
        next_ = {&member(frame, name), Slot::Keep};
      }
    } else if (frame.role == Role::Result && name == "isError") {
      // A repeated name: the last one decides, as in nlohmann's parser.
      if (frame.node->is_object()) frame.node->erase("isError");
      next_ = {frame.node, Slot::IsError};
    }
    return true;
  }

  static json& member(Frame& frame, std::string_view name) {
    // std::map nodes never move; a repeated name overwrites, as in nlohmann's parser.
    return frame.node->get_ref<json::object_t&>()[std::string(name)];
  }

  bool stop_for_redaction() {
    needs_redaction_ = true;
    return false;
  }

  bool string_value() {
    std::string_view raw;
    bool escaped = false;
    if (!scan_string(&raw, &escaped)) return false;
    std::string_view text = raw;
    if (escaped) {
      decode_escapes(raw);
      text = scratch_;
    }
    if (redactor_.would_redact_string_value(text)) return stop_for_redaction();
    return true;
  }

  // From the opening quote to past the closing one, checking every byte. *raw is the text
  // between the quotes, *escaped whether it holds a backslash escape.
  bool scan_string(std::string_view* raw, bool* escaped) {
    const char* begin = ++p_;
    while (true) {
      while (p_ < end_ && kPlainStringByte[static_cast<unsigned char>(*p_)]) ++p_;
      if (p_ == end_) return false;
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        *raw = std::string_view(begin, static_cast<size_t>(p_ - begin));
        ++p_;
        return true;
      }
      if (c == '\\') {
        *escaped = true;
        if (!escape()) return false;
      } else if (c < 0x20) {
        return false;  // a control character must be escaped
      } else if (!utf8_sequence()) {
        return false;
      }
    }
  }

  // At a backslash: one valid escape, a surrogate pair counting as one.
  bool escape() {
    ++p_;
    if (p_ == end_) return false;
    switch (*p_) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        ++p_;
        return true;
      case 'u': {
        int unit = hex4(p_ + 1);
        if (unit < 0) return false;
        p_ += 5;
        if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a low surrogate alone
        if (unit < 0xD800 || unit > 0xDBFF) return true;
        if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') return false;
        int low = hex4(p_ + 2);
        if (low < 0xDC00 || low > 0xDFFF) return false;
        p_ += 6;
        return true;
      }
      default:
        return false;
    }
  }

  // Four hex digits at `at`, or -1.
  int hex4(const char* at) const {
    if (end_ - at < 4) return -1;
    int value = 0;
    for (int i = 0; i < 4; ++i) {
      int digit = base::hex_value(at[i]);
      if (digit < 0) return -1;
      value = value << 4 | digit;
    }
    return value;
  }

  // One multi-byte UTF-8 sequence, checked as RFC 3629 (and nlohmann) require: no overlong
  // forms, no surrogates, nothing past U+10FFFF.
  bool utf8_sequence() {
    const auto byte = [this](ptrdiff_t i) {
      return p_ + i < end_ ? static_cast<unsigned char>(p_[i]) : 0u;
    };
    const auto in = [](unsigned value, unsigned low, unsigned high) {
      return value >= low && value <= high;
    };
    const unsigned lead = byte(0);
    int length = 0;
    if (in(lead, 0xC2, 0xDF)) {
      length = 2;
    } else if (lead == 0xE0) {
      if (!in(byte(1), 0xA0, 0xBF)) return false;
      length = 3;
    } else if (in(lead, 0xE1, 0xEC) || in(lead, 0xEE, 0xEF)) {
      length = 3;
    } else if (lead == 0xED) {
      if (!in(byte(1), 0x80, 0x9F)) return false;
      length = 3;
    } else if (lead == 0xF0) {
      if (!in(byte(1), 0x90, 0xBF)) return false;
      length = 4;
    } else if (in(lead, 0xF1, 0xF3)) {
      length = 4;
    } else if (lead == 0xF4) {
      if (!in(byte(1), 0x80, 0x8F)) return false;
      length = 4;
    } else {
      return false;
    }
    for (int i = 1; i < length; ++i) {
      if (!in(byte(i), 0x80, 0xBF)) return false;
    }
    p_ += length;
    return true;
  }

  // The text of a string already checked by scan_string(), escapes resolved, in scratch_.
  void decode_escapes(std::string_view raw) {
    scratch_.clear();
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '\\') {
        scratch_.push_back(raw[i]);
        continue;
      }
      char kind = raw[++i];
      switch (kind) {
        case 'b':
          scratch_.push_back('\b');
          break;
        case 'f':
          scratch_.push_back('\f');
          break;
        case 'n':
          scratch_.push_back('\n');
          break;
        case 'r':
          scratch_.push_back('\r');
          break;
        case 't':
          scratch_.push_back('\t');
          break;
        case 'u': {
          uint32_t unit = static_cast<uint32_t>(hex4(raw.data() + i + 1));
          i += 4;
          if (unit >= 0xD800 && unit <= 0xDBFF) {
            uint32_t low = static_cast<uint32_t>(hex4(raw.data() + i + 3));
            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
          }
          append_utf8(unit, scratch_);
          break;
        }
        default:  // '"', '\\', '/'
          scratch_.push_back(kind);
          break;
      }
    }
  }

  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and, as nlohmann requires, a value a
  // double can hold.
  bool number() {
    const char* start = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ == end_ || !is_digit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      digits();
    }
    bool plain_integer = true;
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (!digits()) return false;
      plain_integer = false;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return false;
      plain_integer = false;
    }
    // Up to 19 digits fit an integer; anything else must stay finite as a double.
    if (plain_integer && p_ - start <= 19) return true;
    std::string digits(start, p_);
    return std::isfinite(std::strtod(digits.c_str(), nullptr));
  }

  // One or more digits; false when there is none.
  bool digits() {
    const char* start = p_;
    while (p_ < end_ && is_digit(*p_)) ++p_;
    return p_ > start;
  }

  // The kept value that just ended: its own text, parsed.
  bool finish_kept() {
    std::string_view text(kept_begin_, static_cast<size_t>(p_ - kept_begin_));
    base::Result<json> value = parse_json_bounded(text, static_cast<int>(max_depth_));
    if (!value) return false;  // cannot happen for text this pass accepted; stay safe
    *kept_node_ = std::move(*value);
    kept_node_ = nullptr;
    return true;
  }

  const char* p_;
  const char* const end_;
  const size_t max_depth_;
  const Redactor& redactor_;
  json root_;
  std::vector<Frame> open_;
  Destination next_{nullptr, Slot::Drop};  // set by key(): where that member's value goes
  json* kept_node_ = nullptr;              // the value being kept whole, if any
  const char* kept_begin_ = nullptr;
  size_t kept_depth_ = 0;
  std::string scratch_;                // a string with escapes, resolved
  bool opened_with_contents_ = false;  // set by open(): a value follows at once
  bool needs_redaction_ = false;
};

}  // namespace

std::optional<JsonRpcEnvelope> read_jsonrpc_envelope(std::string_view text, int max_depth,
                                                     const Redactor& redactor) {
  return EnvelopeScanner(text, max_depth > 0 ? static_cast<size_t>(max_depth) : 0, redactor).run();
}

}  // namespace mcptap::capture

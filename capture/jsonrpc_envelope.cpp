// The envelope in one hand-written pass: every byte checked as nlohmann's parser checks it,
// strings looked at in place, and the few members kept parsed from their own text once
// they end. Anything unusual is left to the whole-document path.
#include "capture/jsonrpc_envelope.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/sha256.h"
#include "base/text.h"
#include "capture/json_bounded.h"
#include "capture/operation_facts.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

// What an open container is to the envelope.
enum class Role {
  Batch,           // the top-level array: its object elements are messages
  Message,         // a message object: id, method, params, result and error
  Params,          // a message's params: what correlation and operation facts read
  Result,          // a message's result: isError true, and what operation facts read
  Error,           // a message's error object: its integer code
  Task,            // result.task (a 2025-11-25 CreateTaskResult): taskId, status
  ClientInfo,      // params.clientInfo of an initialize request: name, version
  ResultMeta,      // result._meta: the related task
  RelatedTask,     // result._meta["io.modelcontextprotocol/related-task"]: taskId
  InputRequests,   // inputRequests: bounded keys (KeptKeys), each entry's method
  InputRequest,    // one entry of inputRequests: method
  InputResponses,  // params.inputResponses: bounded keys, values left out
  Drop,            // nothing below is kept (it is still checked, and checked for secrets)
};
// Where a value goes, and what it becomes if it opens a container.
enum class Slot {
  Root,          // the whole text
  BatchElement,  // an element of the top-level array
  Params,        // a message's params member
  Result,        // a message's result member: null, unless it is an object
  IsError,       // result.isError: becomes true in its result only if it is the literal true
  Keep,          // kept whole: parsed from its own text
  Object,        // an object, opened with Destination::role; any other value stays null
  Text,          // a string, kept bounded as Destination::bound says; others stay null
  Integer,       // an integer, kept; any other value stays null
  Digest,        // a string, hashed in place into Destination::digest and never kept
  Drop,
};
// How a kept string is bounded: as extract_operation_facts() bounds what it reads.
enum class Bound { Name, TaskId, Word, Identity };

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
        return complete();
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
    json* node = nullptr;  // null: nothing of the value is kept
    Slot slot = Slot::Drop;
    Role role = Role::Drop;                        // Slot::Object: what the object is
    Bound bound = Bound::Word;                     // Slot::Text
    std::optional<std::string>* digest = nullptr;  // Slot::Digest
  };
  static Destination slot_of(json* node, Slot slot) {
    Destination destination;
    destination.node = node;
    destination.slot = slot;
    return destination;
  }
  static Destination object_of(json* node, Role role) {
    Destination destination = slot_of(node, Slot::Object);
    destination.role = role;
    return destination;
  }
  static Destination text_of(json* node, Bound bound) {
    Destination destination = slot_of(node, Slot::Text);
    destination.bound = bound;
    return destination;
  }
  static Destination digest_into(std::optional<std::string>* digest) {
    Destination destination;
    destination.slot = Slot::Digest;
    destination.digest = digest;
    return destination;
  }
  // The keys kept of the inputRequests or inputResponses object being read (only one is
  // open at a time): cut to kMaxInputKeyBytes, the `limit` smallest cut keys, as
  // extract_operation_facts() reads them from a whole document. A cut key two different
  // keys meet at is kept as null: which key it stands for is lost.
  struct KeptKeys {
    struct Origin {
      // The digest of the whole key when it was cut, to tell a repeated key (the last
      // value counts) from another one with the same beginning.
      std::optional<std::array<uint8_t, 32>> whole_key;
      bool ambiguous = false;
    };
    size_t limit = 0;
    std::map<std::string, Origin, std::less<>> origins;
  };

  JsonRpcEnvelope complete() {
    JsonRpcEnvelope envelope;
    envelope.document = std::move(root_);
    // A retry's own state first, as extract_operation_facts() reads it.
    envelope.request_state_sha256 =
        params_state_ ? std::move(params_state_) : std::move(result_state_);
    return envelope;
  }

  std::optional<JsonRpcEnvelope> outcome_after_stop() {
    if (!needs_redaction_) return std::nullopt;
    JsonRpcEnvelope envelope;
    envelope.needs_redaction = true;
    return envelope;
  }

  void skip_whitespace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  Destination destination() {
    if (open_.empty()) return slot_of(&root_, Slot::Root);
    Frame& parent = open_.back();
    switch (parent.role) {
      case Role::Batch: {
        // The previous element is complete: nothing points into the array any more.
        auto& elements = parent.node->get_ref<json::array_t&>();
        elements.emplace_back();
        return slot_of(&elements.back(), Slot::BatchElement);
      }
      case Role::Drop:
        return {};
      default:
        return std::exchange(next_, Destination{});
    }
  }

  // One value: a container is opened (its contents follow in the main loop), a scalar is
  // read whole. False when the text stops here (invalid, or a secret).
  bool value() {
    if (p_ == end_) return false;
    Destination to = destination();
    const bool container = *p_ == '{' || *p_ == '[';
    switch (to.slot) {
      case Slot::IsError:
      case Slot::Text:
      case Slot::Integer:
      case Slot::Digest:
        // Read as they are seen; a container there is not what they keep.
        if (!container) return scalar(to);
        to = {};
        break;
      case Slot::Result:
      case Slot::Object:
        // Only an object is kept (its members as its role says); anything else stays null.
        if (*p_ != '{') to = {};
        break;
      case Slot::Root:
      case Slot::BatchElement:
      case Slot::Params:
      case Slot::Keep:
      case Slot::Drop:
        break;
    }
    if (to.node && (to.slot == Slot::Keep || !container) && !kept_node_) {
      // Kept whole: parsed from its own text once it ends.
      kept_node_ = to.node;
      kept_begin_ = p_;
      kept_depth_ = open_.size();
      to = {};
    }
    if (container) return open(to);
    return scalar({});
  }

  // A scalar value, kept as `to` says.
  bool scalar(const Destination& to) {
    switch (*p_) {
      case '"': {
        std::string_view text;
        if (!string_value(&text)) return false;
        if (to.slot == Slot::Text) {
          *to.node = bounded(text, to.bound);
        } else if (to.slot == Slot::Digest) {
          // The state itself is never copied: one pass of the hash over it.
          hasher_.update(text);
          *to.digest = hasher_.finish_hex();
        }
        return true;
      }
      case 't':
        if (!literal("true")) return false;
        if (to.slot == Slot::IsError) (*to.node)["isError"] = true;
        return true;
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default: {
        std::string_view text;
        bool integer = false;
        if (!number(&text, &integer)) return false;
        // Longer digit strings do not fit 64 bits: the parser makes them doubles.
        if (to.slot == Slot::Integer && integer && text.size() <= 24) {
          base::Result<json> parsed = parse_json_bounded(text, 1);
          if (parsed) *to.node = std::move(*parsed);
        }
        return true;
      }
    }
  }

  static std::string bounded(std::string_view text, Bound bound) {
    switch (bound) {
      case Bound::Name:
        return bounded_operation_name(text);
      case Bound::TaskId:
        return bounded_task_id(text);
      case Bound::Word:
        return std::string(utf8_prefix(text, kMaxWordBytes));
      case Bound::Identity:
        return std::string(utf8_prefix(text, kMaxIdentityFieldBytes));
    }
    return {};
  }

  bool open(Destination to) {
    if (open_.size() >= max_depth_) return false;
    const bool object = *p_ == '{';
    ++p_;
    Role role = Role::Drop;  // an array where a message or params stands: kept empty
    if (to.node) {
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
          role = Role::Result;
          break;
        case Slot::Object:
          role = to.role;
          break;
        case Slot::IsError:
        case Slot::Keep:
        case Slot::Text:
        case Slot::Integer:
        case Slot::Digest:
        case Slot::Drop:
          break;
      }
    }
    if (role == Role::InputRequests) kept_keys_ = {kMaxInputsPerMessage + 1, {}};
    if (role == Role::InputResponses) kept_keys_ = {kMaxInputsPerMessage, {}};
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
    next_ = {};
    Frame& frame = open_.back();
    switch (frame.role) {
      case Role::Message:
        message_member(frame, name);
        break;
      case Role::Params:
        params_member(frame, name);
        break;
      case Role::Result:
        result_member(frame, name);
        break;
      case Role::Error:
        if (name == "code") next_ = slot_of(&reset(frame, name), Slot::Integer);
        break;
      case Role::Task:
        if (name == "taskId") next_ = text_of(&reset(frame, name), Bound::TaskId);
        if (name == "status") next_ = text_of(&reset(frame, name), Bound::Word);
        break;
      case Role::ClientInfo:
        if (name == "name" || name == "version") {
          next_ = text_of(&reset(frame, name), Bound::Identity);
        }
        break;
      case Role::ResultMeta:
        if (name == "io.modelcontextprotocol/related-task") {
          next_ = object_of(&reset(frame, name), Role::RelatedTask);
        }
        break;
      case Role::RelatedTask:
        if (name == "taskId") next_ = text_of(&reset(frame, name), Bound::TaskId);
        break;
      case Role::InputRequests:
      case Role::InputResponses:
        input_key(frame, name);
        break;
      case Role::InputRequest:
        if (name == "method") next_ = text_of(&reset(frame, name), Bound::Word);
        break;
      case Role::Batch:
      case Role::Drop:
        break;
    }
    return true;
  }

  void message_member(Frame& frame, std::string_view name) {
    // The root message's request state: a repeated params or result replaces it.
    const bool root = open_.size() == 1;
    if (name == "id" || name == "method") {
      next_ = slot_of(&member(frame, name), Slot::Keep);
    } else if (name == "result") {
      if (root) result_state_.reset();
      next_ = slot_of(&reset(frame, name), Slot::Result);
    } else if (name == "error") {
      // Present whatever it is (classification needs no more); its code when an object.
      next_ = object_of(&reset(frame, name), Role::Error);
    } else if (name == "params") {
      if (root) params_state_.reset();
      next_ = slot_of(&member(frame, name), Slot::Params);
    }
  }

  void params_member(Frame& frame, std::string_view name) {
    if (name == "_meta" || name == "progressToken" || name == "requestId") {
      next_ = slot_of(&member(frame, name), Slot::Keep);
    } else if (name == "name" || name == "uri") {
      next_ = text_of(&reset(frame, name), Bound::Name);
    } else if (name == "taskId") {
      next_ = text_of(&reset(frame, name), Bound::TaskId);
    } else if (name == "status") {
      next_ = text_of(&reset(frame, name), Bound::Word);
    } else if (name == "protocolVersion") {
      next_ = text_of(&reset(frame, name), Bound::Identity);
    } else if (name == "task") {
      next_ = object_of(&reset(frame, name), Role::Drop);  // only that it is an object
    } else if (name == "clientInfo") {
      next_ = object_of(&reset(frame, name), Role::ClientInfo);
    } else if (name == "inputResponses") {
      next_ = object_of(&reset(frame, name), Role::InputResponses);
    } else if (name == "inputRequests") {
      next_ = object_of(&reset(frame, name), Role::InputRequests);
    } else if (name == "requestState" && open_.size() == 2) {
      // Of the root message (batch items have none): its digest stands for it.
      params_state_.reset();
      next_ = digest_into(&params_state_);
    }
  }

  void result_member(Frame& frame, std::string_view name) {
    if (name == "isError") {
      // A repeated name: the last one decides, as in nlohmann's parser.
      frame.node->erase("isError");
      next_ = slot_of(frame.node, Slot::IsError);
    } else if (name == "resultType" || name == "status") {
      next_ = text_of(&reset(frame, name), Bound::Word);
    } else if (name == "taskId") {
      next_ = text_of(&reset(frame, name), Bound::TaskId);
    } else if (name == "protocolVersion") {
      next_ = text_of(&reset(frame, name), Bound::Identity);
    } else if (name == "task") {
      next_ = object_of(&reset(frame, name), Role::Task);
    } else if (name == "serverInfo" || name == "capabilities") {
      next_ = object_of(&reset(frame, name), Role::Drop);  // only that it is an object
    } else if (name == "inputRequests") {
      next_ = object_of(&reset(frame, name), Role::InputRequests);
    } else if (name == "_meta") {
      next_ = object_of(&reset(frame, name), Role::ResultMeta);
    } else if (name == "requestState" && open_.size() == 2) {
      result_state_.reset();
      next_ = digest_into(&result_state_);
    }
  }

  // A key of inputRequests or inputResponses, kept by the rule of KeptKeys.
  void input_key(Frame& frame, std::string_view name) {
    const std::string_view cut = utf8_prefix(name, kMaxInputKeyBytes);
    std::optional<std::array<uint8_t, 32>> whole_key;
    if (cut.size() < name.size()) {
      hasher_.update(name);
      whole_key = hasher_.finish();
    }
    auto& entries = frame.node->get_ref<json::object_t&>();
    auto& origins = kept_keys_.origins;
    const Role entry_role = frame.role == Role::InputRequests ? Role::InputRequest : Role::Drop;
    if (auto found = origins.find(cut); found != origins.end()) {
      json& entry = reset(frame, cut);
      if (found->second.ambiguous || found->second.whole_key != whole_key) {
        found->second.ambiguous = true;  // another key: its entry stays null
      } else {
        next_ = object_of(&entry, entry_role);  // the same key again: the last one counts
      }
      return;
    }
    if (origins.size() == kept_keys_.limit) {
      auto largest = std::prev(origins.end());
      if (cut >= largest->first) return;
      entries.erase(largest->first);
      origins.erase(largest);
    }
    origins.emplace(std::string(cut), KeptKeys::Origin{whole_key, false});
    next_ = object_of(&reset(frame, cut), entry_role);
  }

  static json& member(Frame& frame, std::string_view name) {
    // std::map nodes never move; a repeated name overwrites, as in nlohmann's parser.
    return frame.node->get_ref<json::object_t&>()[std::string(name)];
  }

  // The member, null until its value says otherwise (a repeated name starts over).
  static json& reset(Frame& frame, std::string_view name) {
    json& node = member(frame, name);
    node = nullptr;
    return node;
  }

  bool stop_for_redaction() {
    needs_redaction_ = true;
    return false;
  }

  // A string value, checked for secrets; *text is what it says, escapes resolved (it points
  // into the input, or into scratch_ until the next string).
  bool string_value(std::string_view* text) {
    std::string_view raw;
    bool escaped = false;
    if (!scan_string(&raw, &escaped)) return false;
    *text = raw;
    if (escaped) {
      decode_escapes(raw);
      *text = scratch_;
    }
    if (redactor_.would_redact_string_value(*text)) return stop_for_redaction();
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
  // double can hold. *text is the number, *integer whether it has neither fraction nor
  // exponent.
  bool number(std::string_view* text, bool* integer) {
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
    *text = std::string_view(start, static_cast<size_t>(p_ - start));
    *integer = plain_integer;
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
  Destination next_;           // set by key(): where that member's value goes
  json* kept_node_ = nullptr;  // the value being kept whole, if any
  const char* kept_begin_ = nullptr;
  size_t kept_depth_ = 0;
  std::string scratch_;                // a string with escapes, resolved
  bool opened_with_contents_ = false;  // set by open(): a value follows at once
  bool needs_redaction_ = false;
  KeptKeys kept_keys_;  // of the inputRequests or inputResponses being read
  // The root message's params.requestState and result.requestState, hashed.
  std::optional<std::string> params_state_;
  std::optional<std::string> result_state_;
  base::Sha256 hasher_;  // reused: its context is allocated once
};

}  // namespace

std::optional<JsonRpcEnvelope> read_jsonrpc_envelope(std::string_view text, int max_depth,
                                                     const Redactor& redactor) {
  return EnvelopeScanner(text, max_depth > 0 ? static_cast<size_t>(max_depth) : 0, redactor).run();
}

}  // namespace mcptap::capture

// The envelope of a JSON-RPC message, built from SAX events: what classification needs is
// kept, the rest is checked for secrets and dropped as it streams by.
#include "capture/jsonrpc_envelope.h"

#include <utility>
#include <vector>

#include "capture/envelope_scanner.h"
#include "capture/json_bounded.h"

namespace mcptap::capture {
namespace {

using nlohmann::json;

// What an open container is to the envelope.
enum class Role {
  Batch,    // the top-level array: its object elements are messages
  Message,  // a message object: id and method kept, result/error as null, params reduced
  Params,   // a message's params object: _meta, progressToken and requestId kept
  Keep,     // inside a kept member: everything is kept
  Drop,     // nothing below is kept (it is still validated and checked for secrets)
};

// Where the next value goes, and what it becomes if it opens a container.
enum class Slot {
  Root,          // the whole text
  BatchElement,  // an element of the top-level array
  Params,        // a message's params member
  Keep,
  Drop,
};

class EnvelopeBuilder {
 public:
  EnvelopeBuilder(size_t max_depth, const Redactor& redactor)
      : max_depth_(max_depth), redactor_(redactor) {}

  bool null() { return add(json(nullptr)); }
  bool boolean(bool value) { return add(json(value)); }
  bool number_integer(json::number_integer_t value) { return add(json(value)); }
  bool number_unsigned(json::number_unsigned_t value) { return add(json(value)); }
  bool number_float(json::number_float_t value, const json::string_t& /*raw*/) {
    return add(json(value));
  }
  bool string(json::string_t& value) {
    // The same test the document walk makes; a string it would change ends the envelope.
    if (redactor_.redact_string_value(value)) return needs_redaction();
    return add(json(std::move(value)));
  }
  bool binary(json::binary_t& value) { return add(json::binary(std::move(value))); }

  bool start_object(size_t /*size*/) { return open(json::value_t::object); }
  bool start_array(size_t /*size*/) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(json::string_t& name) {
    if (redactor_.is_secret_key(name)) return needs_redaction();
    Frame& frame = open_.back();
    next_ = {nullptr, Slot::Drop};
    switch (frame.role) {
      case Role::Message:
        if (name == "id" || name == "method") {
          next_ = {&member(frame, std::move(name)), Slot::Keep};
        } else if (name == "result" || name == "error") {
          member(frame, std::move(name)) = nullptr;  // only its presence matters
        } else if (name == "params") {
          next_ = {&member(frame, std::move(name)), Slot::Params};
        }
        break;
      case Role::Params:
        if (name == "_meta" || name == "progressToken" || name == "requestId") {
          next_ = {&member(frame, std::move(name)), Slot::Keep};
        }
        break;
      case Role::Keep:
        next_ = {&member(frame, std::move(name)), Slot::Keep};
        break;
      case Role::Batch:
      case Role::Drop:
        break;
    }
    return true;
  }

  template <class Exception>
  bool parse_error(size_t /*position*/, const std::string& /*token*/, const Exception& failure) {
    error_ = describe_parse_error(failure.what());
    return false;
  }

  json& document() { return root_; }
  bool redaction_needed() const { return needs_redaction_; }
  std::string& error() { return error_; }

 private:
  struct Frame {
    json* node;  // null for Role::Drop
    Role role;
  };
  struct Destination {
    json* node;  // null: the value is dropped
    Slot slot;
  };

  static json& member(Frame& frame, std::string name) {
    // std::map nodes never move: the slot stays valid until its value arrives. A repeated
    // key overwrites the earlier value, as nlohmann's own parser does.
    return frame.node->get_ref<json::object_t&>()[std::move(name)];
  }

  bool needs_redaction() {
    needs_redaction_ = true;
    return false;  // stops the parse
  }

  // Where the value now starting belongs.
  Destination destination() {
    if (open_.empty()) return {&root_, Slot::Root};
    Frame& parent = open_.back();
    switch (parent.role) {
      case Role::Batch: {
        auto& elements = parent.node->get_ref<json::array_t&>();
        elements.emplace_back();
        return {&elements.back(), Slot::BatchElement};
      }
      case Role::Keep:
        if (parent.node->is_array()) {
          // Only the innermost container grows, so nodes held for outer ones stay valid.
          auto& elements = parent.node->get_ref<json::array_t&>();
          elements.emplace_back();
          return {&elements.back(), Slot::Keep};
        }
        return std::exchange(next_, Destination{nullptr, Slot::Drop});
      case Role::Message:
      case Role::Params:
        return std::exchange(next_, Destination{nullptr, Slot::Drop});
      case Role::Drop:
        break;
    }
    return {nullptr, Slot::Drop};
  }

  bool add(json&& value) {
    Destination to = destination();
    if (to.node) *to.node = std::move(value);
    return true;
  }

  bool open(json::value_t type) {
    if (open_.size() >= max_depth_) {
      error_ = "nesting deeper than " + std::to_string(max_depth_);
      return false;
    }
    Destination to = destination();
    if (!to.node) {
      open_.push_back({nullptr, Role::Drop});
      return true;
    }
    *to.node = json(type);
    const bool object = type == json::value_t::object;
    Role role = Role::Drop;  // an array where a message or params stands: kept empty
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
      case Slot::Keep:
        role = Role::Keep;
        break;
      case Slot::Drop:
        break;
    }
    open_.push_back({role == Role::Drop ? nullptr : to.node, role});
    return true;
  }

  bool close() {
    open_.pop_back();
    return true;
  }

  size_t max_depth_;
  const Redactor& redactor_;
  json root_;
  std::vector<Frame> open_;
  Destination next_{nullptr, Slot::Drop};  // set by key(): where that member's value goes
  bool needs_redaction_ = false;
  std::string error_;
};

}  // namespace

std::optional<JsonRpcEnvelope> read_jsonrpc_envelope(std::string_view text, int max_depth,
                                                     const Redactor& redactor,
                                                     std::string* error) {
  if (auto scanned = scan_jsonrpc_envelope(text, max_depth, redactor)) return scanned;
  return parse_jsonrpc_envelope(text, max_depth, redactor, error);
}

std::optional<JsonRpcEnvelope> parse_jsonrpc_envelope(std::string_view text, int max_depth,
                                                      const Redactor& redactor,
                                                      std::string* error) {
  EnvelopeBuilder builder(max_depth > 0 ? static_cast<size_t>(max_depth) : 0, redactor);
  const char* begin = text.data();
  const bool parsed = json::sax_parse(begin, begin + text.size(), &builder);
  if (builder.redaction_needed()) return JsonRpcEnvelope{json(), true};
  if (!parsed) {
    if (error) *error = std::move(builder.error());
    return std::nullopt;
  }
  return JsonRpcEnvelope{std::move(builder.document()), false};
}

}  // namespace mcptap::capture

// Depth-bounded JSON parsing: nlohmann's iterative parser feeding our own SAX DOM builder.
#include "capture/json_bounded.h"

#include <utility>
#include <vector>

namespace mcptap::capture {
namespace {

using nlohmann::json;

// nlohmann's messages start with "[json.exception.parse_error.101] "; the tag helps nobody
// reading a captured row, so it is dropped.
std::string_view without_exception_tag(std::string_view message) {
  if (!message.empty() && message.front() == '[') {
    size_t close = message.find("] ");
    if (close != std::string_view::npos) message.remove_prefix(close + 2);
  }
  return message;
}

// nlohmann quotes the token it stopped in ("; last read: '...'"). That excerpt can be as long
// as the message and can hold a secret the redactor never sees (the text is not JSON), so
// only the lexer's verdict and what it expected are kept.
std::string without_token_excerpt(std::string_view message) {
  constexpr std::string_view kExcerpt = "; last read: '";
  constexpr std::string_view kExpected = "'; expected ";
  size_t excerpt = message.find(kExcerpt);
  if (excerpt == std::string_view::npos) return std::string(message);
  std::string text(message.substr(0, excerpt));
  size_t expected = message.rfind(kExpected);
  if (expected != std::string_view::npos && expected >= excerpt + kExcerpt.size()) {
    text.append(message.substr(expected + 1));
  }
  return text;
}

// Builds the document from SAX events, keeping its own stack of open containers. The
// parser drives it iteratively, so no call recurses per nesting level; opening a
// container past max_depth stops the parse.
class BoundedDomBuilder {
 public:
  explicit BoundedDomBuilder(size_t max_depth) : max_depth_(max_depth) {}

  bool null() { return add(json(nullptr)); }
  bool boolean(bool value) { return add(json(value)); }
  bool number_integer(json::number_integer_t value) { return add(json(value)); }
  bool number_unsigned(json::number_unsigned_t value) { return add(json(value)); }
  bool number_float(json::number_float_t value, const json::string_t& /*raw*/) {
    return add(json(value));
  }
  bool string(json::string_t& value) { return add(json(std::move(value))); }
  bool binary(json::binary_t& value) { return add(json::binary(std::move(value))); }

  bool start_object(size_t /*size*/) { return open(json::value_t::object); }
  bool start_array(size_t /*size*/) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(json::string_t& name) {
    // std::map nodes never move, so the slot stays valid until its value arrives. A repeated
    // key overwrites the earlier value, as nlohmann's own parser does.
    pending_member_ = &open_containers_.back()->get_ref<json::object_t&>()[std::move(name)];
    return true;
  }

  template <class Exception>
  bool parse_error(size_t /*position*/, const std::string& /*token*/, const Exception& failure) {
    error_ = "not JSON: " + without_token_excerpt(without_exception_tag(failure.what()));
    return false;
  }

  json& document() { return root_; }
  std::string& error() { return error_; }

 private:
  bool open(json::value_t type) {
    if (open_containers_.size() >= max_depth_) {
      error_ = "nesting deeper than " + std::to_string(max_depth_);
      return false;
    }
    open_containers_.push_back(place(json(type)));
    return true;
  }

  bool add(json&& value) {
    place(std::move(value));
    return true;
  }

  bool close() {
    open_containers_.pop_back();
    return true;
  }

  // Puts a finished value where it belongs: the root, the end of the open array, or the
  // member whose key came last. Returns where it now lives.
  json* place(json&& value) {
    if (open_containers_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json& parent = *open_containers_.back();
    if (parent.is_array()) {
      // Only the innermost container grows, so pointers held for outer ones stay valid.
      auto& elements = parent.get_ref<json::array_t&>();
      elements.push_back(std::move(value));
      return &elements.back();
    }
    *pending_member_ = std::move(value);
    return pending_member_;
  }

  size_t max_depth_;
  json root_;
  std::vector<json*> open_containers_;
  json* pending_member_ = nullptr;
  std::string error_;
};

}  // namespace

base::Result<nlohmann::json> parse_json_bounded(std::string_view text, int max_depth) {
  BoundedDomBuilder builder(max_depth > 0 ? static_cast<size_t>(max_depth) : 0);
  const char* begin = text.data();
  bool parsed = json::sax_parse(begin, begin + text.size(), &builder);
  if (!parsed) {
    // A parse that stopped half-way leaves a partial document no deeper than the limit;
    // it is released here with the builder.
    return base::fail(std::move(builder.error()));
  }
  return std::move(builder.document());
}

}  // namespace mcptap::capture

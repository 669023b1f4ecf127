// permessage-deflate (RFC 7692): reading the agreed parameters and inflating messages in
// bounded chunks, keeping the sliding window between messages when the peers agreed to.
#include "capture/permessage_deflate.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "base/text.h"

namespace mcptap::capture {
namespace {

constexpr std::string_view kExtensionName = "permessage-deflate";

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

// Splits on separator outside double quotes; a backslash inside quotes escapes one character.
std::vector<std::string_view> split_outside_quotes(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == separator) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

// RFC 6455 section 9.1: a quoted value must still be a token once its quotes are removed.
std::string unquote(std::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
  std::string plain;
  for (size_t i = 1; i + 1 < value.size(); ++i) {
    if (value[i] == '\\' && i + 2 < value.size()) ++i;
    plain.push_back(value[i]);
  }
  return plain;
}

// RFC 7692 section 7.1.2: a decimal from 8 to 15 without leading zeros.
std::optional<int> parse_window_bits(std::string_view value) {
  if (value.empty() || value.size() > 2 || value.front() == '0') return std::nullopt;
  int bits = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    bits = bits * 10 + (c - '0');
  }
  if (bits < 8 || bits > 15) return std::nullopt;
  return bits;
}

struct Parameter {
  std::string_view name;
  std::optional<std::string> value;
};

Parameter split_parameter(std::string_view text) {
  size_t equals = text.find('=');
  if (equals == std::string_view::npos) return {base::trim(text), std::nullopt};
  return {base::trim(text.substr(0, equals)), unquote(base::trim(text.substr(equals + 1)))};
}

// Applies one parameter of the permessage-deflate element.
base::Status apply_parameter(const Parameter& parameter, DeflateParams& params,
                             std::vector<std::string_view>& seen) {
  for (std::string_view earlier : seen) {
    if (equals_ignoring_case(earlier, parameter.name)) {
      return base::fail("permessage-deflate: parameter " + std::string(parameter.name) +
                        " given twice");
    }
  }
  seen.push_back(parameter.name);
  const bool is_server_takeover =
      equals_ignoring_case(parameter.name, "server_no_context_takeover");
  if (is_server_takeover || equals_ignoring_case(parameter.name, "client_no_context_takeover")) {
    if (parameter.value) {
      return base::fail("permessage-deflate: " + std::string(parameter.name) + " takes no value");
    }
    (is_server_takeover ? params.server_no_context_takeover : params.client_no_context_takeover) =
        true;
    return {};
  }
  const bool is_server_bits = equals_ignoring_case(parameter.name, "server_max_window_bits");
  if (is_server_bits || equals_ignoring_case(parameter.name, "client_max_window_bits")) {
    // A bare client_max_window_bits only says the client could honour a limit: 15 stays.
    if (!parameter.value && !is_server_bits) return {};
    std::optional<int> bits = parameter.value ? parse_window_bits(*parameter.value) : std::nullopt;
    if (!bits) {
      return base::fail("permessage-deflate: invalid " + std::string(parameter.name) + " value '" +
                        parameter.value.value_or("") + "'");
    }
    (is_server_bits ? params.server_max_window_bits : params.client_max_window_bits) = *bits;
    return {};
  }
  return base::fail("permessage-deflate: unknown parameter " + std::string(parameter.name));
}

}  // namespace

base::Result<std::optional<DeflateParams>> parse_permessage_deflate(
    std::string_view extensions_header) {
  std::optional<DeflateParams> agreed;
  for (std::string_view element : split_outside_quotes(extensions_header, ',')) {
    std::vector<std::string_view> fields = split_outside_quotes(element, ';');
    if (!equals_ignoring_case(base::trim(fields.front()), kExtensionName)) continue;
    // A server accepts one offer; two acceptances leave the stream's format ambiguous.
    if (agreed) return base::fail("permessage-deflate accepted more than once");
    DeflateParams params;
    std::vector<std::string_view> seen;
    for (size_t i = 1; i < fields.size(); ++i) {
      if (base::trim(fields[i]).empty()) continue;
      base::Status applied = apply_parameter(split_parameter(fields[i]), params, seen);
      if (!applied) return applied.error();
    }
    agreed = params;
  }
  return agreed;
}

namespace {

// The tail every message lost when its sender stripped it (RFC 7692 section 7.2.1).
constexpr std::array<Bytef, 4> kMessageTail = {0x00, 0x00, 0xff, 0xff};
constexpr size_t kOutputChunkBytes = 16 << 10;
// zlib only inflates windowBits 9..15 in raw mode; a window larger than the sender's is safe.
constexpr int kSmallestInflateWindowBits = 9;
// z_stream counts input in uInt; larger feeds are passed in slices.
constexpr size_t kLargestInputSlice = 1u << 30;

}  // namespace

struct MessageInflater::State {
  z_stream stream{};
  bool stream_ready = false;
  int window_bits = 15;
  bool no_context_takeover = false;
  bool message_had_final_block = false;
  base::Status failure;  // the first error; nothing is inflated after it
  std::array<char, kOutputChunkBytes> output;

  base::Status fail(std::string_view what) {
    if (failure) failure = base::fail("inflate: " + std::string(what));
    return failure;
  }

  base::Status inflate_input(const Bytef* input, size_t size, const OutputCallback& on_output);
  base::Status restart_keeping_window();
  bool message_ended_on_block_boundary() const { return (stream.data_type & 128) != 0; }
};

MessageInflater::MessageInflater(int max_window_bits, bool no_context_takeover)
    : state_(std::make_unique<State>()) {
  state_->window_bits = std::clamp(max_window_bits, kSmallestInflateWindowBits, 15);
  state_->no_context_takeover = no_context_takeover;
  if (inflateInit2(&state_->stream, -state_->window_bits) != Z_OK) {
    (void)state_->fail("cannot initialise zlib");  // every later call returns it
    return;
  }
  state_->stream_ready = true;
}

MessageInflater::~MessageInflater() {
  if (state_->stream_ready) inflateEnd(&state_->stream);
}

base::Status MessageInflater::feed(std::string_view compressed, const OutputCallback& on_output) {
  if (!state_->failure) return state_->failure;
  const auto* input = reinterpret_cast<const Bytef*>(compressed.data());
  for (size_t done = 0; done < compressed.size(); done += kLargestInputSlice) {
    size_t slice = std::min(kLargestInputSlice, compressed.size() - done);
    if (base::Status inflated = state_->inflate_input(input + done, slice, on_output); !inflated) {
      return inflated;
    }
  }
  return {};
}

base::Status MessageInflater::finish_message(const OutputCallback& on_output) {
  State& state = *state_;
  if (!state.failure) return state.failure;
  base::Status inflated = state.inflate_input(kMessageTail.data(), kMessageTail.size(), on_output);
  if (!inflated) return inflated;
  // A sender that ended the message with a BFINAL block has already closed its DEFLATE
  // stream; whatever followed it is padding, so the next message starts a fresh stream.
  if (state.message_had_final_block) {
    state.message_had_final_block = false;
    return state.restart_keeping_window();
  }
  if (!state.message_ended_on_block_boundary()) return state.fail("message ends inside a block");
  if (state.no_context_takeover && inflateReset(&state.stream) != Z_OK) {
    return state.fail("cannot reset zlib");
  }
  return {};
}

base::Status MessageInflater::State::inflate_input(const Bytef* input, size_t size,
                                                   const OutputCallback& on_output) {
  stream.next_in = const_cast<Bytef*>(input);
  stream.avail_in = static_cast<uInt>(size);
  for (;;) {
    stream.next_out = reinterpret_cast<Bytef*>(output.data());
    stream.avail_out = static_cast<uInt>(output.size());
    int result = inflate(&stream, Z_SYNC_FLUSH);
    size_t produced = output.size() - stream.avail_out;
    if (result != Z_OK && result != Z_STREAM_END && result != Z_BUF_ERROR) {
      return fail(stream.msg ? stream.msg : "zlib error " + std::to_string(result));
    }
    if (produced > 0) on_output(std::string_view(output.data(), produced));
    if (result == Z_STREAM_END) {
      message_had_final_block = true;
      if (base::Status restarted = restart_keeping_window(); !restarted) return restarted;
      continue;  // bytes after the final block belong to a new DEFLATE stream
    }
    // A full output chunk may hide more output; otherwise all input has been consumed.
    if (stream.avail_out != 0 && (stream.avail_in == 0 || result == Z_BUF_ERROR)) break;
  }
  if (stream.avail_in != 0) return fail("input left over");
  return {};
}

base::Status MessageInflater::State::restart_keeping_window() {
  std::vector<Bytef> window;
  if (!no_context_takeover) {
    window.resize(size_t{1} << window_bits);
    uInt window_size = static_cast<uInt>(window.size());
    if (inflateGetDictionary(&stream, window.data(), &window_size) != Z_OK) {
      return fail("cannot read the window");
    }
    window.resize(window_size);
  }
  // inflateReset keeps next_in/avail_in, so the bytes after the final block are not lost.
  if (inflateReset(&stream) != Z_OK) return fail("cannot reset zlib");
  if (!window.empty() &&
      inflateSetDictionary(&stream, window.data(), static_cast<uInt>(window.size())) != Z_OK) {
    return fail("cannot restore the window");
  }
  return {};
}

}  // namespace mcptap::capture

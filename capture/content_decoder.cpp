// Content-Encoding decoding: a chain of zlib inflaters feeding a bounded, hashing output.
#include "capture/content_decoder.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <vector>

#include "base/sha256.h"
#include "base/text.h"

namespace mcptap::capture {
namespace {

enum class Coding { kGzip, kDeflate };

constexpr size_t kOutputChunkBytes = 16 << 10;
// z_stream counts input in uInt; larger feeds are passed in slices.
constexpr size_t kLargestInputSlice = 1u << 30;
// 15 is the largest window; +32 lets zlib accept a zlib header where gzip was announced.
constexpr int kGzipWindowBits = 15 + 32;
constexpr int kZlibWindowBits = 15;
constexpr int kRawDeflateWindowBits = -15;
constexpr std::string_view kBombError = "decompression bomb";

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

// Reads the header's list into decode order: the coding applied last is undone first.
// Identity codings change nothing and drop out; empty list elements are allowed (RFC 9110
// section 5.6.1).
base::Result<std::vector<Coding>> parse_codings(std::string_view header) {
  std::vector<Coding> applied;
  while (true) {
    const size_t comma = header.find(',');
    const std::string_view name = base::trim(header.substr(0, comma));
    if (equals_ignoring_case(name, "gzip") || equals_ignoring_case(name, "x-gzip")) {
      applied.push_back(Coding::kGzip);
    } else if (equals_ignoring_case(name, "deflate")) {
      applied.push_back(Coding::kDeflate);
    } else if (!name.empty() && !equals_ignoring_case(name, "identity")) {
      return base::fail("unsupported content-encoding: " + std::string(name));
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  // Each layer holds a zlib window and an output chunk; a long list is an attack, not a body.
  if (applied.size() > ContentDecoder::kMaxCodings) {
    return base::fail("too many content-encodings: " + std::to_string(applied.size()));
  }
  return std::vector<Coding>(applied.rbegin(), applied.rend());
}

// RFC 1950 section 2.2: method 8, a window of at most 32 KiB, and a header divisible by 31.
// Raw deflate starting with two such bytes is possible but rare; browsers guess the same way.
bool looks_like_zlib_header(uint8_t cmf, uint8_t flg) {
  return (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
}

// One coding undone: inflates its input and hands every output chunk to the next step,
// which may refuse it (the bomb guard, or a failing inner layer) to stop decoding; its
// error is then passed back unchanged.
class InflateLayer {
 public:
  using Emit = std::function<base::Status(std::string_view chunk)>;

  explicit InflateLayer(Coding coding) : coding_(coding) {}
  ~InflateLayer() {
    if (ready_) inflateEnd(&stream_);
  }
  InflateLayer(const InflateLayer&) = delete;
  InflateLayer& operator=(const InflateLayer&) = delete;

  base::Status decode(std::string_view input, const Emit& emit);
  base::Status finish();
  uint64_t consumed() const { return consumed_; }
  uint64_t produced() const { return produced_; }

 private:
  std::string_view name() const { return coding_ == Coding::kGzip ? "gzip" : "deflate"; }
  base::Error fail(std::string_view what) const;
  base::Status start(int window_bits);
  base::Status take_deflate_header(std::string_view& input, const Emit& emit);
  base::Status inflate_bytes(std::string_view input, const Emit& emit);
  base::Status inflate_slice(const Bytef* input, size_t size, const Emit& emit);

  Coding coding_;
  z_stream stream_{};
  bool ready_ = false;          // zlib initialised, the format known
  bool started_ = false;        // some input arrived
  bool stream_ended_ = false;   // the last gzip member or deflate stream is complete
  std::string deflate_header_;  // deflate's first bytes, held until they tell the format
  uint64_t consumed_ = 0;
  uint64_t produced_ = 0;
  std::array<char, kOutputChunkBytes> output_;
};

// A layer is not fed again after it fails (the decoder keeps the first error), so the
// error needs no keeping here.
base::Error InflateLayer::fail(std::string_view what) const {
  return base::fail(std::string(name()) + ": " + std::string(what));
}

base::Status InflateLayer::start(int window_bits) {
  if (inflateInit2(&stream_, window_bits) != Z_OK) return fail("cannot initialise zlib");
  ready_ = true;
  return {};
}

base::Status InflateLayer::decode(std::string_view input, const Emit& emit) {
  if (input.empty()) return {};
  started_ = true;
  if (!ready_) {
    base::Status started =
        coding_ == Coding::kGzip ? start(kGzipWindowBits) : take_deflate_header(input, emit);
    if (!started) return started;
  }
  return inflate_bytes(input, emit);
}

// "deflate" should be zlib-wrapped, yet servers often send raw deflate: the first two bytes
// (which may come in separate feeds) tell which, and are then inflated like the rest.
base::Status InflateLayer::take_deflate_header(std::string_view& input, const Emit& emit) {
  const size_t wanted = 2 - deflate_header_.size();
  deflate_header_.append(input.substr(0, wanted));
  input.remove_prefix(std::min(wanted, input.size()));
  if (deflate_header_.size() < 2) return {};
  const bool zlib = looks_like_zlib_header(static_cast<uint8_t>(deflate_header_[0]),
                                           static_cast<uint8_t>(deflate_header_[1]));
  if (base::Status started = start(zlib ? kZlibWindowBits : kRawDeflateWindowBits); !started) {
    return started;
  }
  return inflate_bytes(deflate_header_, emit);
}

base::Status InflateLayer::inflate_bytes(std::string_view input, const Emit& emit) {
  const auto* bytes = reinterpret_cast<const Bytef*>(input.data());
  for (size_t done = 0; done < input.size(); done += kLargestInputSlice) {
    const size_t slice = std::min(kLargestInputSlice, input.size() - done);
    if (base::Status inflated = inflate_slice(bytes + done, slice, emit); !inflated) {
      return inflated;
    }
  }
  return {};
}

base::Status InflateLayer::inflate_slice(const Bytef* input, size_t size, const Emit& emit) {
  stream_.next_in = const_cast<Bytef*>(input);
  stream_.avail_in = static_cast<uInt>(size);
  for (;;) {
    if (stream_ended_) {
      if (stream_.avail_in == 0) return {};
      if (coding_ != Coding::kGzip) return fail("data after the end of the stream");
      // RFC 1952 section 2.2: a gzip file is a series of members; the next one follows.
      // inflateReset keeps next_in/avail_in.
      if (inflateReset(&stream_) != Z_OK) return fail("cannot reset zlib");
      stream_ended_ = false;
    }
    stream_.next_out = reinterpret_cast<Bytef*>(output_.data());
    stream_.avail_out = static_cast<uInt>(output_.size());
    const uInt available = stream_.avail_in;
    const int result = inflate(&stream_, Z_NO_FLUSH);
    consumed_ += available - stream_.avail_in;
    if (result == Z_NEED_DICT) return fail("needs a preset dictionary");
    if (result != Z_OK && result != Z_STREAM_END && result != Z_BUF_ERROR) {
      return fail(stream_.msg ? stream_.msg : "zlib error " + std::to_string(result));
    }
    const size_t produced = output_.size() - stream_.avail_out;
    if (produced > 0) {
      produced_ += produced;
      if (base::Status taken = emit(std::string_view(output_.data(), produced)); !taken) {
        return taken;
      }
    }
    if (result == Z_STREAM_END) {
      stream_ended_ = true;
      continue;
    }
    // Output room left (or no progress possible) means all input has been taken in.
    if (stream_.avail_out != 0 || result == Z_BUF_ERROR) return {};
  }
}

base::Status InflateLayer::finish() {
  if (!started_ || stream_ended_) return {};
  return fail("body ends inside the compressed stream");
}

}  // namespace

struct ContentDecoder::State {
  ContentDecoderLimits limits;
  std::vector<std::unique_ptr<InflateLayer>> layers;  // in decode order
  base::Status failure;                               // the first error; decoding stops there
  uint64_t input = 0;
  uint64_t output = 0;
  uint64_t delivered = 0;
  base::Sha256 hash;
  std::string hash_hex;
  const std::string* kept = nullptr;  // hash_only_past_cap: what the caller kept
  bool hashing = true;                // the hash has seen every output byte so far
  bool finished = false;

  base::Status push(size_t layer_index, std::string_view bytes, const OutputCallback& on_output);
  base::Status within_bomb_limits(const InflateLayer& layer) const;
  void deliver(std::string_view bytes, const OutputCallback& on_output);
};

// Hands bytes to a layer whose every output chunk goes to the next layer; past the last
// layer they are the body. The bomb check follows each chunk, so the chunk that crosses a
// limit is still counted and the body is known to be larger than what was kept.
base::Status ContentDecoder::State::push(size_t layer_index, std::string_view bytes,
                                         const OutputCallback& on_output) {
  if (layer_index == layers.size()) {
    deliver(bytes, on_output);
    return {};
  }
  InflateLayer& layer = *layers[layer_index];
  return layer.decode(bytes, [&](std::string_view chunk) -> base::Status {
    if (base::Status pushed = push(layer_index + 1, chunk, on_output); !pushed) return pushed;
    return within_bomb_limits(layer);
  });
}

base::Status ContentDecoder::State::within_bomb_limits(const InflateLayer& layer) const {
  const uint64_t produced = layer.produced();
  if (produced <= limits.max_output_bytes) return {};
  const uint64_t encoded = layers.front()->consumed();
  const bool too_large = produced > limits.max_decoded_bytes;
  const bool too_dense = limits.max_ratio != 0 && produced / limits.max_ratio > encoded;
  if (!too_large && !too_dense) return {};
  return base::fail(std::string(kBombError));
}

// Delivered output is not kept here, so the hash runs from the first byte, unless the caller
// keeps it (hash_only_past_cap): then the hash starts with that prefix when the cap is
// crossed, which spares hashing every body that fits.
void ContentDecoder::State::deliver(std::string_view bytes, const OutputCallback& on_output) {
  output += bytes.size();
  if (hashing) hash.update(bytes);
  const uint64_t room = limits.max_output_bytes - std::min(delivered, limits.max_output_bytes);
  const std::string_view prefix = bytes.substr(0, std::min<uint64_t>(room, bytes.size()));
  delivered += prefix.size();
  if (!prefix.empty()) on_output(prefix);
  if (!hashing && output > limits.max_output_bytes) {
    assert(kept->size() == delivered && "hash_only_past_cap: the caller must keep every byte");
    hashing = true;
    hash.update(*kept);
    hash.update(bytes.substr(prefix.size()));
  }
}

ContentDecoder::ContentDecoder(std::unique_ptr<State> state) : state_(std::move(state)) {}
ContentDecoder::~ContentDecoder() = default;

base::Result<std::unique_ptr<ContentDecoder>> ContentDecoder::create(
    std::string_view content_encoding, const ContentDecoderLimits& limits) {
  base::Result<std::vector<Coding>> decode_order = parse_codings(content_encoding);
  if (!decode_order) return decode_order.error();
  auto state = std::make_unique<State>();
  state->limits = limits;
  for (Coding coding : *decode_order)
    state->layers.push_back(std::make_unique<InflateLayer>(coding));
  return std::unique_ptr<ContentDecoder>(new ContentDecoder(std::move(state)));
}

base::Result<std::unique_ptr<ContentDecoder>> ContentDecoder::create(
    std::string_view content_encoding, uint64_t max_output_bytes) {
  ContentDecoderLimits limits;
  limits.max_output_bytes = max_output_bytes;
  return create(content_encoding, limits);
}

void ContentDecoder::hash_only_past_cap(const std::string* kept) {
  assert(state_->output == 0 && kept != nullptr);
  state_->kept = kept;
  state_->hashing = false;
}

base::Status ContentDecoder::feed(std::string_view encoded, const OutputCallback& on_output) {
  assert(!state_->finished && "a body is not fed after its end");
  State& state = *state_;
  if (!state.failure) return state.failure;
  state.input += encoded.size();
  if (encoded.empty()) return {};
  state.failure = state.push(0, encoded, on_output);
  return state.failure;
}

base::Status ContentDecoder::finish() {
  State& state = *state_;
  if (!state.failure || state.finished) return state.failure;
  for (const auto& layer : state.layers) {
    state.failure = layer->finish();
    if (!state.failure) return state.failure;
  }
  if (state.hashing) state.hash_hex = state.hash.finish_hex();
  state.finished = true;
  return {};
}

uint64_t ContentDecoder::total_input() const {
  return state_->input;
}

uint64_t ContentDecoder::total_output() const {
  return state_->output;
}

bool ContentDecoder::truncated() const {
  return state_->output > state_->limits.max_output_bytes;
}

const std::string& ContentDecoder::sha256_hex() const {
  return state_->hash_hex;
}

}  // namespace mcptap::capture

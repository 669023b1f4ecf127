// Line splitting for NDJSON streams, bounded by the capture cap.
#include "capture/ndjson_decoder.h"

namespace mcptap::capture {

void NdjsonDecoder::feed(std::string_view bytes, const LineCallback& on_line) {
  while (!bytes.empty()) {
    size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      append(bytes);
      return;
    }
    append(bytes.substr(0, newline));
    emit(on_line);
    bytes.remove_prefix(newline + 1);
  }
}

void NdjsonDecoder::finish(const LineCallback& on_line) {
  if (pending_size_ > 0) emit(on_line);
}

void NdjsonDecoder::append(std::string_view part) {
  if (part.empty()) return;
  pending_size_ += part.size();
  if (!hashing_ && pending_.size() + part.size() > max_line_bytes_) {
    // The line outgrows the cap: from here on only its hash grows, seeded with the prefix.
    hashing_ = true;
    overflow_hash_ = base::Sha256();
    overflow_hash_.update(pending_);
  }
  if (hashing_) {
    overflow_hash_.update(part);
    size_t room = max_line_bytes_ > pending_.size() ? max_line_bytes_ - pending_.size() : 0;
    pending_.append(part.substr(0, room));
  } else {
    pending_.append(part);
  }
}

void NdjsonDecoder::emit(const LineCallback& on_line) {
  NdjsonLine line;
  bool has_cr = !hashing_ && !pending_.empty() && pending_.back() == '\r';
  line.text = std::string_view(pending_).substr(0, pending_.size() - (has_cr ? 1 : 0));
  line.size = pending_size_ - (has_cr ? 1 : 0);
  line.truncated = hashing_;
  if (hashing_) line.sha256_hex = overflow_hash_.finish_hex();
  bool blank = line.text.find_first_not_of(" \t\r") == std::string_view::npos && !hashing_;
  if (!blank) on_line(line);
  pending_.clear();
  pending_size_ = 0;
  hashing_ = false;
  // A capacity grown by one huge line is released, so an idle connection stays small.
  if (pending_.capacity() > (64u << 10)) std::string().swap(pending_);
}

}  // namespace mcptap::capture

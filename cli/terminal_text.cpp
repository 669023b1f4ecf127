// Text from peers and captured data, made safe to print on a terminal.
#include "cli/terminal_text.h"

#include <cstdint>

namespace mcptap::cli {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// The length of the valid UTF-8 sequence at the start of text (1-4), or 0 when its first
// byte does not start one: a stray continuation byte, an overlong form, a surrogate, a
// code point past U+10FFFF, or a sequence cut short.
size_t utf8_sequence_length(std::string_view text) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  auto continuation = [&](size_t i) { return i < text.size() && (byte(i) & 0xC0) == 0x80; };
  unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xE0 && byte(1) < 0xA0) return 0;  // overlong
    if (lead == 0xED && byte(1) > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xF0 && byte(1) < 0x90) return 0;  // overlong
    if (lead == 0xF4 && byte(1) > 0x8F) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

// C1 controls are U+0080-U+009F, which UTF-8 writes as C2 80 to C2 9F: the second byte is
// the code point.
bool is_c1(std::string_view sequence) {
  return sequence.size() == 2 && static_cast<unsigned char>(sequence[0]) == 0xC2 &&
         static_cast<unsigned char>(sequence[1]) <= 0x9F;
}

void append_hex_byte(std::string& out, const char* prefix, unsigned char value) {
  out += prefix;
  out += kHex[value >> 4];
  out += kHex[value & 0x0F];
}

void append_c0_or_del(std::string& out, unsigned char c) {
  switch (c) {
    case '\t':
      out += "\\t";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    default:
      append_hex_byte(out, "\\x", c);
  }
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    auto lead = static_cast<unsigned char>(text[0]);
    size_t length = utf8_sequence_length(text);
    if (length == 0) {
      append_hex_byte(out, "\\x", lead);
      length = 1;
    } else if (lead < 0x20 || lead == 0x7F) {
      append_c0_or_del(out, lead);
    } else if (is_c1(text.substr(0, length))) {
      append_hex_byte(out, "\\u00", static_cast<unsigned char>(text[1]));
    } else {
      out.append(text.substr(0, length));
    }
    text.remove_prefix(length);
  }
  return out;
}

std::string printable_json(std::string_view json_text) {
  std::string out;
  out.reserve(json_text.size());
  while (!json_text.empty()) {
    auto lead = static_cast<unsigned char>(json_text[0]);
    size_t length = utf8_sequence_length(json_text);
    // Outside strings JSON has no room for these bytes at all, so every one of them is
    // inside a string, where an escape means the same character.
    if (length == 0) {
      out += "\\ufffd";
      length = 1;
    } else if (lead == '\t' || lead == '\n' || lead == '\r') {
      out += static_cast<char>(lead);  // whitespace between tokens, as dump(2) indents
    } else if (lead < 0x20 || lead == 0x7F) {
      append_hex_byte(out, "\\u00", lead);
    } else if (is_c1(json_text.substr(0, length))) {
      append_hex_byte(out, "\\u00", static_cast<unsigned char>(json_text[1]));
    } else {
      out.append(json_text.substr(0, length));
    }
    json_text.remove_prefix(length);
  }
  return out;
}

}  // namespace mcptap::cli

// Tests for cli/terminal_text: every control a terminal acts on is written out visibly.
#include "cli/terminal_text.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace mcptap::cli {
namespace {

std::string hex_escape(const char* prefix, unsigned value) {
  char text[16];
  std::snprintf(text, sizeof text, "%s%02x", prefix, value);
  return text;
}

// What a terminal must never receive raw: C0, DEL, and C1 whether as a code point or a byte.
bool has_terminal_control(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      return true;
    }
  }
  return false;
}

// nlohmann's strict dump refuses invalid UTF-8: an oracle independent of the code under test.
bool is_valid_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

TEST(Printable, EscapesEveryC0Control) {
  for (unsigned c = 0; c < 0x20; ++c) {
    std::string expected = c == '\t'   ? "\\t"
                           : c == '\n' ? "\\n"
                           : c == '\r' ? "\\r"
                                       : hex_escape("\\x", c);
    EXPECT_EQ(printable(std::string(1, static_cast<char>(c))), expected) << "byte " << c;
    std::string surrounded = "a";
    surrounded += static_cast<char>(c);
    surrounded += 'b';
    EXPECT_EQ(printable(surrounded), "a" + expected + "b");
  }
}

TEST(Printable, EscapesDel) {
  EXPECT_EQ(printable("\x7f"), "\\x7f");
  EXPECT_EQ(printable("rm\x7f\x7f"), "rm\\x7f\\x7f");
}

TEST(Printable, EscapesEveryC1CodePoint) {
  for (unsigned code_point = 0x80; code_point <= 0x9F; ++code_point) {
    std::string utf8 = {'\xC2', static_cast<char>(code_point)};
    EXPECT_EQ(printable(utf8), hex_escape("\\u00", code_point)) << "U+" << code_point;
  }
  EXPECT_EQ(printable("\xC2\x9B"
                      "2J"),
            "\\u009b2J");  // C1 CSI: clear screen without an ESC
}

TEST(Printable, EscapesEveryByteThatIsNotUtf8) {
  for (unsigned byte = 0x80; byte <= 0xFF; ++byte) {
    std::string alone(1, static_cast<char>(byte));
    EXPECT_EQ(printable(alone), hex_escape("\\x", byte)) << "byte " << byte;
  }
  EXPECT_EQ(printable("\x9b"
                      "2J"),
            "\\x9b2J");                                              // raw 8-bit CSI
  EXPECT_EQ(printable("\xC0\xAF"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(printable("\xE0\x80\xAF"), "\\xe0\\x80\\xaf");           // overlong, three bytes
  EXPECT_EQ(printable("\xED\xA0\x80"), "\\xed\\xa0\\x80");           // UTF-16 surrogate
  EXPECT_EQ(printable("\xF4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(printable("a\xE2\x86"), "a\\xe2\\x86");                  // cut short at the end
  EXPECT_EQ(printable("\xE2\x86z"), "\\xe2\\x86z");                  // cut short by ASCII
  EXPECT_EQ(printable("\xC2\xC2\x9B"), "\\xc2\\u009b");              // resynchronises on the next
}

TEST(Printable, KeepsValidCharacters) {
  const std::string kept[] = {"tools/call", " !\"#$%&'()*+,-./~", "\\x1b is four characters",
                              "é",          "\xC2\xA0",           "→←↳",
                              "日本語",     "\xE0\xA0\x80",       "\xEF\xBF\xBF",
                              "😀",          "\xF4\x8F\xBF\xBF",   ""};
  for (const std::string& text : kept) EXPECT_EQ(printable(text), text);
}

TEST(Printable, DefusesTerminalAttacks) {
  EXPECT_EQ(printable("\x1b]52;c;cm0gLXJmIH4=\x07"), "\\x1b]52;c;cm0gLXJmIH4=\\x07");
  EXPECT_EQ(printable("\x1b[2J\x1b[H"), "\\x1b[2J\\x1b[H");
  EXPECT_EQ(printable("ok\r\x1b[Kforged"), "ok\\r\\x1b[Kforged");
}

// Every one- and two-byte input: the output holds no control, is valid UTF-8, and escaping
// it again changes nothing.
TEST(Printable, NoInputOfTwoBytesGetsAControlThrough) {
  for (unsigned first = 0; first < 256; ++first) {
    for (unsigned second = 0; second < 256; ++second) {
      std::string input = {static_cast<char>(first), static_cast<char>(second)};
      std::string shown = printable(input);
      ASSERT_FALSE(has_terminal_control(shown)) << first << " " << second;
      ASSERT_TRUE(is_valid_utf8(shown)) << first << " " << second;
      ASSERT_EQ(printable(shown), shown) << first << " " << second;
    }
  }
}

TEST(PrintableJson, EscapesDelAndC1TheJsonWay) {
  nlohmann::json value = {{"method",
                           "a\x7f\xC2\x9B"
                           "2J\xC2\x80"},
                          {"ok", "é→"}};
  std::string text = value.dump();
  ASSERT_TRUE(has_terminal_control(text));  // nlohmann leaves DEL and C1 raw
  std::string shown = printable_json(text);
  EXPECT_FALSE(has_terminal_control(shown));
  EXPECT_NE(shown.find(R"(a\u007f\u009b2J\u0080)"), std::string::npos) << shown;
  EXPECT_NE(shown.find("é→"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(shown), value);
}

TEST(PrintableJson, KeepsIndentationAndEscapesStrayBytes) {
  nlohmann::json value = {{"a", {1, 2}}, {"b", "\x1b\n"}};
  std::string indented = value.dump(2);
  EXPECT_EQ(printable_json(indented), indented);  // C0 in strings is escaped already
  EXPECT_EQ(printable_json("\"\x1b[2J\""), R"("\u001b[2J")");
  EXPECT_EQ(printable_json("\"\x9b\""), R"("\ufffd")");
  EXPECT_EQ(nlohmann::json::parse(printable_json("\"\x01\x7f\"")), "\x01\x7f");
}

}  // namespace
}  // namespace mcptap::cli

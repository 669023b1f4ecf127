// Text from peers and captured data, made safe to print on a terminal.
#pragma once

#include <string>
#include <string_view>

namespace mcptap::cli {

// The text with every character a terminal would act on written out visibly, so that a
// captured method or a server's error message cannot move the cursor, clear the screen,
// retitle the window or set the clipboard (OSC 52). Applied where text is printed, never
// where it is stored: rows and --json output stay exact.
//   C0 controls (U+0000-U+001F) and DEL  ->  \xNN, with \t, \n and \r as themselves
//   C1 controls (U+0080-U+009F)          ->  \u00NN
//   each byte that is not valid UTF-8    ->  \xNN (always 80-FF, so never a control's form)
// Every other character, multi-byte UTF-8 included, is kept. The result is printable ASCII
// plus the kept characters, one line, and printable(printable(x)) == printable(x).
std::string printable(std::string_view text);

// JSON text (as base::json_text writes it: valid UTF-8, C0 escaped inside strings) with
// the characters JSON leaves raw but a terminal acts on escaped the JSON way: DEL as \u007f
// and C1 controls as \u0080-\u009f (likewise any raw C0 but tab, newline and carriage
// return, which are whitespace between tokens); a byte that is not valid UTF-8 becomes
// \ufffd, as json_text writes it. The result parses to the same values.
std::string printable_json(std::string_view json_text);

}  // namespace mcptap::cli

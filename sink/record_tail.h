// The admin API's live tail line for a captured record, derived from the column table.
#pragma once

#include <string>

#include "capture/record.h"

namespace mcptap::sink {

// One NDJSON line (ending in "\n"): every column the timeline shows (not bulky) but the id,
// with its value as captured, and tool_error, which the stored row keeps inside meta. Keys
// come in alphabetical order, as the tail has always written them.
std::string tail_line(const capture::Record& record);

}  // namespace mcptap::sink

// A batch of records on its way to PostgreSQL, oldest first.
#pragma once

#include <deque>

#include "capture/record.h"

namespace mcptap::sink {

// A deque: the queue hands a whole backlog over by swapping, and the sink drops settled
// records from the front as they commit.
using RecordBatch = std::deque<capture::Record>;

}  // namespace mcptap::sink

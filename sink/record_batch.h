// A batch of records on its way to PostgreSQL, oldest first.
#pragma once

#include <deque>

#include "capture/record.h"

namespace mcptap::sink {

// A deque: the sink thread drops settled records from the front as they commit, and adds
// the spool's next records at the back.
using RecordBatch = std::deque<capture::Record>;

}  // namespace mcptap::sink

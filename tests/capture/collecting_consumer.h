// A RecordConsumer for tests: keeps every record it is given, or refuses them on request.
#pragma once

#include <vector>

#include "capture/record.h"

namespace mcptap::capture {

struct CollectingConsumer : RecordConsumer {
  std::vector<Record> records;
  bool accept = true;
  int hold_depth = 0;
  int releases = 0;       // outermost releases: the writes a spool would make
  int consumed_held = 0;  // records that arrived while held
  bool consume(Record&& record) override {
    if (!accept) return false;
    if (hold_depth > 0) ++consumed_held;
    records.push_back(std::move(record));
    return true;
  }
  void hold() override { ++hold_depth; }
  void release() override {
    if (--hold_depth == 0) ++releases;
  }
};

}  // namespace mcptap::capture

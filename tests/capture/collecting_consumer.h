// A RecordConsumer for tests: keeps every record it is given, or refuses them on request.
#pragma once

#include <vector>

#include "capture/record.h"

namespace mcptap::capture {

struct CollectingConsumer : RecordConsumer {
  std::vector<Record> records;
  bool accept = true;
  bool consume(Record&& record) override {
    if (!accept) return false;
    records.push_back(std::move(record));
    return true;
  }
};

}  // namespace mcptap::capture

// The live tail's JSON line, from the column table's record_value of each shown column.
#include "sink/record_tail.h"

#include <nlohmann/json.hpp>

#include "base/json_text.h"
#include "sink/record_columns.h"

namespace mcptap::sink {

std::string tail_line(const capture::Record& record) {
  // nlohmann::json keeps its keys sorted: the line's order is the one it has always had.
  nlohmann::json line = nlohmann::json::object();
  for (const RecordColumn& column : record_columns()) {
    if (column.bulky || column.name == "id") continue;
    line[std::string(column.name)] = column.record_value(record);
  }
  line["tool_error"] = record.tool_error;
  return base::json_text(line) + "\n";
}

}  // namespace mcptap::sink

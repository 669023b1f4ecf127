// The columns of mcptap.messages, described once. The table's DDL and the staging table's,
// the COPY column list and the order of each binary tuple, the record's JSON as read back
// (`query --json`, `trace`) and as captured (the admin API's live tail, sink/record_tail.h)
// are all derived from this list; tests/sink/record_columns_test.cpp holds each of them, and
// the live table, to it.
//
// Adding a column is one entry here, with since_version the next schema version: migrate()
// then adds it (ALTER TABLE ... ADD COLUMN IF NOT EXISTS) to existing databases, and the
// contract's table in docs gets its row. A new NOT NULL column needs a default, since rows
// already stored have no value for it. A column that a Record carries must also be given a
// place in the spool frame (sink/spool_frame.cpp), under a new frame format.
#pragma once

#include <libpq-fe.h>

#include <array>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/record.h"

namespace mcptap::sink {

// What a column's value becomes in the record's JSON, from the text its read_sql returns.
// NULL is always JSON null.
enum class JsonForm {
  String,   // the text as a JSON string
  Integer,  // a JSON number
  Boolean,  // PostgreSQL's "t"/"f" as true/false
  Json,     // jsonb text parsed back into a JSON value
};

// What one tuple's encoding carries from an earlier column to a later one: meta notes that
// the payload's U+0000 escapes were replaced.
struct CopyRowState {
  bool payload_nul_replaced = false;
};

struct RecordColumn {
  std::string_view name;
  std::string_view sql_type;       // as the DDL spells it
  bool nullable;                   // NOT NULL unless true
  std::string_view table_default;  // the DEFAULT of mcptap.messages; "" for none
  int since_version;               // the schema migration that adds the column
  std::string_view read_sql;       // reads the value back as text (UTC ISO times, uuid text)
  JsonForm json;
  // A large value the timeline never shows: read only when the whole record is wanted.
  bool bulky;
  // Appends the column's field of a binary COPY tuple, read from the record.
  void (*append_copy)(const capture::Record& record, CopyRowState& state, std::string& out);
  // The column's value in the record's JSON, read from the record before it is stored: what
  // column_json makes of read_sql's text once the row is written (times in UTC, uuids as
  // text, null for what the row holds as NULL). Two differences, kept so that the live tail
  // reads as it always has: payload_bytes is not clamped to the int4 range, and a payload's
  // \u0000 escapes are not replaced (nor noted in meta).
  nlohmann::json (*record_value)(const capture::Record& record);
};

inline constexpr size_t kRecordColumnCount = 18;

// The columns in table order: the order of the DDL, of every COPY tuple and of the JSON.
const std::array<RecordColumn, kRecordColumnCount>& record_columns();

// The column's position in record_columns(); asserts the name is one.
size_t column_index(std::string_view name);
const RecordColumn& column_named(std::string_view name);

// "id, captured_at, ...": the column list of COPY and INSERT ... SELECT.
const std::string& copy_column_list();

// The statements that add the columns introduced by schema version `version`: for version 1
// the CREATE TABLE of mcptap.messages (partitioned by day on captured_at, keyed on (id,
// captured_at)); for a later one an ALTER TABLE ... ADD COLUMN IF NOT EXISTS per column.
std::vector<std::string> column_ddl(int version);
// The highest since_version of any column.
int latest_column_version();

// The session's staging table: every column with its type and NOT NULL, no defaults, no key
// (the writer role may not read mcptap.messages, so it cannot be copied with LIKE).
const std::string& staging_table_ddl();

// The SELECT list reading every column back as text, in table order. Bulky columns read as
// NULL unless with_bulky.
std::string record_select_list(bool with_bulky = true);

// One column read back by record_select_list: its text, nullopt for NULL.
using ColumnTexts = std::vector<std::optional<std::string>>;
ColumnTexts read_column_texts(const PGresult* result, int row, int first_column = 0);

// A column's value in the record's JSON.
nlohmann::ordered_json column_json(const RecordColumn& column,
                                   const std::optional<std::string>& text);
// The record's JSON: every column, in table order.
nlohmann::ordered_json record_json(const ColumnTexts& texts);

}  // namespace mcptap::sink

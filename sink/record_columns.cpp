// The column table of mcptap.messages and everything derived from it: DDL, COPY, JSON.
#include "sink/record_columns.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "sink/copy_binary.h"

namespace mcptap::sink {
namespace {

using capture::Record;

// Unix microseconds as PostgreSQL's to_char in read_sql writes them: UTC, six digits.
std::string iso_time(int64_t unix_us) {
  time_t seconds = static_cast<time_t>(unix_us / 1000000);
  tm parts;
  gmtime_r(&seconds, &parts);
  char text[40];
  size_t length = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  snprintf(text + length, sizeof text - length, ".%06lldZ",
           static_cast<long long>(unix_us % 1000000));
  return text;
}

nlohmann::json optional_json(const std::optional<std::string>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}
nlohmann::json optional_json(const std::optional<base::Uuid>& value) {
  return value ? nlohmann::json(value->to_string()) : nlohmann::json(nullptr);
}
nlohmann::json optional_json(const std::optional<int64_t>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// Captured JSON text as a value: null when empty (as the payload column stores it), and the
// text as a string if it is somehow not JSON, as stored_json reads it back.
nlohmann::json live_json(std::string_view text) {
  if (text.empty()) return nullptr;
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(text) : parsed;
}

// Changing an entry of version 1 changes what migration 1 creates on a new database but
// not on an old one: released columns never change. New columns go at the end.
constexpr std::array<RecordColumn, kRecordColumnCount> kColumns{{
    {"id", "uuid", false, "", 1, "id::text", JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) { append_copy_uuid(r.id, out); },
     [](const Record& r) { return nlohmann::json(r.id.to_string()); }},
    // Read back as UTC text, so the output does not depend on the session's TimeZone.
    {"captured_at", "timestamptz", false, "", 1,
     "to_char(captured_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
     JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) {
       append_copy_timestamp(r.captured_at_us, out);
     },
     [](const Record& r) { return nlohmann::json(iso_time(r.captured_at_us)); }},
    {"route", "text", false, "", 1, "route", JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) { append_copy_text(r.route, out); },
     [](const Record& r) { return nlohmann::json(r.route); }},
    {"connection_id", "text", false, "", 1, "connection_id", JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) {
       append_copy_text(r.connection_id, out);
     },
     [](const Record& r) { return nlohmann::json(r.connection_id); }},
    {"session_id", "text", false, "", 1, "session_id", JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) { append_copy_text(r.session_id, out); },
     [](const Record& r) { return nlohmann::json(r.session_id); }},
    {"transport", "text", false, "", 1, "transport", JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) {
       append_copy_text(to_string(r.transport), out);
     },
     [](const Record& r) { return nlohmann::json(to_string(r.transport)); }},
    {"direction", "text", false, "", 1, "direction", JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) {
       append_copy_text(to_string(r.direction), out);
     },
     [](const Record& r) { return nlohmann::json(to_string(r.direction)); }},
    {"kind", "text", false, "", 1, "kind", JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) {
       append_copy_text(to_string(r.kind), out);
     },
     [](const Record& r) { return nlohmann::json(to_string(r.kind)); }},
    // The id as JSON text, so 1 and "1" stay different; in the JSON it is that text.
    {"jsonrpc_id", "text", true, "", 1, "jsonrpc_id", JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) {
       append_copy_nullable_text(r.jsonrpc_id, out);
     },
     [](const Record& r) { return optional_json(r.jsonrpc_id); }},
    {"method", "text", true, "", 1, "method", JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) {
       append_copy_nullable_text(r.method, out);
     },
     [](const Record& r) { return optional_json(r.method); }},
    {"correlation_id", "uuid", true, "", 1, "correlation_id::text", JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) {
       append_copy_nullable_uuid(r.correlation_id, out);
     },
     [](const Record& r) { return optional_json(r.correlation_id); }},
    {"latency_us", "bigint", true, "", 1, "latency_us", JsonForm::Integer, false,
     [](const Record& r, CopyRowState&, std::string& out) {
       append_copy_nullable_int8(r.latency_us, out);
     },
     [](const Record& r) { return optional_json(r.latency_us); }},
    {"payload", "jsonb", true, "", 1, "payload::text", JsonForm::Json, true,
     [](const Record& r, CopyRowState& state, std::string& out) {
       state.payload_nul_replaced = append_copy_payload(r.payload, out);
     },
     [](const Record& r) { return live_json(r.payload.value_or("")); }},
    {"payload_bytes", "integer", false, "", 1, "payload_bytes", JsonForm::Integer, false,
     [](const Record& r, CopyRowState&, std::string& out) {
       append_copy_int4_clamped(r.payload_bytes, out);
     },
     [](const Record& r) { return nlohmann::json(r.payload_bytes); }},
    {"truncated", "boolean", false, "false", 1, "truncated", JsonForm::Boolean, false,
     [](const Record& r, CopyRowState&, std::string& out) { append_copy_bool(r.truncated, out); },
     [](const Record& r) { return nlohmann::json(r.truncated); }},
    {"redacted", "boolean", false, "false", 1, "redacted", JsonForm::Boolean, false,
     [](const Record& r, CopyRowState&, std::string& out) { append_copy_bool(r.redacted, out); },
     [](const Record& r) { return nlohmann::json(r.redacted); }},
    // After payload: it notes when the payload's U+0000 escapes were replaced.
    {"meta", "jsonb", false, "'{}'::jsonb", 1, "meta::text", JsonForm::Json, true,
     [](const Record& r, CopyRowState& state, std::string& out) {
       append_copy_meta(r.meta_json, state.payload_nul_replaced, out);
     },
     [](const Record& r) { return live_json(r.meta_json.empty() ? "{}" : r.meta_json); }},
    // Version 2. Nullable without a default, so adding it only touches the catalog, however
    // many rows are stored; rows written before it read NULL (readers fall back on
    // correlation_id, which is what a one-exchange operation gets as its id).
    {"operation_id", "uuid", true, "", 2, "operation_id::text", JsonForm::String, false,
     [](const Record& r, CopyRowState&, std::string& out) {
       append_copy_nullable_uuid(r.operation_id, out);
     },
     [](const Record& r) { return optional_json(r.operation_id); }},
}};
static_assert(!kColumns.back().name.empty(), "kRecordColumnCount counts more columns than listed");

// "name type [NOT NULL] [DEFAULT ...]" as in a CREATE TABLE or ADD COLUMN.
std::string definition(const RecordColumn& column, bool with_default) {
  std::string text = std::string(column.name) + " " + std::string(column.sql_type);
  if (!column.nullable) text += " NOT NULL";
  if (with_default && !column.table_default.empty()) {
    text += " DEFAULT " + std::string(column.table_default);
  }
  return text;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string text;
  for (const std::string& part : parts) text += (text.empty() ? "" : ", ") + part;
  return text;
}

// Stored JSON text back into a value; jsonb always holds valid JSON, but a string beats a
// crash if it ever does not.
nlohmann::ordered_json stored_json(const std::string& text) {
  nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::ordered_json(text) : parsed;
}

}  // namespace

const std::array<RecordColumn, kRecordColumnCount>& record_columns() {
  return kColumns;
}

size_t column_index(std::string_view name) {
  for (size_t i = 0; i < kColumns.size(); ++i) {
    if (kColumns[i].name == name) return i;
  }
  assert(false && "not a column of mcptap.messages");
  return 0;
}

const RecordColumn& column_named(std::string_view name) {
  return kColumns[column_index(name)];
}

const std::string& copy_column_list() {
  static const std::string list = [] {
    std::vector<std::string> names;
    for (const RecordColumn& column : kColumns) names.emplace_back(column.name);
    return joined(names);
  }();
  return list;
}

std::vector<std::string> column_ddl(int version) {
  std::vector<std::string> definitions;
  for (const RecordColumn& column : kColumns) {
    if (column.since_version == version) definitions.push_back(definition(column, true));
  }
  if (version == 1) {
    return {"CREATE TABLE IF NOT EXISTS mcptap.messages (" + joined(definitions) +
            ", PRIMARY KEY (id, captured_at)) PARTITION BY RANGE (captured_at)"};
  }
  std::vector<std::string> statements;
  for (const std::string& added : definitions) {
    statements.push_back("ALTER TABLE mcptap.messages ADD COLUMN IF NOT EXISTS " + added);
  }
  return statements;
}

int latest_column_version() {
  int latest = 1;
  for (const RecordColumn& column : kColumns) latest = std::max(latest, column.since_version);
  return latest;
}

const std::string& staging_table_ddl() {
  static const std::string ddl = [] {
    std::vector<std::string> definitions;
    for (const RecordColumn& column : kColumns) definitions.push_back(definition(column, false));
    // Staged rows vanish at commit or rollback, so every batch starts from an empty table.
    return "CREATE TEMP TABLE IF NOT EXISTS mcptap_staging (" + joined(definitions) +
           ") ON COMMIT DELETE ROWS";
  }();
  return ddl;
}

std::string record_select_list(bool with_bulky) {
  std::vector<std::string> expressions;
  for (const RecordColumn& column : kColumns) {
    expressions.emplace_back(with_bulky || !column.bulky ? column.read_sql : "NULL");
  }
  return joined(expressions);
}

ColumnTexts read_column_texts(const PGresult* result, int row, int first_column) {
  ColumnTexts texts;
  texts.reserve(kColumns.size());
  for (int i = 0; i < static_cast<int>(kColumns.size()); ++i) {
    int field = first_column + i;
    if (PQgetisnull(result, row, field)) {
      texts.emplace_back(std::nullopt);
    } else {
      texts.emplace_back(PQgetvalue(result, row, field));
    }
  }
  return texts;
}

nlohmann::ordered_json column_json(const RecordColumn& column,
                                   const std::optional<std::string>& text) {
  if (!text) return nullptr;
  switch (column.json) {
    case JsonForm::String:
      return *text;
    case JsonForm::Integer:
      return std::strtoll(text->c_str(), nullptr, 10);
    case JsonForm::Boolean:
      return *text == "t";
    case JsonForm::Json:
      return stored_json(*text);
  }
  return nullptr;
}

nlohmann::ordered_json record_json(const ColumnTexts& texts) {
  assert(texts.size() == kColumns.size());
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  for (size_t i = 0; i < kColumns.size(); ++i) {
    object[std::string(kColumns[i].name)] = column_json(kColumns[i], texts[i]);
  }
  return object;
}

}  // namespace mcptap::sink

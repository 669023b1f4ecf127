// COPY text-format rows from records: escaping, timestamps, and jsonb's U+0000 limit.
#include "sink/copy_text.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "capture/json_text.h"

namespace mcptap::sink {
namespace {

constexpr std::string_view kNull = "\\N";
constexpr std::string_view kNulEscape = "\\u0000";
constexpr std::string_view kReplacementEscape = "\\ufffd";

void append_field_separator(std::string& out) {
  out.push_back('\t');
}

void append_optional_text(const std::optional<std::string>& text, std::string& out) {
  if (text) {
    append_copy_text(*text, out);
  } else {
    out.append(kNull);
  }
}

// meta with "payload_nul_replaced": true added; meta unchanged if it is not a JSON object
// (PostgreSQL then rejects the record, as it would have anyway).
std::string meta_noting_nul_replacement(std::string_view meta_json) {
  nlohmann::json meta = nlohmann::json::parse(meta_json, nullptr, /*allow_exceptions=*/false);
  if (!meta.is_object()) return std::string(meta_json);
  meta["payload_nul_replaced"] = true;
  return capture::json_text(meta);
}

// Appends a jsonb value: its text with \u0000 escapes replaced, or \N for no JSON at all.
// Returns whether anything was replaced.
bool append_jsonb(std::string_view json, std::string& out) {
  if (json.empty()) {
    out.append(kNull);
    return false;
  }
  std::optional<std::string> replaced = replace_nul_escapes(json);
  append_copy_text(replaced ? std::string_view(*replaced) : json, out);
  return replaced.has_value();
}

void append_payload_bytes(int64_t payload_bytes, std::string& out) {
  // The column is an integer; a size past its range is clamped rather than rejected.
  out.append(
      std::to_string(std::clamp<int64_t>(payload_bytes, 0, std::numeric_limits<int32_t>::max())));
}

void append_meta(std::string_view meta_json, bool payload_nul_replaced, std::string& out) {
  if (meta_json.empty()) meta_json = "{}";
  if (!payload_nul_replaced) {
    append_jsonb(meta_json, out);
    return;
  }
  append_jsonb(meta_noting_nul_replacement(meta_json), out);
}

}  // namespace

void append_copy_text(std::string_view text, std::string& out) {
  size_t run_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char escaped;
    switch (text[i]) {
      case '\\':
        escaped = '\\';
        break;
      case '\t':
        escaped = 't';
        break;
      case '\n':
        escaped = 'n';
        break;
      case '\r':
        escaped = 'r';
        break;
      default:
        continue;
    }
    out.append(text.substr(run_start, i - run_start));
    out.push_back('\\');
    out.push_back(escaped);
    run_start = i + 1;
  }
  out.append(text.substr(run_start));
}

std::string utc_timestamp_literal(int64_t unix_us) {
  using namespace std::chrono;
  sys_time<microseconds> instant{microseconds{unix_us}};
  sys_days day = floor<days>(instant);
  year_month_day date{day};
  hh_mm_ss<microseconds> time{instant - day};
  char text[48];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u %02d:%02d:%02d.%06lld+00",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()),
                static_cast<long long>(time.subseconds().count()));
  return text;
}

std::optional<std::string> replace_nul_escapes(std::string_view json) {
  // Only an escape matters: "\\u0000" is an escaped backslash followed by text, so the
  // scan steps over every escape pair and checks the ones that start with \u.
  std::optional<std::string> out;
  // Nearly every payload has none: one search settles it without a byte-by-byte walk.
  if (json.find(kNulEscape) == std::string_view::npos) return out;
  size_t copied = 0;
  for (size_t i = 0; i + 1 < json.size(); ++i) {
    if (json[i] != '\\') continue;
    if (json.substr(i, kNulEscape.size()) == kNulEscape) {
      if (!out) out.emplace().reserve(json.size());
      out->append(json.substr(copied, i - copied));
      out->append(kReplacementEscape);
      copied = i + kNulEscape.size();
      i = copied - 1;
    } else {
      ++i;  // skip the escaped character
    }
  }
  if (out) out->append(json.substr(copied));
  return out;
}

void append_copy_row(const capture::Record& record, std::string& out) {
  out.append(record.id.to_string());
  append_field_separator(out);
  out.append(utc_timestamp_literal(record.captured_at_us));
  for (std::string_view text :
       {std::string_view(record.route), std::string_view(record.connection_id),
        std::string_view(record.session_id), to_string(record.transport),
        to_string(record.direction), to_string(record.kind)}) {
    append_field_separator(out);
    append_copy_text(text, out);
  }
  append_field_separator(out);
  append_optional_text(record.jsonrpc_id, out);
  append_field_separator(out);
  append_optional_text(record.method, out);
  append_field_separator(out);
  out.append(record.correlation_id ? record.correlation_id->to_string() : std::string(kNull));
  append_field_separator(out);
  out.append(record.latency_us ? std::to_string(*record.latency_us) : std::string(kNull));
  append_field_separator(out);
  std::string_view payload = record.payload ? std::string_view(*record.payload) : "";
  bool payload_nul_replaced = append_jsonb(payload, out);
  append_field_separator(out);
  append_payload_bytes(record.payload_bytes, out);
  append_field_separator(out);
  out.append(record.truncated ? "t" : "f");
  append_field_separator(out);
  out.append(record.redacted ? "t" : "f");
  append_field_separator(out);
  append_meta(record.meta_json, payload_nul_replaced, out);
  out.push_back('\n');
}

}  // namespace mcptap::sink

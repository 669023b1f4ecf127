// Batches into mcptap.messages: COPY straight into the table, or, when some rows are there
// already (a replay), COPY to a staging table and INSERT ... ON CONFLICT DO NOTHING; and
// bisection so one bad record never holds back the others.
#include "sink/pg_writer.h"

#include <cstdlib>

#include "sink/copy_binary.h"
#include "sink/schema.h"

namespace mcptap::sink {
namespace {

// The spool forgets a batch once its COMMIT returns; with synchronous_commit off (a server
// or role default) that COMMIT could still be lost to a server crash. "on" also covers
// a configured synchronous standby.
const std::string kDurableCommits = "SET synchronous_commit TO on";
// Staged rows vanish at commit or rollback, so every batch starts from an empty table.
// The columns are spelled out rather than copied with LIKE mcptap.messages, which needs
// SELECT on the table: the writer role gets INSERT only. They match schema.cpp's table
// (PgWriterTest.StagingColumnsMatchTheTable keeps them so).
const std::string kCreateStaging =
    "CREATE TEMP TABLE IF NOT EXISTS mcptap_staging ("
    "id uuid NOT NULL, captured_at timestamptz NOT NULL, route text NOT NULL,"
    " connection_id text NOT NULL, session_id text NOT NULL, transport text NOT NULL,"
    " direction text NOT NULL, kind text NOT NULL, jsonrpc_id text, method text,"
    " correlation_id uuid, latency_us bigint, payload jsonb, payload_bytes integer NOT NULL,"
    " truncated boolean NOT NULL, redacted boolean NOT NULL, meta jsonb NOT NULL"
    ") ON COMMIT DELETE ROWS";
const std::string kCopyIntoStaging =
    "COPY pg_temp.mcptap_staging (" + std::string(kCopyColumns) + ") FROM STDIN (FORMAT binary)";
// The fast path: rows go straight in. The primary key (id, captured_at) refuses the whole
// COPY if one row is there already, and nothing of it commits; the batch is then written
// through staging, where ON CONFLICT makes a replay of committed records a no-op.
const std::string kCopyIntoMessages =
    "COPY mcptap.messages (" + std::string(kCopyColumns) + ") FROM STDIN (FORMAT binary)";
constexpr std::string_view kUniqueViolation = "23505";
const std::string kInsertFromStaging = "INSERT INTO mcptap.messages (" + std::string(kCopyColumns) +
                                       ") SELECT " + std::string(kCopyColumns) +
                                       " FROM pg_temp.mcptap_staging ON CONFLICT DO NOTHING";

// Rows are streamed to the server in pieces of about this size.
constexpr size_t kCopyChunkBytes = 1 << 20;

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

FailureKind classify_failure(const PgFailure& failure, bool connection_ok) {
  const std::string& state = failure.sqlstate;
  if (!connection_ok || state.empty()) return FailureKind::Connection;
  // 08: connection exception; 57P0x: the server is shutting down or restarting;
  // 53: insufficient resources (too many connections, disk full) — all pass with time.
  if (starts_with(state, "08") || starts_with(state, "57P0") || starts_with(state, "53")) {
    return FailureKind::Connection;
  }
  // 22: a value does not fit its type (invalid jsonb, bad encoding); 23: a constraint;
  // 54000: a value past a limit (a jsonb too large). All belong to one record.
  if (starts_with(state, "22") || starts_with(state, "23") || state == "54000") {
    return FailureKind::Data;
  }
  return FailureKind::Server;
}

PgWriter::PgWriter(PgConnection& connection) : connection_(connection) {}

WriteResult PgWriter::write(const RecordBatch& batch) {
  WriteResult result;
  if (!batch.empty()) write_isolating(batch, 0, batch.size(), &result);
  return result;
}

// Writes [begin, end), splitting it on a data error. Returns false when a retry is needed;
// halves are written in order, so what is settled is always a prefix of the batch.
bool PgWriter::write_isolating(const RecordBatch& batch, size_t begin, size_t end,
                               WriteResult* result) {
  if (end - begin == 1) return write_single(batch, begin, result);
  uint64_t inserted = 0;
  switch (attempt(batch, begin, end, &inserted, &result->failure)) {
    case Attempt::Committed:
      result->inserted += inserted;
      result->transactions += 1;
      result->records_done = end;
      return true;
    case Attempt::Retry:
      result->needs_retry = true;
      return false;
    case Attempt::DataError:
      break;
  }
  size_t middle = begin + (end - begin) / 2;
  return write_isolating(batch, begin, middle, result) &&
         write_isolating(batch, middle, end, result);
}

bool PgWriter::write_single(const RecordBatch& batch, size_t index, WriteResult* result) {
  uint64_t inserted = 0;
  PgFailure failure;
  Attempt outcome = attempt(batch, index, index + 1, &inserted, &failure);
  // A check violation can mean the day's partition was dropped under us (retention racing
  // a replay of old records); the cache was cleared, so one more try recreates it.
  if (outcome == Attempt::DataError && failure.sqlstate == "23514") {
    outcome = attempt(batch, index, index + 1, &inserted, &failure);
  }
  switch (outcome) {
    case Attempt::Committed:
      result->inserted += inserted;
      result->transactions += 1;
      break;
    case Attempt::DataError:
      result->rejections.push_back({batch[index].id, batch[index].route, failure});
      break;
    case Attempt::Retry:
      result->needs_retry = true;
      result->failure = failure;
      return false;
  }
  result->records_done = index + 1;
  return true;
}

PgWriter::Attempt PgWriter::attempt(const RecordBatch& batch, size_t begin, size_t end,
                                    uint64_t* inserted, PgFailure* failure) {
  if (!prepare_staging(failure) || !ensure_partitions(batch, begin, end, failure)) {
    return classified(*failure);
  }
  Attempt outcome = attempt_via(Path::Direct, batch, begin, end, inserted, failure);
  if (outcome == Attempt::DataError && failure->sqlstate == kUniqueViolation) {
    outcome = attempt_via(Path::Staging, batch, begin, end, inserted, failure);
  }
  return outcome;
}

// One transaction: COPY, for staging the INSERT, COMMIT; rolled back on any failure.
PgWriter::Attempt PgWriter::attempt_via(Path path, const RecordBatch& batch, size_t begin,
                                        size_t end, uint64_t* inserted, PgFailure* failure) {
  if (!connection_.run_ok("BEGIN", failure)) return classified(*failure);
  const bool direct = path == Path::Direct;
  bool written =
      copy_rows(direct ? kCopyIntoMessages : kCopyIntoStaging, batch, begin, end, failure);
  if (written && direct) *inserted = end - begin;
  if (written && !direct) written = insert_from_staging(inserted, failure);
  if (written && connection_.run_ok("COMMIT", failure)) return Attempt::Committed;
  Attempt outcome = classified(*failure);
  if (connection_.ok()) {
    PgFailure ignored;
    connection_.run_ok("ROLLBACK", &ignored);
  }
  return outcome;
}

PgWriter::Attempt PgWriter::classified(const PgFailure& failure) {
  if (classify_failure(failure, connection_.ok()) != FailureKind::Data) return Attempt::Retry;
  // The failure may come from a partition that vanished; ask again next time.
  days_with_partition_.clear();
  return Attempt::DataError;
}

bool PgWriter::prepare_staging(PgFailure* failure) {
  if (staging_ready_) return true;
  staging_ready_ =
      connection_.run_ok(kDurableCommits, failure) && connection_.run_ok(kCreateStaging, failure);
  return staging_ready_;
}

bool PgWriter::ensure_partitions(const RecordBatch& batch, size_t begin, size_t end,
                                 PgFailure* failure) {
  for (size_t i = begin; i < end; ++i) {
    int64_t day = utc_day_of(batch[i].captured_at_us);
    if (days_with_partition_.count(day)) continue;
    if (!ensure_partition_for(connection_, batch[i].captured_at_us, failure)) return false;
    days_with_partition_.insert(day);
  }
  return true;
}

bool PgWriter::copy_rows(const std::string& copy_sql, const RecordBatch& batch, size_t begin,
                         size_t end, PgFailure* failure) {
  if (!connection_.copy_begin(copy_sql, failure)) return false;
  copy_buffer_.clear();
  append_copy_header(copy_buffer_);
  for (size_t i = begin; i < end; ++i) {
    append_copy_row(batch[i], copy_buffer_);
    if (copy_buffer_.size() >= kCopyChunkBytes) {
      if (!connection_.copy_send(copy_buffer_, failure)) return false;
      copy_buffer_.clear();
    }
  }
  append_copy_trailer(copy_buffer_);
  bool sent = connection_.copy_send(copy_buffer_, failure);
  // A big batch must not pin its buffer for the life of the connection.
  if (copy_buffer_.capacity() > 4 * kCopyChunkBytes) std::string().swap(copy_buffer_);
  return sent && connection_.copy_end(failure);
}

bool PgWriter::insert_from_staging(uint64_t* inserted, PgFailure* failure) {
  PgResult result = connection_.run(kInsertFromStaging, {}, failure);
  if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) return false;
  *inserted = std::strtoull(PQcmdTuples(result.get()), nullptr, 10);
  return true;
}

}  // namespace mcptap::sink

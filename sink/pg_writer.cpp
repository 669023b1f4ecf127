// Batches into mcptap.messages: COPY straight into the table, or, when some rows are there
// already (a replay), COPY to a staging table and INSERT ... ON CONFLICT DO NOTHING; and
// bisection so one bad record never holds back the others.
#include "sink/pg_writer.h"

#include <cstdlib>

#include "sink/copy_binary.h"
#include "sink/record_columns.h"
#include "sink/schema.h"

namespace mcptap::sink {
namespace {

// The spool forgets a batch once its COMMIT returns; with synchronous_commit off (a server
// or role default) that COMMIT could still be lost to a server crash. "on" also covers
// a configured synchronous standby.
const std::string kDurableCommits = "SET synchronous_commit TO on";
// The staging table (record_columns.h) spells its columns out rather than copying them with
// LIKE mcptap.messages, which needs SELECT on the table: the writer role gets INSERT only.
const std::string kCopyIntoStaging =
    "COPY pg_temp.mcptap_staging (" + copy_column_list() + ") FROM STDIN (FORMAT binary)";
// The fast path: rows go straight in. The primary key (id, captured_at) refuses the whole
// COPY if one row is there already, and nothing of it commits; the batch is then written
// through staging, where ON CONFLICT makes a replay of committed records a no-op.
const std::string kCopyIntoMessages =
    "COPY mcptap.messages (" + copy_column_list() + ") FROM STDIN (FORMAT binary)";
constexpr std::string_view kUniqueViolation = "23505";
const std::string kInsertFromStaging = "INSERT INTO mcptap.messages (" + copy_column_list() +
                                       ") SELECT " + copy_column_list() +
                                       " FROM pg_temp.mcptap_staging ON CONFLICT DO NOTHING";

// Rows are streamed to the server in pieces of about this size.
constexpr size_t kCopyChunkBytes = 1 << 20;

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

FailureKind classify_failure(const base::Error& failure, bool connection_ok) {
  const std::string& state = failure.code;
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
  Attempt tried = attempt(batch, begin, end);
  switch (tried.outcome) {
    case Outcome::Committed:
      result->inserted += tried.inserted;
      result->transactions += 1;
      result->records_done = end;
      return true;
    case Outcome::Retry:
      result->needs_retry = true;
      result->failure = std::move(tried.failure);
      return false;
    case Outcome::DataError:
      break;
  }
  size_t middle = begin + (end - begin) / 2;
  return write_isolating(batch, begin, middle, result) &&
         write_isolating(batch, middle, end, result);
}

bool PgWriter::write_single(const RecordBatch& batch, size_t index, WriteResult* result) {
  Attempt tried = attempt(batch, index, index + 1);
  // A check violation can mean the day's partition was dropped under us (retention racing
  // a replay of old records); the cache was cleared, so one more try recreates it.
  if (tried.outcome == Outcome::DataError && tried.failure.code == "23514") {
    tried = attempt(batch, index, index + 1);
  }
  switch (tried.outcome) {
    case Outcome::Committed:
      result->inserted += tried.inserted;
      result->transactions += 1;
      break;
    case Outcome::DataError:
      result->rejections.push_back({batch[index].id, batch[index].route, tried.failure});
      break;
    case Outcome::Retry:
      result->needs_retry = true;
      result->failure = std::move(tried.failure);
      return false;
  }
  result->records_done = index + 1;
  return true;
}

PgWriter::Attempt PgWriter::attempt(const RecordBatch& batch, size_t begin, size_t end) {
  if (base::Status ready = prepare_staging(); !ready) return failed(ready.error());
  if (base::Status ready = ensure_partitions(batch, begin, end); !ready) {
    return failed(ready.error());
  }
  Attempt tried = attempt_via(Path::Direct, batch, begin, end);
  if (tried.outcome == Outcome::DataError && tried.failure.code == kUniqueViolation) {
    tried = attempt_via(Path::Staging, batch, begin, end);
  }
  return tried;
}

// One transaction: COPY, for staging the INSERT, COMMIT; rolled back on any failure.
PgWriter::Attempt PgWriter::attempt_via(Path path, const RecordBatch& batch, size_t begin,
                                        size_t end) {
  if (auto began = connection_.run("BEGIN"); !began) return failed(began.error());
  const bool direct = path == Path::Direct;
  Attempt tried;
  base::Status written =
      copy_rows(direct ? kCopyIntoMessages : kCopyIntoStaging, batch, begin, end);
  if (written && direct) tried.inserted = end - begin;
  if (written && !direct) {
    base::Result<uint64_t> inserted = insert_from_staging();
    if (inserted) {
      tried.inserted = *inserted;
    } else {
      written = inserted.error();
    }
  }
  if (written) {
    auto committed = connection_.run("COMMIT");
    if (committed) return tried;
    written = committed.error();
  }
  tried = failed(written.error());
  if (connection_.ok()) (void)connection_.run("ROLLBACK");
  return tried;
}

PgWriter::Attempt PgWriter::failed(base::Error failure) {
  Attempt tried;
  tried.failure = std::move(failure);
  if (classify_failure(tried.failure, connection_.ok()) != FailureKind::Data) {
    tried.outcome = Outcome::Retry;
    return tried;
  }
  // The failure may come from a partition that vanished; ask again next time.
  days_with_partition_.clear();
  tried.outcome = Outcome::DataError;
  return tried;
}

base::Status PgWriter::prepare_staging() {
  if (staging_ready_) return {};
  if (auto durable = connection_.run(kDurableCommits); !durable) return durable.error();
  if (auto staging = connection_.run(staging_table_ddl()); !staging) return staging.error();
  staging_ready_ = true;
  return {};
}

base::Status PgWriter::ensure_partitions(const RecordBatch& batch, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    int64_t day = utc_day_of(batch[i].captured_at_us);
    if (days_with_partition_.count(day)) continue;
    if (base::Status made = ensure_partition_for(connection_, batch[i].captured_at_us); !made) {
      return made;
    }
    days_with_partition_.insert(day);
  }
  return {};
}

base::Status PgWriter::copy_rows(const std::string& copy_sql, const RecordBatch& batch,
                                 size_t begin, size_t end) {
  if (base::Status began = connection_.copy_begin(copy_sql); !began) return began;
  copy_buffer_.clear();
  append_copy_header(copy_buffer_);
  for (size_t i = begin; i < end; ++i) {
    append_copy_row(batch[i], copy_buffer_);
    if (copy_buffer_.size() >= kCopyChunkBytes) {
      if (base::Status sent = connection_.copy_send(copy_buffer_); !sent) return sent;
      copy_buffer_.clear();
    }
  }
  append_copy_trailer(copy_buffer_);
  base::Status sent = connection_.copy_send(copy_buffer_);
  // A big batch must not pin its buffer for the life of the connection.
  if (copy_buffer_.capacity() > 4 * kCopyChunkBytes) std::string().swap(copy_buffer_);
  if (!sent) return sent;
  return connection_.copy_end();
}

base::Result<uint64_t> PgWriter::insert_from_staging() {
  auto result = connection_.run(kInsertFromStaging);
  if (!result) return result.error();
  return std::strtoull(PQcmdTuples(result->get()), nullptr, 10);
}

}  // namespace mcptap::sink

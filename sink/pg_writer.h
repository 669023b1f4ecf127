// Writes batches of records into mcptap.messages, one transaction per batch: COPY straight
// in, or for a batch holding rows already written (a replay) COPY into a staging table and
// an idempotent INSERT ... ON CONFLICT DO NOTHING.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/result.h"
#include "base/uuid.h"
#include "sink/pg_connection.h"
#include "sink/record_batch.h"

namespace mcptap::sink {

// What a failed statement means for the records it carried.
enum class FailureKind {
  Connection,  // the connection is gone or the server is going away: reconnect, retry
  Data,        // PostgreSQL refused a value (SQLSTATE class 22/23, 54000): isolate the record
  Server,      // anything else (missing table, permissions): reconnect, re-migrate, retry
};
// failure.code is the SQLSTATE; empty when libpq gave up on the connection.
FailureKind classify_failure(const base::Error& failure, bool connection_ok);

// A record PostgreSQL would not take; identifiers only, never the payload.
struct Rejection {
  base::Uuid id;
  std::string route;
  base::Error failure;
};

struct WriteResult {
  // The leading records of the batch that are settled: committed (or already present from
  // an earlier replay) or rejected. The rest, if any, must be written again.
  size_t records_done = 0;
  uint64_t inserted = 0;      // new rows committed
  uint64_t transactions = 0;  // transactions committed (more than one when isolating)
  std::vector<Rejection> rejections;
  bool needs_retry = false;  // stopped early: reconnect, back off, retry the rest
  base::Error failure;       // why, when needs_retry
};

class PgWriter {
 public:
  // The connection must be open; the writer keeps per-connection state (its staging table,
  // the days known to have partitions), so make a new writer for a new connection.
  explicit PgWriter(PgConnection& connection);

  // Writes the batch. A record that PostgreSQL refuses is found by bisecting the batch and
  // rejected alone; everything else commits. Replaying records already written adds nothing.
  WriteResult write(const RecordBatch& batch);

 private:
  enum class Outcome { Committed, DataError, Retry };
  enum class Path { Direct, Staging };
  // What one transaction over [begin, end) came to: rows inserted, or why not.
  struct Attempt {
    Outcome outcome = Outcome::Committed;
    uint64_t inserted = 0;
    base::Error failure;
  };

  bool write_isolating(const RecordBatch& batch, size_t begin, size_t end, WriteResult* result);
  bool write_single(const RecordBatch& batch, size_t index, WriteResult* result);
  Attempt attempt(const RecordBatch& batch, size_t begin, size_t end);
  Attempt attempt_via(Path path, const RecordBatch& batch, size_t begin, size_t end);
  Attempt failed(base::Error failure);
  base::Status prepare_staging();
  base::Status ensure_partitions(const RecordBatch& batch, size_t begin, size_t end);
  base::Status copy_rows(const std::string& copy_sql, const RecordBatch& batch, size_t begin,
                         size_t end);
  base::Result<uint64_t> insert_from_staging();

  PgConnection& connection_;
  bool staging_ready_ = false;  // the session is set up: durable commits, staging table
  std::unordered_set<int64_t> days_with_partition_;
  std::string copy_buffer_;
};

}  // namespace mcptap::sink

// libpq behind RAII: one connection and the few calls the sink needs.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mcptap::sink {

struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// Why a statement failed. sqlstate is empty when libpq itself gave up (the connection
// dropped, say). message is PostgreSQL's primary message only: the DETAIL and CONTEXT
// lines can quote the input, and captured payloads must never reach a log.
struct PgFailure {
  std::string sqlstate;
  std::string message;
};

class PgConnection {
 public:
  // Connects (blocking). ok() tells whether it worked; error() why not. Unless the URL says
  // otherwise, a connect gives up after 5 s and TCP keepalives notice a vanished server.
  explicit PgConnection(const std::string& url);
  bool ok() const;
  std::string error() const;
  PGconn* raw() const { return connection_.get(); }

  // Runs a statement with text parameters. Returns the result; *error set unless it
  // succeeded (PGRES_COMMAND_OK or PGRES_TUPLES_OK).
  PgResult exec(const std::string& sql, const std::vector<std::string>& params, std::string* error);
  bool exec_ok(const std::string& sql, std::string* error);

  // The same as exec, reporting the SQLSTATE so callers can tell a lost connection from
  // bad data.
  PgResult run(const std::string& sql, const std::vector<std::string>& params, PgFailure* failure);
  bool run_ok(const std::string& sql, PgFailure* failure);

  // COPY ... FROM STDIN: begin with the COPY statement, send the data in any number of
  // pieces, then end, which reports whether the server accepted all of it.
  bool copy_begin(const std::string& copy_sql, PgFailure* failure);
  bool copy_send(std::string_view data, PgFailure* failure);
  bool copy_end(PgFailure* failure);

 private:
  PgFailure libpq_failure() const;

  struct ConnDeleter {
    void operator()(PGconn* connection) const { PQfinish(connection); }
  };
  std::unique_ptr<PGconn, ConnDeleter> connection_;
};

}  // namespace mcptap::sink

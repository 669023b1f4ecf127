// libpq behind RAII: one connection and the few calls the sink needs.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace mcptap::sink {

struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// A failed statement is a base::Error whose code is the SQLSTATE; the code is empty when
// libpq itself gave up (the connection dropped, say), which is how callers tell a lost
// connection from bad data.
//
// How much of the server's error text the message carries. Primary is PostgreSQL's primary
// message only: the DETAIL and CONTEXT lines can quote the input, and captured payloads
// must never reach a log. Full is the whole report on one line ("ERROR:  ... LINE 1: ..."),
// for a person at the command line who wrote nothing captured into the statement.
enum class ErrorText { Primary, Full };

// The error as one line for a person or a log: the message, then "(SQLSTATE 42501)" when
// the server gave one.
std::string describe(const base::Error& error);

class PgConnection {
 public:
  // Connects (blocking). ok() tells whether it worked; error() why not. Unless the URL says
  // otherwise, a connect gives up after 5 s and TCP keepalives notice a vanished server.
  explicit PgConnection(const std::string& url);
  bool ok() const;
  std::string error() const;
  PGconn* raw() const { return connection_.get(); }

  // Runs a statement with text parameters. The result when it succeeded (PGRES_COMMAND_OK
  // or PGRES_TUPLES_OK), else why not.
  base::Result<PgResult> run(const std::string& sql, const std::vector<std::string>& params = {},
                             ErrorText text = ErrorText::Primary);

  // COPY ... FROM STDIN: begin with the COPY statement, send the data in any number of
  // pieces, then end, which reports whether the server accepted all of it.
  base::Status copy_begin(const std::string& copy_sql);
  base::Status copy_send(std::string_view data);
  base::Status copy_end();

 private:
  base::Error libpq_failure() const;

  struct ConnDeleter {
    void operator()(PGconn* connection) const { PQfinish(connection); }
  };
  std::unique_ptr<PGconn, ConnDeleter> connection_;
};

}  // namespace mcptap::sink

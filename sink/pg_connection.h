// libpq behind RAII: one connection and the few calls the sink needs.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <vector>

namespace mcptap::sink {

struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

class PgConnection {
 public:
  // Connects (blocking). ok() tells whether it worked; error() why not.
  explicit PgConnection(const std::string& url);
  bool ok() const;
  std::string error() const;
  PGconn* raw() const { return connection_.get(); }

  // Runs a statement with text parameters. Returns the result; *error set unless it
  // succeeded (PGRES_COMMAND_OK or PGRES_TUPLES_OK).
  PgResult exec(const std::string& sql, const std::vector<std::string>& params,
                std::string* error);
  bool exec_ok(const std::string& sql, std::string* error);

 private:
  struct ConnDeleter {
    void operator()(PGconn* connection) const { PQfinish(connection); }
  };
  std::unique_ptr<PGconn, ConnDeleter> connection_;
};

}  // namespace mcptap::sink

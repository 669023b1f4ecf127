// libpq behind RAII: connecting, parameterised statements and COPY FROM STDIN.
#include "sink/pg_connection.h"

namespace mcptap::sink {
namespace {

// libpq prints NOTICEs ("relation ... already exists, skipping") to stderr by default, which
// would break the one-JSON-object-per-line log; they carry nothing the sink acts on.
void ignore_notice(void*, const char*) {}

// libpq's messages end in a newline and some span lines ("...failed: Connection refused\n\t
// Is the server running..."); callers print one line, so lines are joined with a space.
std::string one_line(const char* text) {
  std::string out;
  for (const char* c = text ? text : ""; *c; ++c) {
    if (*c != '\n' && *c != '\t') {
      out.push_back(*c);
    } else if (!out.empty() && out.back() != ' ') {
      out.push_back(' ');
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool succeeded(const PGresult* result) {
  ExecStatusType status = PQresultStatus(result);
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

PgFailure failure_of(const PGresult* result) {
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  return {sqlstate ? sqlstate : "", primary ? primary : one_line(PQresultErrorMessage(result))};
}

}  // namespace

PgConnection::PgConnection(const std::string& url) {
  // Entries before dbname are defaults the URL may override; the ones after it are forced:
  // the text values the writer sends are UTF-8.
  const char* keywords[] = {"connect_timeout", "application_name",    "keepalives",
                            "keepalives_idle", "keepalives_interval", "keepalives_count",
                            "dbname",          "client_encoding",     nullptr};
  const char* values[] = {"5", "mcptap", "1", "30", "10", "3", url.c_str(), "UTF8", nullptr};
  connection_.reset(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (connection_) PQsetNoticeProcessor(connection_.get(), ignore_notice, nullptr);
}

bool PgConnection::ok() const {
  return connection_ && PQstatus(connection_.get()) == CONNECTION_OK;
}

std::string PgConnection::error() const {
  if (!connection_) return "out of memory";
  return one_line(PQerrorMessage(connection_.get()));
}

PgFailure PgConnection::libpq_failure() const {
  return {"", error()};
}

PgResult PgConnection::exec(const std::string& sql, const std::vector<std::string>& params,
                            std::string* error) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& param : params) values.push_back(param.c_str());
  PgResult result(PQexecParams(connection_.get(), sql.c_str(), static_cast<int>(values.size()),
                               nullptr, values.data(), nullptr, nullptr, 0));
  if (!result) {
    if (error) *error = this->error();
  } else if (!succeeded(result.get())) {
    if (error) *error = one_line(PQresultErrorMessage(result.get()));
  }
  return result;
}

bool PgConnection::exec_ok(const std::string& sql, std::string* error) {
  PgResult result = exec(sql, {}, error);
  return result && succeeded(result.get());
}

PgResult PgConnection::run(const std::string& sql, const std::vector<std::string>& params,
                           PgFailure* failure) {
  PgResult result = exec(sql, params, nullptr);
  if (!result) {
    *failure = libpq_failure();
  } else if (!succeeded(result.get())) {
    *failure = failure_of(result.get());
  }
  return result;
}

bool PgConnection::run_ok(const std::string& sql, PgFailure* failure) {
  PgResult result = run(sql, {}, failure);
  return result && succeeded(result.get());
}

bool PgConnection::copy_begin(const std::string& copy_sql, PgFailure* failure) {
  PgResult result(PQexec(connection_.get(), copy_sql.c_str()));
  if (!result) {
    *failure = libpq_failure();
    return false;
  }
  if (PQresultStatus(result.get()) != PGRES_COPY_IN) {
    *failure = failure_of(result.get());
    return false;
  }
  return true;
}

bool PgConnection::copy_send(std::string_view data, PgFailure* failure) {
  // PQputCopyData takes an int length; a huge piece goes in slices.
  constexpr size_t kMaxSlice = size_t{1} << 30;
  while (!data.empty()) {
    std::string_view slice = data.substr(0, kMaxSlice);
    if (PQputCopyData(connection_.get(), slice.data(), static_cast<int>(slice.size())) != 1) {
      *failure = libpq_failure();
      return false;
    }
    data.remove_prefix(slice.size());
  }
  return true;
}

bool PgConnection::copy_end(PgFailure* failure) {
  if (PQputCopyEnd(connection_.get(), nullptr) != 1) {
    *failure = libpq_failure();
    return false;
  }
  // The COPY's own result, then a null result; keep the first failure seen.
  bool accepted = true;
  while (PgResult result{PQgetResult(connection_.get())}) {
    if (accepted && PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
      *failure = failure_of(result.get());
      accepted = false;
    }
  }
  return accepted;
}

}  // namespace mcptap::sink

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

base::Error failure_of(const PGresult* result, ErrorText text = ErrorText::Primary) {
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  std::string message = text == ErrorText::Primary && primary
                            ? std::string(primary)
                            : one_line(PQresultErrorMessage(result));
  return base::fail(std::move(message), sqlstate ? sqlstate : "");
}

}  // namespace

std::string describe(const base::Error& error) {
  if (error.code.empty()) return error.message;
  return error.message + " (SQLSTATE " + error.code + ")";
}

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

base::Error PgConnection::libpq_failure() const {
  return base::fail(error());
}

base::Result<PgResult> PgConnection::run(const std::string& sql,
                                         const std::vector<std::string>& params, ErrorText text) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& param : params) values.push_back(param.c_str());
  PgResult result(PQexecParams(connection_.get(), sql.c_str(), static_cast<int>(values.size()),
                               nullptr, values.data(), nullptr, nullptr, 0));
  if (!result) return libpq_failure();
  if (!succeeded(result.get())) return failure_of(result.get(), text);
  return result;
}

base::Status PgConnection::copy_begin(const std::string& copy_sql) {
  PgResult result(PQexec(connection_.get(), copy_sql.c_str()));
  if (!result) return libpq_failure();
  if (PQresultStatus(result.get()) != PGRES_COPY_IN) return failure_of(result.get());
  return {};
}

base::Status PgConnection::copy_send(std::string_view data) {
  // PQputCopyData takes an int length; a huge piece goes in slices.
  constexpr size_t kMaxSlice = size_t{1} << 30;
  while (!data.empty()) {
    std::string_view slice = data.substr(0, kMaxSlice);
    if (PQputCopyData(connection_.get(), slice.data(), static_cast<int>(slice.size())) != 1) {
      return libpq_failure();
    }
    data.remove_prefix(slice.size());
  }
  return {};
}

base::Status PgConnection::copy_end() {
  if (PQputCopyEnd(connection_.get(), nullptr) != 1) return libpq_failure();
  // The COPY's own result, then a null result; keep the first failure seen.
  base::Status accepted;
  while (PgResult result{PQgetResult(connection_.get())}) {
    if (accepted && PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
      accepted = failure_of(result.get());
    }
  }
  return accepted;
}

}  // namespace mcptap::sink

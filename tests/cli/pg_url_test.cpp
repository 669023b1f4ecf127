// Tests for cli/pg_url: what libpq would refuse is named at start, and no password is shown.
#include "cli/pg_url.h"

#include <gtest/gtest.h>

#include <string>

namespace mcptap::cli {
namespace {

// Why `url` is refused; empty when it is accepted (checked with ok() where that matters).
std::string problem_of(const std::string& url) {
  base::Status valid = validate_pg_url(url);
  return valid ? "" : valid.error().message;
}

TEST(PgUrl, AcceptsWhatLibpqAccepts) {
  for (const char* url : {"", "postgresql://mcptap:secret@db:5432/mcptap", "postgres://db/mcptap",
                          "postgresql:///mcptap?host=/var/run/postgresql",
                          "postgresql://db1:5432,db2:5433/mcptap?target_session_attrs=read-write",
                          "postgresql://[::1]:5432/mcptap", "host=db port=5432 dbname=mcptap",
                          "host=db password='it\\'s'"}) {
    EXPECT_TRUE(validate_pg_url(url).ok()) << url << ": " << problem_of(url);
  }
}

TEST(PgUrl, UnknownSchemeIsNamedWithTheOneMeant) {
  EXPECT_EQ(
      problem_of("postgress://mcptap:hunter2@db/mcptap"),
      "invalid PostgreSQL URL: unknown scheme \"postgress://\" (did you mean postgresql://?)");
  EXPECT_EQ(problem_of("PostgreSQL://db/mcptap"),
            "invalid PostgreSQL URL: unknown scheme \"PostgreSQL://\" (did you mean "
            "postgresql://?)");
  EXPECT_EQ(problem_of("postgre://db/mcptap"),
            "invalid PostgreSQL URL: unknown scheme \"postgre://\" (did you mean postgresql://?)");
  EXPECT_EQ(problem_of("mysql://db/mcptap"),
            "invalid PostgreSQL URL: unknown scheme \"mysql://\" (expected postgresql://, "
            "postgres:// or key=value pairs)");
}

TEST(PgUrl, LibpqsReasonIsGivenWithoutThePassword) {
  struct Case {
    const char* url;
    const char* reason;  // a part of the expected message
  };
  for (const Case& c : {
           Case{"postgresql://mcptap:hunter2@[::1/mcptap", "matching \"]\""},
           Case{"postgresql://mcptap:hun%zzter2@db/mcptap", "invalid percent-encoded token"},
           Case{"postgresql://db/mcptap?sslmod=require&password=hunter2",
                "invalid URI query parameter: \"sslmod\""},
           Case{"postgresql//mcptap:hunter2@db/mcptap", "missing \"=\""},
           Case{"host=db password=hunter2 dbname", "missing \"=\" after \"dbname\""},
           Case{"host=db password = 'hunter2' dbname='x", "unterminated quoted string"},
           Case{"password=hunter2 hunter2", "missing \"=\""},
       }) {
    std::string problem = problem_of(c.url);
    EXPECT_NE(problem.find(c.reason), std::string::npos) << c.url << " -> " << problem;
    EXPECT_EQ(problem.find("hunter2"), std::string::npos) << c.url << " -> " << problem;
    EXPECT_EQ(problem.find("hun"), std::string::npos) << c.url << " -> " << problem;
    EXPECT_EQ(problem.find('\n'), std::string::npos) << c.url << " -> " << problem;
  }
  EXPECT_EQ(problem_of("host=db dbname").rfind("invalid PostgreSQL DSN: ", 0), 0u);
  EXPECT_EQ(problem_of("postgresql://db/x?bogus=1").rfind("invalid PostgreSQL URL: ", 0), 0u);
}

TEST(PgUrl, PortMustBeANumber) {
  EXPECT_EQ(problem_of("postgresql://mcptap:hunter2@db:54x2/mcptap"),
            "invalid PostgreSQL URL: port \"54x2\" is not a number from 1 to 65535");
  EXPECT_EQ(problem_of("host=db port=99999"),
            "invalid PostgreSQL DSN: port \"99999\" is not a number from 1 to 65535");
  EXPECT_EQ(problem_of("postgresql://db1:5432,db2:0/mcptap"),
            "invalid PostgreSQL URL: port \"0\" is not a number from 1 to 65535");
  EXPECT_TRUE(validate_pg_url("postgresql://db1,db2:5433/mcptap").ok());
}

}  // namespace
}  // namespace mcptap::cli

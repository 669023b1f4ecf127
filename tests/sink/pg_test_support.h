// The sink tests' name for the PostgreSQL test helpers, which live in tests/support.
#pragma once

#include "tests/support/pg_test_support.h"
#include "tests/support/unused_port.h"

namespace mcptap::sink::testing {

using namespace test_support;  // NOLINT(google-build-using-namespace)

}  // namespace mcptap::sink::testing

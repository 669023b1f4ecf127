// The redactor a default configuration gets, shared by the tests that need one.
#pragma once

#include "capture/redactor.h"

namespace mcptap::test_support {

inline const capture::Redactor& default_redactor() {
  static const capture::Redactor redactor{capture::RedactOptions{}};
  return redactor;
}

}  // namespace mcptap::test_support

// An assertion for two optionals that must both hold a value, and the same one.
#pragma once

#include <gtest/gtest.h>

#include <optional>

namespace mcptap::test_support {

// EXPECT_EQ on two optionals also passes when both are empty, which would let a missing
// value (an uncorrelated answer, say) through. Use as
//   EXPECT_SET_AND_EQ(answer.correlation_id, call.correlation_id);
template <typename T>
::testing::AssertionResult SetAndEqual(const char* a_text, const char* b_text,
                                       const std::optional<T>& a, const std::optional<T>& b) {
  if (!a) return ::testing::AssertionFailure() << a_text << " is not set";
  if (!b) return ::testing::AssertionFailure() << b_text << " is not set";
  if (*a == *b) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << a_text << " and " << b_text << " differ: " << ::testing::PrintToString(*a) << " vs "
         << ::testing::PrintToString(*b);
}

}  // namespace mcptap::test_support

#define EXPECT_SET_AND_EQ(a, b) EXPECT_PRED_FORMAT2(::mcptap::test_support::SetAndEqual, a, b)

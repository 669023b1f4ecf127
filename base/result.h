// The one way a call that can fail reports it: a Result<T> holds either the value or an
// Error, and Status (Result<void>) holds nothing or an Error. Data-plane code never
// throws; exceptions from libraries (nlohmann_json, std::filesystem) are caught at the
// call and turned into an Error. A [[nodiscard]] result cannot be ignored by accident.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace mcptap::base {

// Why something failed. `message` is one line for a person: what was being done and the
// system's reason. `code` is a machine-readable cause when the caller must tell failures
// apart (a SQLSTATE, a UV_E* name); empty when none applies.
struct Error {
  std::string message;
  std::string code;
};

inline Error fail(std::string message, std::string code = {}) {
  return Error{std::move(message), std::move(code)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    assert(failed_);
    return error_;
  }

 private:
  Error error_;
  bool failed_ = false;
};

using Status = Result<void>;

}  // namespace mcptap::base

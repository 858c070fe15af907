// Results that carry either a value or an error. Errors follow libperf: a negative errno
// as the code, plus a message written for the person who has to fix the problem.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace pctx::base {

struct Error {
  int code = 0;         // -errno, e.g. -ENOENT
  std::string message;  // what went wrong and what to do about it
};

struct Ok {};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  int code() const { return ok() ? 0 : error().code; }

 private:
  std::variant<T, Error> v_;
};

using Status = Result<Ok>;

inline Error make_error(int code, std::string message) {
  return Error{code, std::move(message)};
}

// An error whose message `what()` builds, for paths where memory may have run out (a
// catch of std::bad_alloc): if the message cannot be allocated either, the message is
// "out of memory", which fits the string's inline buffer, so this never throws.
template <class MakeMessage>
Error make_error_nothrow(int code, MakeMessage&& what) noexcept {
  try {
    return Error{code, what()};
  } catch (...) {
    return Error{code, "out of memory"};
  }
}

}  // namespace pctx::base

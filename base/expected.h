// Expected<T, E>: the value of a fallible operation, or the error saying why it failed.
//
// The subset of C++23 std::expected that hlrr uses, so that it can be swapped for the standard
// one later. Errors a caller can act on travel as values; programming errors are HLRR_CHECKs.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "base/check.h"

namespace hlrr::base {

// A one-line, human-readable error: what went wrong and where.
struct Error {
  std::string message;
};

template <class E>
class Unexpected {
 public:
  explicit Unexpected(E error) : error_(std::move(error)) {}
  E& error() & { return error_; }
  E&& error() && { return std::move(error_); }

 private:
  E error_;
};

// Shorthand for the common case: `return base::fail("bad magic");`.
inline Unexpected<Error> fail(std::string message) {
  return Unexpected<Error>(Error{std::move(message)});
}

template <class T, class E = Error>
class [[nodiscard]] Expected {
 public:
  Expected() requires std::is_default_constructible_v<T> : state_(std::in_place_index<0>) {}
  Expected(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  // Anything T can be built from, as std::expected allows: `Expected<Value> e = int64_t{1};`.
  template <class U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
           !std::is_same_v<std::remove_cvref_t<U>, Expected>)
      Expected(U&& value)  // NOLINT: implicit
      : state_(std::in_place_index<0>, std::forward<U>(value)) {}
  template <class U>
  Expected(Unexpected<U> error)  // NOLINT: implicit by design
      : state_(std::in_place_index<1>, E(std::move(error).error())) {}

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    HLRR_CHECK(has_value());
    return std::get<0>(state_);
  }
  const T& value() const& {
    HLRR_CHECK(has_value());
    return std::get<0>(state_);
  }
  T&& value() && {
    HLRR_CHECK(has_value());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const& {
    HLRR_CHECK(!has_value());
    return std::get<1>(state_);
  }
  E&& error() && {
    HLRR_CHECK(!has_value());
    return std::get<1>(std::move(state_));
  }

 private:
  std::variant<T, E> state_;
};

template <class E>
class [[nodiscard]] Expected<void, E> {
 public:
  Expected() = default;
  template <class U>
  Expected(Unexpected<U> error) : error_(E(std::move(error).error())), failed_(true) {}  // NOLINT

  bool has_value() const { return !failed_; }
  explicit operator bool() const { return has_value(); }
  void value() const { HLRR_CHECK(has_value()); }
  const E& error() const& {
    HLRR_CHECK(failed_);
    return error_;
  }
  E&& error() && {
    HLRR_CHECK(failed_);
    return std::move(error_);
  }

 private:
  E error_{};
  bool failed_ = false;
};

// An operation that returns nothing but can fail.
using Status = Expected<void, Error>;

}  // namespace hlrr::base

// Errors are values: an Error carries a message and, where it has one, the place in an input
// file it is about. Library code returns them; only main and the daemon decide to exit.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace dw {

// A place in an input file. line and column are 1-based; 0 means "not known".
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
};

class Error {
 public:
  explicit Error(std::string message, Location where = {})
      : message_(std::move(message)), where_(std::move(where)) {}

  const std::string& message() const { return message_; }
  const Location& where() const { return where_; }

  // One line for a person: "FILE:LINE:COLUMN: message", dropping the parts that are not known
  // ("FILE: message", or just "message").
  std::string to_string() const;

 private:
  std::string message_;
  Location where_;
};

using Errors = std::vector<Error>;

// text with its control characters as escapes (\n, \r, \t, \xHH): a value quoted in a message
// (a pattern, a file name) keeps the message one line, and a terminal gets no escape sequences
// from it. C1 controls and bidirectional overrides (U+0080..U+009F, U+202A..U+202E,
// U+2066..U+2069) are escaped too, byte by byte. Error::to_string() does this to the whole
// message.
std::string escape_controls(std::string_view text);

// Either a value or an error. Accessing the wrong side is a programming error (asserted).
template <typename T, typename E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const E& error() const { return std::get<1>(v_); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, E> v_;
};

// Success, or an error: for calls that return nothing else.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}
  static Status Ok() { return {}; }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

}  // namespace dw

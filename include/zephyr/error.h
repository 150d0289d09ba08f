// The one exception type zephyr throws, and the source locations errors point at.
#pragma once

#include <source_location>
#include <stdexcept>
#include <string>

namespace zephyr {

/// Where user code created a graph node: kept so that errors and IR point at the model.
struct SourceLoc {
  const char* file = "";  ///< the source file's name
  unsigned line = 0;      ///< 0 when unknown
  unsigned column = 0;    ///< as std::source_location gives it

  /// The file, line and column of a std::source_location.
  static SourceLoc from(const std::source_location& loc) {
    return {loc.file_name(), static_cast<unsigned>(loc.line()),
            static_cast<unsigned>(loc.column())};
  }
  /// "model.cpp:12:7", or "" when unknown.
  std::string str() const;
};

/// Every user-facing failure: bad shapes, missing parameters, malformed files, compile errors.
class Error : public std::runtime_error {
 public:
  /// An error whose what() is `message`.
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Throws Error("file:line:col: [op] message").
[[noreturn]] void fail_at(const SourceLoc& loc, const std::string& op, const std::string& message);

}  // namespace zephyr

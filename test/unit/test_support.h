// Helpers shared by the unit tests: asserting error messages, scratch directories.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>
#include <zephyr/error.h>

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

namespace zephyr::testing {

/// The message of the zephyr::Error that `f` throws ("" if it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A fresh directory per test, removed afterwards.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "zephyr_test") {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

}  // namespace zephyr::testing

/// Checks that `expr` throws a zephyr::Error whose message holds every part, and shows it if not.
#define CHECK_ERROR(expr, ...)                                                                            \
  do {                                                                                                    \
    std::string message_ = ::zephyr::testing::error_of([&] { (void)(expr); });                            \
    for (const std::string& part_ : std::initializer_list<std::string>{__VA_ARGS__})                      \
      CHECK_MESSAGE(::zephyr::testing::contains(message_, part_),                                         \
                    "error was: " << (message_.empty() ? "<none>" : message_));                           \
  } while (0)

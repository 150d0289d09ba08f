// Reading zephyr's environment switches (ZEPHYR_LOG_COMPILES, ZEPHYR_PERF).
#pragma once

#include <cstdlib>
#include <string_view>

namespace zephyr::detail {

/// True when the variable is set to anything but "" or "0".
inline bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' && std::string_view(v) != "0";
}

}  // namespace zephyr::detail

# Optional parts of the build: each one is checked here, and when its package is missing its
# targets are skipped with one line naming the package that would enable them. Nothing that the
# library, the tool or the main job needs is optional (those are REQUIRED finds).
include(CheckCXXSourceCompiles)
include(CMakePushCheckState)

# zephyr_check_flags(<result> <package> <what> <flags...>): compiles and links a tiny program
# with <flags>; a sanitizer whose runtime is missing fails at the link, exactly as its targets would.
function(zephyr_check_flags result package what)
  cmake_push_check_state(RESET)
  set(CMAKE_REQUIRED_FLAGS "${ARGN}")
  string(REPLACE ";" " " CMAKE_REQUIRED_FLAGS "${CMAKE_REQUIRED_FLAGS}")
  set(CMAKE_REQUIRED_LINK_OPTIONS ${ARGN})
  set(CMAKE_REQUIRED_QUIET ON)
  if(what STREQUAL "libFuzzer")
    set(source "#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }")
  else()
    set(source "#include <vector>\nint main() { std::vector<int> v(4); return v[1]; }")
  endif()
  check_cxx_source_compiles("${source}" ${result})
  cmake_pop_check_state()
  set(found ${${result}})
  if(NOT found)
    message(STATUS "${what} not available: its targets are skipped (apt-get install ${package})")
    unset(${result} CACHE)  # checked again on the next configure, once the package is installed
  endif()
  set(${result} ${found} PARENT_SCOPE)
endfunction()

set(ZEPHYR_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
zephyr_check_flags(ZEPHYR_HAVE_SANITIZERS libclang-rt-19-dev "AddressSanitizer/UBSan" ${ZEPHYR_SANITIZE_FLAGS})
zephyr_check_flags(ZEPHYR_HAVE_LIBFUZZER libclang-rt-19-dev "libFuzzer" -fsanitize=fuzzer,address)

# python3-torch: the PyTorch rows of `zephyr bench` (the bench prints "pytorch missing" without it).
# Debian's interpreter is the one apt's python3-numpy and python3-torch install into; a user's
# pyenv or venv python3 earlier on PATH would not see them.
if(NOT DEFINED Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
  set(Python3_EXECUTABLE /usr/bin/python3)
endif()
find_package(Python3 REQUIRED COMPONENTS Interpreter)
execute_process(COMMAND ${Python3_EXECUTABLE} -c "import torch" RESULT_VARIABLE torch_import
                OUTPUT_QUIET ERROR_QUIET)
if(torch_import EQUAL 0)
  set(ZEPHYR_HAVE_PYTORCH ON)
else()
  set(ZEPHYR_HAVE_PYTORCH OFF)
  message(STATUS "PyTorch not found: zephyr bench runs without its PyTorch baselines (apt-get install python3-torch)")
endif()


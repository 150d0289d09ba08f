# cmake -DOUTPUT=header -DVERSION=x.y.z -DSOURCES="a|b|..." -P CompilerFingerprint.cmake
# Writes `#define ZEPHYR_COMPILER_FINGERPRINT "<version>-<sha256 of the sources>"`, rewriting the
# header only when the value changed (so an unchanged compiler does not rebuild).
set(digests "")
string(REPLACE "|" ";" SOURCES "${SOURCES}")
list(SORT SOURCES)
foreach(source ${SOURCES})
  file(SHA256 ${source} digest)
  string(APPEND digests "${digest}")
endforeach()
string(SHA256 fingerprint "${digests}")
set(text "#define ZEPHYR_COMPILER_FINGERPRINT \"${VERSION}-${fingerprint}\"\n")
include(${CMAKE_CURRENT_LIST_DIR}/WriteIfChanged.cmake)
write_if_changed(${OUTPUT} "${text}")

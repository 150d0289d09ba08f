# cmake -DINPUT=file -DOUTPUT=header -DNAME=kSymbol -P EmbedText.cmake
# Writes `constexpr const char kSymbol[] = R"...(<file's text>)...";`: a source file (such as
# lib/compiler/transforms.mlir) that stays a real file for editors and tools, compiled in as text.
file(READ ${INPUT} text)
set(delimiter "zephyr_embedded")
string(FIND "${text}" ")${delimiter}" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )${delimiter}")
endif()
set(content "// Generated from ${INPUT} by EmbedText.cmake: do not edit.\n#pragma once\n\nconstexpr const char ${NAME}[] = R\"${delimiter}(${text})${delimiter}\";\n")
include(${CMAKE_CURRENT_LIST_DIR}/WriteIfChanged.cmake)
write_if_changed(${OUTPUT} "${content}")

# zephyr_add_model_library(<target> SOURCES <files...> MODEL <name> [GRAD | TRAIN_STEP]
#                          [WEIGHTS <file.safetensors>] [NAME <symbol>])
#
# Builds a generator from SOURCES (files with ZEPHYR_MODEL registrations, linked with
# zephyr::cli), runs `generator compile MODEL` at build time, and makes <target> a static
# library holding the compiled object, with <target>.h on its include path. Applications link
# <target> and need no MLIR, LLVM or zephyr at run time (Halide's generator model).
function(zephyr_add_model_library target)
  cmake_parse_arguments(ARG "GRAD;TRAIN_STEP" "MODEL;WEIGHTS;NAME" "SOURCES" ${ARGN})
  if(NOT ARG_MODEL OR NOT ARG_SOURCES)
    message(FATAL_ERROR "zephyr_add_model_library(${target}) needs SOURCES and MODEL")
  endif()
  set(generator ${target}_generator)
  add_executable(${generator} ${ARG_SOURCES})
  target_link_libraries(${generator} PRIVATE zephyr::cli)

  set(dir ${CMAKE_CURRENT_BINARY_DIR}/${target})
  set(symbol ${ARG_NAME})
  if(NOT symbol)
    set(symbol ${target})
  endif()
  set(flags --name ${symbol})
  if(ARG_GRAD)
    list(APPEND flags --grad)
  endif()
  if(ARG_TRAIN_STEP)
    list(APPEND flags --train-step)
  endif()
  set(depends ${generator})
  if(ARG_WEIGHTS)
    list(APPEND flags --weights ${ARG_WEIGHTS})
    list(APPEND depends ${ARG_WEIGHTS})
  endif()
  add_custom_command(
    OUTPUT ${dir}/${target}.o ${dir}/${target}.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
    COMMAND ${generator} compile ${ARG_MODEL} -o ${dir}/${target}.o --header ${dir}/${target}.h ${flags}
    DEPENDS ${depends}
    COMMENT "zephyr: compiling model ${ARG_MODEL} ahead of time")
  add_library(${target} STATIC ${dir}/${target}.o ${dir}/${target}.h)
  set_target_properties(${target} PROPERTIES LINKER_LANGUAGE C)
  target_include_directories(${target} INTERFACE ${dir})
endfunction()

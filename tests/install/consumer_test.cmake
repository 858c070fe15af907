# Run by ctest: install, configure and build the consumer, run it. Any failure stops with
# the step's output.
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
step("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

step("configure consumer" ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build
     -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX}
     "-DCMAKE_CXX_FLAGS=${SANITIZE_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${SANITIZE_FLAGS}")
step("build consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
step("run consumer" ${WORK_DIR}/build/consumer)
message("${step_output}")

# The same program through pkg-config, as a Makefile user would build it.
set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig:${prefix}/lib64/pkgconfig)
step("pkg-config" pkg-config --cflags --libs pctx)
string(STRIP "${step_output}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
separate_arguments(san UNIX_COMMAND "${SANITIZE_FLAGS}")
step("build with pkg-config" ${CXX} -std=c++20 ${san} ${SOURCE_DIR}/main.cpp -DVIA_PKG_CONFIG
     -o ${WORK_DIR}/consumer-pc ${flags})
step("run pkg-config consumer" ${WORK_DIR}/consumer-pc)
message("${step_output}")

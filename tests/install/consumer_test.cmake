# Run by ctest: install, configure and build the consumers, run them. Any failure stops
# with the step's output.
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
string(REGEX MATCH "[0-9]+ installed headers, each compiled alone" headers "${step_output}")
step("build consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
message("installed headers ok: ${headers}")
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

# The pmu-only consumer through find_package(pctx COMPONENTS pmu), with every package the
# other layers need made unfindable: the config must not look for them.
step("configure pmu consumer" ${CMAKE_COMMAND} -S ${PMU_SOURCE_DIR} -B ${WORK_DIR}/pmu-build
     -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX}
     -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON -DCMAKE_DISABLE_FIND_PACKAGE_fmt=ON
     -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON -DCMAKE_DISABLE_FIND_PACKAGE_Threads=ON
     "-DCMAKE_CXX_FLAGS=${SANITIZE_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${SANITIZE_FLAGS}")
step("build pmu consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/pmu-build)
set(pmu_cmake_binary ${WORK_DIR}/pmu-build/pmu_consumer)

# The same program through pkg-config pctx-pmu, whose flags must name none of the other
# layers' libraries.
step("pkg-config pctx-pmu" pkg-config --cflags --libs pctx-pmu)
string(STRIP "${step_output}" flags)
if(flags MATCHES "hwloc|urcu|boost|fmt|pctx_(cpu|core|sched)")
  message(FATAL_ERROR "pkg-config pctx-pmu names another layer's library: ${flags}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
set(pmu_pc_binary ${WORK_DIR}/pmu-consumer-pc)
step("build pmu consumer with pkg-config" ${CXX} -std=c++20 ${san}
     ${PMU_SOURCE_DIR}/../../../docs/examples/pmu_count.cpp -DVIA_PKG_CONFIG -o ${pmu_pc_binary} ${flags})

# Neither binary may depend on a shared library that only the other layers need (Debian
# links without --as-needed, so a library on the command line shows up here).
foreach(binary IN ITEMS ${pmu_cmake_binary} ${pmu_pc_binary})
  step("readelf ${binary}" readelf -d ${binary})
  string(REGEX MATCHALL "NEEDED[^\n]*" needed "${step_output}")
  if(needed MATCHES "hwloc|urcu|boost|fmt")
    message(FATAL_ERROR "${binary} needs another layer's library:\n${needed}")
  endif()
  if(NOT needed MATCHES "libpfm")
    message(FATAL_ERROR "${binary} does not link libpfm4:\n${needed}")
  endif()
endforeach()
step("run pmu consumer" ${pmu_cmake_binary})
message("${step_output}")
step("run pkg-config pmu consumer" ${pmu_pc_binary})
message("${step_output}")

# An unknown component is not found, with a message; required, it fails the configure.
step("configure with an unknown component" ${CMAKE_COMMAND} -S ${BAD_SOURCE_DIR}
     -B ${WORK_DIR}/bad-build -DCMAKE_PREFIX_PATH=${prefix})
string(REGEX MATCH "bad component ok[^\n]*" line "${step_output}")
execute_process(COMMAND ${CMAKE_COMMAND} -S ${BAD_SOURCE_DIR} -B ${WORK_DIR}/bad-required
                -DCMAKE_PREFIX_PATH=${prefix} -DREQUIRED=ON
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "no component 'nonsense'")
  message(FATAL_ERROR "a REQUIRED unknown component did not fail cleanly (${rc}):\n${out}\n${err}")
endif()
message("${line}; REQUIRED fails the configure")

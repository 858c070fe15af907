# The libraries' link dependencies, by component, found the same way in the build tree and by
# an installed pctxConfig.cmake (which includes this file), so a consumer of the static
# libraries gets exactly what they were built against. The config asks only for the
# components a consumer requested (and those they build on), so that a pmu-only consumer
# never looks for hwloc, liburcu or Boost. A new library adds its own dependencies here.
include(CMakeFindDependencyMacro)
list(APPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}")

# A macro, not a function: find_dependency() reports a missing package by setting
# pctx_FOUND to false and returning from the file that called it, which a function would
# swallow.
macro(pctx_find_dependencies component)
  if("${component}" STREQUAL "pmu")
    # fmt is compiled into pctx_pmu (header-only), so only libpfm4 reaches the consumer.
    find_dependency(Pfm)
  elseif("${component}" STREQUAL "cpu")
    find_dependency(Threads)
    find_dependency(fmt)
    find_dependency(PkgConfig)
    if(NOT TARGET PkgConfig::HWLOC)
      pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET GLOBAL hwloc)
    endif()
    if(NOT TARGET PkgConfig::URCU)
      pkg_check_modules(URCU REQUIRED IMPORTED_TARGET GLOBAL liburcu-qsbr liburcu-cds)
    endif()
  elseif("${component}" STREQUAL "core")
    find_dependency(fmt)
    find_dependency(Boost 1.74)
  elseif("${component}" STREQUAL "sched")
    find_dependency(fmt)
    find_dependency(Boost 1.74 COMPONENTS context)
  endif()
endmacro()

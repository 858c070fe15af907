# The libraries' link dependencies, found the same way in the build tree and by an
# installed pctxConfig.cmake (which includes this file), so a consumer of the static
# libraries gets exactly what they were built against.
include(CMakeFindDependencyMacro)
list(APPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}")
find_dependency(Threads)
find_dependency(Pfm)
find_dependency(fmt)
find_dependency(PkgConfig)
if(NOT TARGET PkgConfig::HWLOC)
  pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET GLOBAL hwloc)
endif()
if(NOT TARGET PkgConfig::URCU)
  pkg_check_modules(URCU REQUIRED IMPORTED_TARGET GLOBAL liburcu-qsbr liburcu-cds)
endif()
find_dependency(Boost 1.74 COMPONENTS context)

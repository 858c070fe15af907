// Out-of-memory tests: caps this process's address space a little above what it uses, so
// that allocations fail for real without exhausting the shared machine. For a forked child.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace pctx::testing {

// Exits 3 or 4 (the child's status says which) when the cap cannot be set.
inline void cap_address_space(rlim_t headroom) {
  long pages = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  if (pages <= 0) std::_Exit(3);
  const rlim_t used = static_cast<rlim_t>(pages) * static_cast<rlim_t>(getpagesize());
  const rlimit cap{used + headroom, used + headroom};
  if (setrlimit(RLIMIT_AS, &cap) != 0) std::_Exit(4);
}

}  // namespace pctx::testing

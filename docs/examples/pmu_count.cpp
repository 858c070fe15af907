// An example beside the docs, built by the install test as a program outside the pctx
// tree (tests/install/pmu_consumer) that uses only the pmu layer: it compiles a spec, opens
// its groups on this thread, faults in some pages and reads the counts.
#include <sys/mman.h>
#include <unistd.h>
#include <pctx/pmu/counter_group.hpp>
#include <pctx/pmu/encoding.hpp>

#include <cstdio>
#include <vector>

int main() {
  auto spec = pctx::pmu::compile_spec("task-clock,page-faults");
  if (!spec) {
    std::fprintf(stderr, "%s\n", spec.error().message.c_str());
    return 1;
  }
  std::vector<pctx::pmu::CounterGroup> groups;
  for (const auto& g : *spec) {
    auto group = pctx::pmu::CounterGroup::open(g, pctx::pmu::Target::this_thread());
    if (!group) {
      std::fprintf(stderr, "%s\n", group.error().message.c_str());
      return 1;
    }
    groups.push_back(std::move(*group));
  }
  constexpr int kPages = 8;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* p =
      mmap(nullptr, kPages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 1;
  for (int i = 0; i < kPages; ++i) static_cast<volatile char*>(p)[i * page] = 1;
  munmap(p, kPages * page);
  auto clock = groups[0].read();
  auto faults = groups[1].read();
  if (!clock || !faults || clock->values[0] == 0 || faults->values[0] < kPages) return 1;
#ifdef VIA_PKG_CONFIG
  const char* how = "pkg-config";
#else
  const char* how = "cmake";
#endif
  std::printf("pmu consumer ok: %s task-clock=%llu ns page-faults=%llu\n", how,
              static_cast<unsigned long long>(clock->values[0]),
              static_cast<unsigned long long>(faults->values[0]));
  return 0;
}

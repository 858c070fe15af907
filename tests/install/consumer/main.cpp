// A program outside the pctx tree that counts its own work with the installed library.
#include <pctx/cpu/cpu_set.hpp>
#include <pctx/pmu/counter_group.hpp>

#include <cstdio>

int main() {
  auto spec = pctx::pmu::compile_spec("task-clock");
  if (!spec) {
    std::fprintf(stderr, "%s\n", spec.error().message.c_str());
    return 1;
  }
  auto group = pctx::pmu::CounterGroup::open((*spec)[0], pctx::pmu::Target::this_thread());
  if (!group) {
    std::fprintf(stderr, "%s\n", group.error().message.c_str());
    return 1;
  }
  volatile unsigned long sink = 0;
  for (unsigned long i = 0; i < 10'000'000; ++i) sink = sink + i;
  auto reading = group->read();
  auto cpus = pctx::cpu::CpuSet::parse("0-3,7");
  if (!reading || reading->values[0] == 0 || !cpus || cpus->count() != 5) return 1;
#ifdef VIA_PKG_CONFIG
  const char* how = "pkg-config";
#else
  const char* how = "cmake";
#endif
  std::printf("consumer ok: %s task-clock=%llu ns\n", how,
              static_cast<unsigned long long>(reading->values[0]));
  return 0;
}

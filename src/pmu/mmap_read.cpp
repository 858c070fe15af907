#include "pctx/pmu/mmap_read.hpp"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace pctx::pmu {

int64_t sign_extend(uint64_t pmc, unsigned width) {
  if (width == 0 || width >= 64) return static_cast<int64_t>(pmc);
  const unsigned shift = 64 - width;
  return static_cast<int64_t>(pmc << shift) >> shift;
}

uint64_t extrapolate_ns(const PageSnapshot& s) {
  uint64_t cyc = s.cycles;
  // With cap_user_time_short the page's cycle base is truncated to time_mask bits.
  if (s.cap_user_time_short) cyc = s.time_cycles + ((cyc - s.time_cycles) & s.time_mask);
  // Split the product so that cycles * mult cannot overflow 64 bits.
  const uint64_t quot = cyc >> s.time_shift;
  const uint64_t rem = cyc & ((uint64_t{1} << s.time_shift) - 1);
  return s.time_offset + quot * s.time_mult + ((rem * s.time_mult) >> s.time_shift);
}

FastReading compute_fast_read(const PageSnapshot& s) {
  FastReading r;
  if (!s.cap_user_rdpmc || s.index == 0) return r;
  r.valid = true;
  r.value = static_cast<uint64_t>(s.offset + sign_extend(s.pmc, s.pmc_width));
  r.enabled = s.time_enabled;
  r.running = s.time_running;
  if (s.cap_user_time) {
    const uint64_t delta = extrapolate_ns(s);
    r.enabled += delta;
    r.running += delta;
  }
  return r;
}

#if defined(__x86_64__)
uint64_t hardware_rdpmc(uint32_t counter) {
  uint32_t lo, hi;
  asm volatile("rdpmc" : "=a"(lo), "=d"(hi) : "c"(counter));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
uint64_t hardware_rdtsc() {
  return __rdtsc();
}

FastReading fast_read(const perf_event_mmap_page* pc) {
  return compute_fast_read(snapshot_page(pc, hardware_rdpmc, hardware_rdtsc));
}
#else
uint64_t hardware_rdpmc(uint32_t) {
  return 0;
}
uint64_t hardware_rdtsc() {
  return 0;
}
FastReading fast_read(const perf_event_mmap_page*) {
  return {};
}
#endif

}  // namespace pctx::pmu

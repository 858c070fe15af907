// Reading a self-monitoring counter without a system call, through the event's mmap'd
// perf_event_mmap_page: a seqlock-protected snapshot of the page plus rdpmc and rdtsc,
// then pure arithmetic. When the page does not allow it (no cap_user_rdpmc, or index 0:
// the event is not on a counter right now, or it is a software event), the caller falls
// back to read().
#pragma once

#include <linux/perf_event.h>

#include <atomic>
#include <cstdint>

namespace pctx::pmu {

// The fields of a page that a read uses, with the raw rdpmc and rdtsc values taken inside
// the same seqlock section.
struct PageSnapshot {
  uint32_t index = 0;  // hardware counter + 1; 0 when not on a counter
  int64_t offset = 0;
  uint64_t time_enabled = 0, time_running = 0;
  bool cap_user_rdpmc = false, cap_user_time = false, cap_user_time_short = false;
  uint16_t pmc_width = 0;
  uint16_t time_shift = 0;
  uint32_t time_mult = 0;
  uint64_t time_offset = 0, time_cycles = 0, time_mask = 0;
  uint64_t pmc = 0;     // raw counter value read with rdpmc (index - 1)
  uint64_t cycles = 0;  // raw time-stamp counter
};

struct FastReading {
  bool valid = false;  // false: use read() instead
  uint64_t value = 0, enabled = 0, running = 0;
};

// The low `width` bits of a counter as a signed 64-bit value.
int64_t sign_extend(uint64_t pmc, unsigned width);

// Nanoseconds since the page's times were last updated, from the time-stamp counter.
uint64_t extrapolate_ns(const PageSnapshot& s);

FastReading compute_fast_read(const PageSnapshot& s);

// The seqlock loop: copies the page and calls rdpmc(index - 1) and rdtsc() until the
// lock is unchanged across the copy. Templated so tests can run it on synthetic pages.
template <class Rdpmc, class Rdtsc>
PageSnapshot snapshot_page(const perf_event_mmap_page* pc, Rdpmc&& rdpmc, Rdtsc&& rdtsc) {
  PageSnapshot s;
  const volatile perf_event_mmap_page* p = pc;
  uint32_t seq;
  do {
    seq = p->lock;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    s.index = p->index;
    s.offset = p->offset;
    s.time_enabled = p->time_enabled;
    s.time_running = p->time_running;
    const uint64_t caps = p->capabilities;
    s.cap_user_rdpmc = (caps >> 2) & 1;
    s.cap_user_time = (caps >> 3) & 1;
    s.cap_user_time_short = (caps >> 5) & 1;
    s.pmc_width = p->pmc_width;
    s.time_shift = p->time_shift;
    s.time_mult = p->time_mult;
    s.time_offset = p->time_offset;
    s.time_cycles = p->time_cycles;
    s.time_mask = p->time_mask;
    s.pmc = (s.cap_user_rdpmc && s.index != 0) ? rdpmc(s.index - 1) : 0;
    s.cycles = s.cap_user_time ? rdtsc() : 0;
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } while (p->lock != seq);
  return s;
}

// rdpmc and rdtsc on this CPU (x86-64); elsewhere reads are always invalid.
uint64_t hardware_rdpmc(uint32_t counter);
uint64_t hardware_rdtsc();

// A read of a page of an event counting on the calling thread.
FastReading fast_read(const perf_event_mmap_page* pc);

}  // namespace pctx::pmu

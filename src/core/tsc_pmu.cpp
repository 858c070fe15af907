#include "pctx/core/tsc_pmu.hpp"

#include <ctime>

#include <cerrno>

#include "pctx/core/event.hpp"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace pctx::core {

uint64_t read_tsc() {
#if defined(__x86_64__)
  return __rdtsc();
#else
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
#endif
}

int TscPmu::init(Event& event) {
  return event.attr.config == 0 ? 0 : -EINVAL;
}

int TscPmu::add(Event& event) PCTX_REQUIRES(internal::context_lock(event.ctx)) {
  event.hw_prev = read_tsc();
  return 0;
}

void TscPmu::read(Event& event) PCTX_REQUIRES(internal::context_lock(event.ctx)) {
  const uint64_t now = read_tsc();
  event.count += now - event.hw_prev;
  event.hw_prev = now;
}

void TscPmu::del(Event& event) PCTX_REQUIRES(internal::context_lock(event.ctx)) {
  read(event);
}

}  // namespace pctx::core

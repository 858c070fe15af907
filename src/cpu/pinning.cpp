#include "pctx/cpu/pinning.hpp"

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <thread>

namespace pctx::cpu {

PinResult pin_current_thread(int cpu, std::chrono::milliseconds give_up) {
  using Clock = std::chrono::steady_clock;
  PinResult r;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const auto start = Clock::now();
  auto backoff = std::chrono::microseconds(50);
  while (true) {
    ++r.attempts;
    const int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (err == 0) {
      r.error = 0;
      // The kernel moves us at the next scheduling point; make it now.
      if (sched_getcpu() != cpu) sched_yield();
      return r;
    }
    r.error = -err;
    if (err != EINVAL) return r;
    const auto now = Clock::now();
    r.einval_window = now - start;
    if (now - start >= give_up) return r;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::microseconds(20000));
  }
}

bool pinned_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return false;
  return CPU_COUNT(&set) == 1 && CPU_ISSET(cpu, &set);
}

}  // namespace pctx::cpu

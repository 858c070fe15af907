#include "pctx/cpu/pinning.hpp"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "pctx/base/lock_validator.hpp"
#include "pctx/cpu/fault_injection.hpp"

namespace pctx::cpu {

namespace {

std::atomic<uint64_t> g_pins{0};
std::atomic<uint64_t> g_failed{0};
std::atomic<uint64_t> g_einval_retries{0};
std::atomic<uint64_t> g_other_errors{0};
std::atomic<int64_t> g_max_window_ns{0};

void note_window(std::chrono::nanoseconds window) {
  int64_t seen = g_max_window_ns.load(std::memory_order_relaxed);
  while (window.count() > seen && !g_max_window_ns.compare_exchange_weak(seen, window.count())) {
  }
}

}  // namespace

PinResult pin_current_thread(int cpu, std::chrono::milliseconds give_up) {
  using Clock = std::chrono::steady_clock;
  g_pins.fetch_add(1, std::memory_order_relaxed);
  PinResult r;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const auto start = Clock::now();
  auto backoff = std::chrono::microseconds(50);
  while (true) {
    ++r.attempts;
    int err = fault_injection::hooks::pin_attempt(cpu);
    if (err == 0) err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (err == 0) {
      r.error = 0;
      note_window(r.einval_window);
      // The kernel moves us at the next scheduling point; make it now.
      if (sched_getcpu() != cpu) sched_yield();
      return r;
    }
    r.error = -err;
    if (err != EINVAL) {
      g_other_errors.fetch_add(1, std::memory_order_relaxed);
      g_failed.fetch_add(1, std::memory_order_relaxed);
      return r;
    }
    g_einval_retries.fetch_add(1, std::memory_order_relaxed);
    const auto now = Clock::now();
    r.einval_window = now - start;
    if (now - start >= give_up) {
      note_window(r.einval_window);
      g_failed.fetch_add(1, std::memory_order_relaxed);
      return r;
    }
    base::lock_validator::might_block(base::lock_validator::Blocking::kSleep);
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

PinStats pin_stats() {
  PinStats s;
  s.pins = g_pins.load();
  s.failed = g_failed.load();
  s.einval_retries = g_einval_retries.load();
  s.other_errors = g_other_errors.load();
  s.max_einval_window = std::chrono::nanoseconds(g_max_window_ns.load());
  return s;
}

}  // namespace pctx::cpu

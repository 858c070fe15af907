#include "pctx/cpu/fault_injection.hpp"

#include <atomic>
#include <cerrno>

namespace pctx::cpu::fault_injection {

namespace {

// One injected fault: how many attempts are left and which CPU it applies to. The count
// is taken with a compare-and-swap, so concurrent attempts never take more than armed.
struct Fault {
  std::atomic<int> left{0};
  std::atomic<int> cpu{kAnyCpu};
  std::atomic<int> error{0};

  void arm(int count, int err, int target) {
    cpu.store(target);
    error.store(err);
    left.store(count > 0 ? count : 0);
  }

  // The errno to fail this attempt with, or 0.
  int take(int attempt_cpu) {
    int n = left.load(std::memory_order_relaxed);
    if (n <= 0) return 0;
    const int target = cpu.load();
    if (target != kAnyCpu && target != attempt_cpu) return 0;
    while (n > 0 && !left.compare_exchange_weak(n, n - 1)) {
    }
    return n > 0 ? error.load() : 0;
  }
};

Fault g_pin;
Fault g_write;
// A pin window waiting for the next online: its length and CPU.
std::atomic<int> g_pin_after_online{0};
std::atomic<int> g_pin_after_online_cpu{kAnyCpu};

}  // namespace

void inject_pin_einval(int tries, int cpu) {
  g_pin.arm(tries, EINVAL, cpu);
}

void inject_pin_einval_after_online(int tries, int cpu) {
  g_pin_after_online_cpu.store(cpu);
  g_pin_after_online.store(tries > 0 ? tries : 0);
}

void inject_online_write_error(int writes, int error, int cpu) {
  g_write.arm(writes, error, cpu);
}

void reset() {
  g_pin.arm(0, 0, kAnyCpu);
  g_write.arm(0, 0, kAnyCpu);
  g_pin_after_online.store(0);
}

namespace hooks {

int pin_attempt(int cpu) {
  return g_pin.take(cpu);
}

int online_write(int cpu) {
  return g_write.take(cpu);
}

void came_online(int cpu) {
  if (g_pin_after_online.load(std::memory_order_relaxed) == 0) return;
  const int target = g_pin_after_online_cpu.load();
  if (target != kAnyCpu && target != cpu) return;
  const int tries = g_pin_after_online.exchange(0);
  if (tries > 0) g_pin.arm(tries, EINVAL, cpu);
}

}  // namespace hooks

}  // namespace pctx::cpu::fault_injection

#include "tools/workloads.hpp"

#include <sys/syscall.h>
#include <unistd.h>
#include <ctime>

#include <chrono>
#include <numeric>
#include <random>

#include "pctx/sched/this_task.hpp"

namespace pctx::tools {

namespace {

using Clock = std::chrono::steady_clock;

// Keeps a value alive without a store the compiler could drop.
inline void keep(uint64_t v) {
  asm volatile("" : : "r"(v) : "memory");
}

uint64_t spin(const std::atomic<bool>& stop, Clock::time_point until, uint64_t seed) {
  uint64_t x = seed | 1, n = 0;
  while (!stop.load(std::memory_order_relaxed) && Clock::now() < until) {
    for (int i = 0; i < 4096; ++i) {  // xorshift64: arithmetic only
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
    }
    n += 4096;
    keep(x);
    sched::this_task::cond_resched();
  }
  return n;
}

// A random single cycle (Sattolo's algorithm) through 8 MiB of 64-byte lines: every step
// depends on a load that misses the caches.
class Chase {
 public:
  explicit Chase(uint64_t seed) : next_(kLines * kStride) {
    std::vector<uint32_t> order(kLines);
    std::iota(order.begin(), order.end(), 0u);
    std::mt19937_64 rng(seed);
    for (uint32_t i = kLines - 1; i > 0; --i) {
      std::uniform_int_distribution<uint32_t> pick(0, i - 1);
      std::swap(order[i], order[pick(rng)]);
    }
    for (uint32_t i = 0; i < kLines; ++i) next_[order[i] * kStride] = order[(i + 1) % kLines];
  }
  uint64_t run(const std::atomic<bool>& stop, Clock::time_point until) {
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed) && Clock::now() < until) {
      for (int i = 0; i < 256; ++i) at_ = next_[at_ * kStride];
      n += 256;
      sched::this_task::cond_resched();
    }
    return n;
  }

 private:
  static constexpr uint32_t kLines = (8u << 20) / 64;
  static constexpr size_t kStride = 64 / sizeof(uint32_t);
  std::vector<uint32_t> next_;
  uint32_t at_ = 0;
};

uint64_t syscalls(const std::atomic<bool>& stop, Clock::time_point until) {
  uint64_t n = 0;
  const timespec nap{0, 20'000};
  while (!stop.load(std::memory_order_relaxed) && Clock::now() < until) {
    for (int i = 0; i < 64; ++i) keep(static_cast<uint64_t>(syscall(SYS_getppid)));
    n += 64;
    if (n % 256 == 0) nanosleep(&nap, nullptr);  // a voluntary context switch
    sched::this_task::cond_resched();
  }
  return n;
}

}  // namespace

std::optional<Workload> parse_workload(std::string_view name) {
  if (name == "spin") return Workload::kSpin;
  if (name == "chase") return Workload::kChase;
  if (name == "syscall") return Workload::kSyscall;
  if (name == "mixed") return Workload::kMixed;
  return std::nullopt;
}

const char* to_string(Workload w) {
  switch (w) {
    case Workload::kSpin:
      return "spin";
    case Workload::kChase:
      return "chase";
    case Workload::kSyscall:
      return "syscall";
    case Workload::kMixed:
      return "mixed";
  }
  return "?";
}

std::vector<std::string> workload_names() {
  return {"spin", "chase", "syscall", "mixed"};
}

uint64_t run_workload(Workload w, const std::atomic<bool>& stop, uint64_t seed) {
  const auto forever = Clock::time_point::max();
  switch (w) {
    case Workload::kSpin:
      return spin(stop, forever, seed);
    case Workload::kChase:
      return Chase(seed).run(stop, forever);
    case Workload::kSyscall:
      return syscalls(stop, forever);
    case Workload::kMixed: {
      Chase chase(seed);
      uint64_t n = 0;
      for (int phase = 0; !stop.load(std::memory_order_relaxed); ++phase) {
        const auto until = Clock::now() + std::chrono::milliseconds(20);
        if (phase % 3 == 0) n += spin(stop, until, seed);
        if (phase % 3 == 1) n += chase.run(stop, until);
        if (phase % 3 == 2) n += syscalls(stop, until);
      }
      return n;
    }
  }
  return 0;
}

}  // namespace pctx::tools

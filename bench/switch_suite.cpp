// Task switches with N events per task, side by side with the kernel's context switch with
// N software events per thread. pctx: two tasks on the target CPU yield to each other;
// the kernel: two threads pinned to the target CPU pass a byte through two pipes. Each
// iteration times K round trips (2K switches, the counter `ops`). The cost of perf at a
// switch is the time with N events less the time with none, on both sides.
#include <unistd.h>

#include <fmt/format.h>
#include <boost/context/fiber.hpp>
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define PCTX_HAVE_CALLGRIND 1
#endif

#include <atomic>
#include <thread>

#include "bench_env.hpp"
#include "pctx/cpu/pinning.hpp"
#include "pctx/cpu/relax.hpp"
#include "pctx/sched/this_task.hpp"
#include "suites.hpp"

namespace pctx::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRoundTrips = 2000;

enum class Pmus { kTsc, kSoftware, kBoth, kHardware };

// Under callgrind (scripts/switch_instructions.sh), the instructions of the timed switches
// alone: the counts start from zero here and are dumped after, named by the number of
// switches. Outside valgrind these cost a few instructions and do nothing.
void count_instructions_from_here() {
#ifdef PCTX_HAVE_CALLGRIND
  CALLGRIND_ZERO_STATS;
#endif
}
void count_instructions_to_here() {
#ifdef PCTX_HAVE_CALLGRIND
  static_assert(kRoundTrips == 2000, "the dump's name gives the number of switches");
  CALLGRIND_DUMP_STATS_AT("pctx-switches 4000");
#endif
}

// n hardware events for a task: cycles and instructions in turn, counted through rdpmc.
std::vector<core::Event*> hardware_events(BenchEnv& env, int n) {
  std::vector<core::Event*> out;
  for (int i = 0; i < n; ++i) {
    const uint64_t config = env.hardware_config(i % 2 == 0 ? "cycles:u" : "instructions:u");
    if (config == 0) return {};
    auto one = env.events(env.hardware(), 1, config);
    out.insert(out.end(), one.begin(), one.end());
  }
  return out;
}

// One iteration: two fresh tasks with their events installed, K yields each; the first
// task times its loop once the second runs.
double time_switches(BenchEnv& env, benchmark::State& state, int n, Pmus pmus) {
  std::atomic<bool> b_running{false}, a_done{false};
  double elapsed = 0;
  sched::TaskRef a = env.task([&] {
    while (!b_running.load(std::memory_order_acquire)) sched::this_task::yield();
    const auto start = Clock::now();
    count_instructions_from_here();
    for (int i = 0; i < kRoundTrips; ++i) sched::this_task::yield();
    count_instructions_to_here();
    elapsed = seconds_since(start);
    a_done.store(true, std::memory_order_release);
  });
  sched::TaskRef b = env.task([&] {
    b_running.store(true, std::memory_order_release);
    while (!a_done.load(std::memory_order_acquire)) sched::this_task::yield();
  });
  for (sched::Task* t : {a.get(), b.get()}) {
    core::ContextRef ref = *env.core().task_context(*t);
    core::Context* ctx = ref.get();
    const int tsc = pmus == Pmus::kTsc ? n : pmus == Pmus::kBoth ? (n + 1) / 2 : 0;
    const int sw = n - tsc;
    const auto cfg = core::PerfSoftwarePmu::config_of("task-clock").value();
    if (pmus == Pmus::kHardware) {
      const auto hw = hardware_events(env, n);
      if (static_cast<int>(hw.size()) != n) {
        state.SkipWithError("cycles:u and instructions:u do not encode here");
        return 0;
      }
      if (!env.install_all(state, ctx, hw)) return 0;
      continue;
    }
    if (!env.install_all(state, ctx, env.events(env.tsc(), tsc)) ||
        !env.install_all(state, ctx, env.events(env.software(), sw, cfg))) {
      return 0;
    }
  }
  env.sched().wake(*a);
  env.sched().wake(*b);
  a->join();
  b->join();
  return elapsed;
}

void pctx_switch(benchmark::State& state, Pmus pmus, int tsc_counters) {
  BenchEnv::Options o;
  o.tsc_counters = tsc_counters;
  o.hardware = pmus == Pmus::kHardware;
  auto env = BenchEnv::start(state, o);
  if (!env) return;
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    const double t = time_switches(*env, state, n, pmus);
    if (t <= 0) return;
    state.SetIterationTime(t);
  }
  state.counters["ops"] = 2 * kRoundTrips;
}

void switch_tsc(benchmark::State& state) {
  pctx_switch(state, Pmus::kTsc, 64);
}
void switch_sw(benchmark::State& state) {
  pctx_switch(state, Pmus::kSoftware, 64);
}
// Each task's cycles and instructions on the hardware PMU (skipped without one).
void switch_hw(benchmark::State& state) {
  pctx_switch(state, Pmus::kHardware, 64);
}
void switch_two_pmus(benchmark::State& state) {
  pctx_switch(state, Pmus::kBoth, 64);
}
// N flexible groups installed per task on a PMU of 4 counters: 4 go on.
void switch_installed_4_counters(benchmark::State& state) {
  pctx_switch(state, Pmus::kTsc, 4);
}

// The kernel: a pipe ping-pong between two threads on one CPU, each with N task-clock
// events of its own.
class PingPong {
 public:
  explicit PingPong(int events) {
    if (pipe(ab_) != 0 || pipe(ba_) != 0) return;
    b_ = std::thread([this, events] {
      cpu::pin_current_thread(cpus().target);
      const auto fds = open_events(events);
      char c;
      while (read(ab_[0], &c, 1) == 1 && c != 'q') {
        if (write(ba_[1], &c, 1) != 1) break;
      }
      for (int fd : fds) close(fd);
    });
    a_ = std::thread([this, events] {
      cpu::pin_current_thread(cpus().target);
      const auto fds = open_events(events);
      ready_.fetch_add(1);
      ready_.notify_all();
      while (true) {
        int want = go_.load(std::memory_order_acquire);
        while (want == 0) {
          go_.wait(0);
          want = go_.load(std::memory_order_acquire);
        }
        if (want < 0) break;
        const auto start = Clock::now();
        char c = 'x';
        for (int i = 0; i < want; ++i) {
          if (write(ab_[1], &c, 1) != 1 || read(ba_[0], &c, 1) != 1) break;
        }
        result_ = seconds_since(start);
        go_.store(0, std::memory_order_release);
        done_.fetch_add(1, std::memory_order_release);
        done_.notify_all();
      }
      const char q = 'q';
      (void)!write(ab_[1], &q, 1);
      for (int fd : fds) close(fd);
    });
  }
  ~PingPong() {
    go_.store(-1);
    go_.notify_all();
    if (a_.joinable()) a_.join();
    if (b_.joinable()) b_.join();
    for (int fd : {ab_[0], ab_[1], ba_[0], ba_[1]}) close(fd);
  }
  bool ok() {
    while (ready_.load() == 0) ready_.wait(0);  // the timing thread has opened its events
    return open_failed_.load() == 0;
  }
  // Seconds for `round_trips` round trips (two switches each).
  double run(int round_trips) {
    const int before = done_.load();
    go_.store(round_trips, std::memory_order_release);
    go_.notify_all();
    while (done_.load(std::memory_order_acquire) == before) done_.wait(before);
    return result_;
  }

 private:
  // The thread's own counting events (pid 0: the calling thread, any CPU).
  std::vector<int> open_events(int n) {
    std::vector<int> fds;
    for (int i = 0; i < n; ++i) {
      const int fd = open_task_clock(0);
      if (fd < 0) {
        open_failed_.fetch_add(1);
      } else {
        fds.push_back(fd);
      }
    }
    return fds;
  }
  int ab_[2] = {-1, -1}, ba_[2] = {-1, -1};
  std::atomic<int> go_{0}, done_{0}, open_failed_{0}, ready_{0};
  double result_ = 0;
  std::thread a_, b_;
};

void kernel_switch(benchmark::State& state) {
  PingPong pp(static_cast<int>(state.range(0)));
  if (!pp.ok()) {
    state.SkipWithError("perf_event_open failed: see `pctx info` for permissions");
    return;
  }
  for (auto _ : state) state.SetIterationTime(pp.run(kRoundTrips));
  state.counters["ops"] = 2 * kRoundTrips;
}

// The floor of a task switch: one Boost.Context fiber switch, as a ping-pong between the
// benchmark thread and a fiber.
void fiber_switch_floor(benchmark::State& state) {
  namespace ctx = boost::context;
  ctx::fiber f([](ctx::fiber&& caller) {
    while (true) caller = std::move(caller).resume();
    return std::move(caller);
  });
  for (auto _ : state) {
    f = std::move(f).resume();  // there and back: two switches
  }
  state.counters["ops"] = 2;
}

}  // namespace

void register_switch_suite() {
  for (auto* b : {benchmark::RegisterBenchmark("switch_tsc", switch_tsc),
                  benchmark::RegisterBenchmark("switch_two_pmus", switch_two_pmus),
                  benchmark::RegisterBenchmark("kernel_switch", kernel_switch)}) {
    b->UseManualTime();
    for (int n : {0, 1, 4, 8, 16, 64}) b->Arg(n);
  }
  benchmark::RegisterBenchmark("switch_sw", switch_sw)->UseManualTime()->Arg(4);
  benchmark::RegisterBenchmark("switch_hw", switch_hw)->UseManualTime()->Arg(2);
  auto* scale =
      benchmark::RegisterBenchmark("switch_installed_4_counters", switch_installed_4_counters);
  scale->UseManualTime();
  for (int n : {4, 16, 64, 256}) scale->Arg(n);
  benchmark::RegisterBenchmark("fiber_switch_floor", fiber_switch_floor)->UseRealTime();
}

}  // namespace pctx::bench

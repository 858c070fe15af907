// Install, side by side with the kernel's perf_event_open on the same kinds of target:
// a task that is not running (a blocked thread), a task running on the other CPU that
// never yields (a thread spinning there: an IPI, here a signal), and a CPU context of the
// other CPU whose thread is idle and polling. Each iteration installs (or opens) a batch;
// removal (close) happens outside the timed part. The counter `ops` is the installs per
// iteration.
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "bench_env.hpp"
#include "pctx/cpu/pinning.hpp"
#include "pctx/cpu/relax.hpp"
#include "suites.hpp"

namespace pctx::bench {
namespace {

using Clock = std::chrono::steady_clock;
// Calls are timed one per iteration: an install into a context that holds k groups already
// reschedules them (the kernel's ctx_resched), so batches would time a growing context.
// The cheap paths (no call) are timed in batches, so the clock reads do not dominate.
constexpr int kCallBatch = 1;
constexpr int kLocalBatch = 16;

// Installs a batch into `ctx` per iteration; `ops` is the batch.
void install_batches(benchmark::State& state, BenchEnv& env, core::Context* ctx, int batch) {
  const auto groups = env.events(env.tsc(), batch);
  for (auto _ : state) {
    const auto start = Clock::now();
    for (core::Event* e : groups) {
      if (env.core().install(ctx, e) != 0) {
        state.SkipWithError("install failed");
        return;
      }
    }
    state.SetIterationTime(seconds_since(start));
    env.remove_all(groups);
  }
  state.counters["ops"] = batch;
}

void install_not_running(benchmark::State& state) {
  auto env = BenchEnv::start(state);
  if (!env) return;
  core::Task task;  // never scheduled: the kernel's blocked thread
  core::ContextRef ctx = *env->core().task_context(task);
  install_batches(state, *env, ctx.get(), kLocalBatch);
  env->core().exit_task(task);
}

void install_remote_running(benchmark::State& state) {
  auto env = BenchEnv::start(state);
  if (!env) return;
  std::atomic<bool> stop{false};
  // Runs on the target CPU and never yields: every install reaches it by signal.
  sched::TaskRef task = env->task([&] {
    while (!stop.load(std::memory_order_relaxed)) cpu::cpu_relax();
  });
  core::ContextRef ctx = *env->core().task_context(*task);
  env->sched().wake(*task);
  while (task->oncpu.load() != env->target()) cpu::cpu_relax();
  install_batches(state, *env, ctx.get(), kCallBatch);
  stop = true;
  task->join();
}

void install_cpu_polling(benchmark::State& state) {
  BenchEnv::Options o;
  o.spin = std::chrono::hours(1);  // the target's CPU thread never sleeps
  auto env = BenchEnv::start(state, o);
  if (!env) return;
  install_batches(state, *env, env->core().cpu_context(env->target()), kCallBatch);
}

// The same install made on the target CPU itself, from a task there: no call, only the
// handler's work. install_cpu_polling less this is what the call costs.
void install_cpu_local(benchmark::State& state) {
  auto env = BenchEnv::start(state);
  if (!env) return;
  const auto groups = env->events(env->tsc(), 1);
  core::Context* ctx = env->core().cpu_context(env->target());
  for (auto _ : state) {
    double elapsed = 0;
    sched::TaskRef t = env->task([&] {
      for (int i = 0; i < 1000; ++i) {
        const auto start = Clock::now();
        env->core().install(ctx, groups[0]);
        elapsed += seconds_since(start);
        env->core().remove(groups[0]);
      }
    });
    env->sched().wake(*t);
    t->join();
    state.SetIterationTime(elapsed);
  }
  state.counters["ops"] = 1000;
}

void open_batches(benchmark::State& state, pid_t tid, int batch) {
  std::vector<int> fds(static_cast<size_t>(batch));
  for (auto _ : state) {
    const auto start = Clock::now();
    for (int& fd : fds) fd = open_task_clock(tid);
    state.SetIterationTime(seconds_since(start));
    for (int fd : fds) {
      if (fd < 0) {
        state.SkipWithError("perf_event_open failed: see `pctx info` for permissions");
        return;
      }
      close(fd);
    }
  }
  state.counters["ops"] = batch;
}

// A thread on the target CPU, either spinning or blocked on a condition variable.
class TargetThread {
 public:
  explicit TargetThread(bool spin)
      : thread_([this, spin] {
          cpu::pin_current_thread(cpus().target);
          tid_ = static_cast<pid_t>(syscall(SYS_gettid));
          if (spin) {
            while (!stop_.load(std::memory_order_relaxed)) cpu::cpu_relax();
          } else {
            std::unique_lock l(m_);
            cv_.wait(l, [this] { return stop_.load(); });
          }
        }) {
    while (tid_.load() == 0) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // spinning or asleep by now
  }
  ~TargetThread() {
    {
      std::lock_guard l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  pid_t tid() const { return tid_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<pid_t> tid_{0};
  std::mutex m_;
  std::condition_variable cv_;
  std::thread thread_;
};

void kernel_open_running(benchmark::State& state) {
  TargetThread t(true);
  open_batches(state, t.tid(), kCallBatch);
}

void kernel_open_blocked(benchmark::State& state) {
  TargetThread t(false);
  open_batches(state, t.tid(), kLocalBatch);
}

void kernel_open_self(benchmark::State& state) {
  open_batches(state, 0, kLocalBatch);
}

}  // namespace

void register_install_suite() {
  benchmark::RegisterBenchmark("install_not_running", install_not_running)->UseManualTime();
  benchmark::RegisterBenchmark("install_remote_running", install_remote_running)->UseManualTime();
  benchmark::RegisterBenchmark("install_cpu_polling", install_cpu_polling)->UseManualTime();
  benchmark::RegisterBenchmark("install_cpu_local", install_cpu_local)->UseManualTime();
  benchmark::RegisterBenchmark("kernel_open_running", kernel_open_running)->UseManualTime();
  benchmark::RegisterBenchmark("kernel_open_blocked", kernel_open_blocked)->UseManualTime();
  benchmark::RegisterBenchmark("kernel_open_self", kernel_open_self)->UseManualTime();
}

}  // namespace pctx::bench

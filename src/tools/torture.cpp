// `pctx torture`: sets the run up, starts its threads, waits, and tears everything down
// with the end-of-run checks (every CPU back, counts match the scheduler's record, every
// object freed, the kernel log clean).
#include "tools/torture.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <csignal>

#include <fmt/format.h>

#include <cstring>
#include <thread>

#include "pctx/cpu/hotplug.hpp"
#include "pctx/cpu/rcu.hpp"
#include "pctx/cpu/sysfs.hpp"
#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/encoding.hpp"
#include "pctx/pmu/scale.hpp"
#include "pctx/pmu/spec.hpp"
#include "tools/signals.hpp"
#include "tools/torture_rig.hpp"

namespace pctx::tools {

using namespace torture;

namespace {

std::atomic<bool> g_interrupted{false};
struct sigaction g_previous[3];
constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};

// The first Ctrl-C (or SIGTERM, SIGHUP) ends the run with a report; a second one goes to
// the handler that was there before (pctx's exit guard: CPUs back, then exit).
void on_signal(int sig) {
  if (!g_interrupted.exchange(true)) return;
  for (int i = 0; i < 3; ++i) {
    if (kSignals[i] == sig) sigaction(sig, &g_previous[i], nullptr);
  }
  raise(sig);
}

base::Status install_signal_handlers() {
  g_interrupted = false;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  return install_handlers(kSignals, sa, g_previous);
}

void restore_signal_handlers() {
  restore_handlers(kSignals, g_previous);
}

// The kernel log from now on, where readable: warnings, BUGs, lockdep and RCU stalls.
class KernelLog {
 public:
  KernelLog() {
    fd_ = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ >= 0) lseek(fd_, 0, SEEK_END);
  }
  ~KernelLog() {
    if (fd_ >= 0) close(fd_);
  }
  bool readable() const { return fd_ >= 0; }
  std::vector<std::string> matching() {
    std::vector<std::string> out;
    if (fd_ < 0) return out;
    char buf[8192];
    while (true) {
      const ssize_t n = read(fd_, buf, sizeof buf - 1);
      if (n < 0 && errno == EPIPE) continue;  // overwritten records: skip to the next
      if (n <= 0) break;
      buf[n] = '\0';
      // A record is "prio,seq,time,flags;message".
      const char* msg = std::strchr(buf, ';');
      std::string text = msg != nullptr ? std::string(msg + 1) : std::string(buf);
      while (!text.empty() && text.back() == '\n') text.pop_back();
      for (const char* key : {"WARNING", "WARN", "BUG", "lockdep", "possible circular", "RCU stall",
                              "rcu_sched self-detected stall",
                              "rcu: INFO: rcu_preempt detected stalls", "detected stalls"}) {
        if (text.find(key) != std::string::npos) {
          out.push_back(text);
          break;
        }
      }
    }
    return out;
  }

 private:
  int fd_ = -1;
};

base::Status set_up(Rig& rig) {
  const TortureOptions& o = rig.options;
  cpu::RuntimeOptions ro;
  ro.cpus = rig.managed;
  ro.watch_hotplug = true;  // CPUs toggled by others are followed too
  ro.thread.scheduler = sched::Scheduler::hook();
  auto rt = cpu::CpuRuntime::start(ro);
  if (!rt) return rt.error();
  rig.runtime = std::move(*rt);
  auto core = core::PerfCore::start(*rig.runtime);
  if (!core) return core.error();
  rig.core = std::move(*core);
  rig.tsc = std::make_unique<core::TscPmu>(o.tsc_counters);
  rig.cpu_tsc = std::make_unique<core::TscPmu>(4);
  rig.core->register_pmu(*rig.tsc);
  rig.core->register_pmu(*rig.cpu_tsc);
  auto sw = core::PerfSoftwarePmu::open(*rig.runtime);
  if (!sw) return sw.error();
  rig.software = std::move(*sw);
  rig.core->register_pmu(*rig.software);
  if (pmu::probe_capabilities().hardware_pmu) {
    auto parsed = pmu::parse_spec("cycles");
    auto cycles = parsed ? pmu::encode_event(parsed->groups[0].events[0])
                         : base::Result<pmu::EncodedEvent>(parsed.error());
    auto hw = core::PerfHardwarePmu::open(*rig.runtime, 2);
    if (!cycles || !hw) return cycles ? hw.error() : cycles.error();
    rig.hardware = std::move(*hw);
    rig.cycles_config = rig.hardware->config_for(*cycles);
    rig.core->register_pmu(*rig.hardware);
  }
  auto s = sched::Scheduler::start(*rig.runtime, rig.core.get());
  if (!s) return s.error();
  rig.scheduler = std::move(*s);
  // A CPU that could not drain its tasks before going offline: the scheduler reports it
  // (the library prints nothing), and the run counts it against the verdict.
  Rig* r = &rig;
  rig.scheduler->on_drain_timeout(
      [r](const sched::DrainTimedOut& d) { r->violate(d.cpu, "drain timeout", d.message); });
  return base::Ok{};
}

const uint64_t kTaskClock = core::PerfSoftwarePmu::config_of("task-clock").value();
const uint64_t kSwitches = core::PerfSoftwarePmu::config_of("context-switches").value();

// A software group {task-clock,context-switches}.
core::Event* software_group(Rig& rig) {
  core::Event* leader = rig.make_event(rig.software.get(), kTaskClock);
  if (leader == nullptr) return nullptr;
  core::EventAttr attr;
  attr.pmu = rig.software.get();
  attr.config = kSwitches;
  if (auto s = rig.core->create_event(attr, leader); !s)
    rig.violate(-1, "create_event", s.error().message);
  return leader;
}

base::Status spawn_tasks(Rig& rig) {
  const std::vector<Workload> mix = {Workload::kSpin, Workload::kChase, Workload::kSyscall,
                                     Workload::kMixed};
  size_t n = 0;
  for (int c : rig.initial_online.cpus()) {
    for (int i = 0; i < rig.options.tasks; ++i, ++n) {
      auto t = std::make_unique<CountedTask>();
      t->workload = mix[n % mix.size()];
      sched::SpawnOptions so;
      so.name = fmt::format("{}-{}.{}", to_string(t->workload), c, i);
      // Every third task asks for its CPU only: hotplug widens and restores it.
      if (n % 3 == 0) so.affinity = cpu::CpuSet::of({c});
      so.start = false;
      const Workload w = t->workload;
      const uint64_t seed = rig.options.seed + n;
      auto task = rig.scheduler->spawn(
          [&rig, w, seed] { (void)run_workload(w, rig.stop_tasks, seed); }, so);
      if (!task) return task.error();
      t->task = std::move(*task);
      CountedTask& counted = *t;
      rig.tasks.push_back(std::move(t));  // from now on, woken and joined at the end
      auto ctx = rig.core->task_context(*counted.task);
      if (!ctx) return ctx.error();
      counted.ctx = std::move(*ctx);
      counted.reference = rig.make_event(rig.tsc.get(), 0, /*pinned=*/true);
      for (int k = 0; k < 3; ++k) counted.flexible.push_back(rig.make_event(rig.tsc.get(), 0));
      counted.software = software_group(rig);
      if (rig.hardware) counted.hardware = rig.make_event(rig.hardware.get(), rig.cycles_config);
      for (core::Event* e : counted.all()) {
        if (e == nullptr) return base::make_error(-EINVAL, "could not create a task's events");
        if (int rc = rig.core->install(counted.ctx.get(), e); rc != 0) {
          return base::make_error(rc, fmt::format("cannot install in {}", so.name));
        }
      }
      rig.task_contexts.push_back(counted.ctx.get());
    }
  }
  for (auto& t : rig.tasks) rig.scheduler->wake(*t->task);
  return base::Ok{};
}

base::Status install_cpu_events(Rig& rig) {
  rig.cpu_events.resize(static_cast<size_t>(rig.managed.last()) + 1);
  for (int c : rig.managed.cpus()) {
    core::Event* tsc = rig.make_event(rig.cpu_tsc.get(), 0);
    core::Event* sw = software_group(rig);
    if (tsc == nullptr || sw == nullptr) return base::make_error(-EINVAL, "CPU events");
    for (core::Event* e : {tsc, sw}) {
      if (int rc = rig.core->install(rig.core->cpu_context(c), e); rc != 0) {
        return base::make_error(rc, fmt::format("cannot install CPU events on cpu{}", c));
      }
    }
    rig.cpu_events[static_cast<size_t>(c)] = {tsc, sw};
  }
  return base::Ok{};
}

// Invariant 8 for each task, on its pinned tsc event: it counted every moment the task was
// current and nothing else, that is the scheduler's record, which uses the same instant per
// switch as the hooks. Its multiplexed groups all ran.
void check_tasks(Rig& rig) {
  for (const auto& t : rig.tasks) {
    const sched::Task& task = *t->task;
    const core::Reading ref = rig.core->read(t->reference);
    const double count = static_cast<double>(ref.count);
    const double record = static_cast<double>(task.on_cpu_ticks());
    // 0.1% of slack for rdtsc's own skew across CPUs.
    if (!(count >= record * 0.999 && count <= record * 1.001)) {
      rig.violate(task.cpu(), "uncounted",
                  fmt::format("{}: tsc count {} vs {} ticks on CPU ({:+.2f}%); its pinned "
                              "event is {}, enabled {} ns, running {} ns",
                              task.name(), ref.count, task.on_cpu_ticks(),
                              record > 0 ? 100.0 * (count / record - 1.0) : 0.0,
                              core::to_string(ref.state), ref.time_enabled, ref.time_running));
    }
    if (task.on_cpu_time() < std::chrono::milliseconds(200)) continue;  // too short to judge
    for (size_t i = 0; i < t->flexible.size(); ++i) {
      const core::Reading r = rig.core->read(t->flexible[i]);
      if (r.time_running == 0) {
        rig.violate(task.cpu(), "starved",
                    fmt::format("{}: multiplexed group {} never ran in {} ms on CPU", task.name(),
                                i, task.on_cpu_time().count() / 1'000'000));
      }
    }
  }
}

void bring_cpus_back(Rig& rig) {
  auto& hp = rig.runtime->hotplug();
  for (int attempt = 0; attempt < 100; ++attempt) {
    const cpu::CpuSet missing = rig.initial_online - cpu::online_cpus();
    if (missing.empty()) break;
    for (int c : missing.cpus()) {
      if (!hp.cpu_up(c)) (void)cpu::write_cpu_online(c, true);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const cpu::CpuSet now = cpu::online_cpus();
  if (!(now == rig.initial_online)) {
    rig.violate(-1, "cpus not restored",
                fmt::format("online {} at the end, {} at the start", now.to_string(),
                            rig.initial_online.to_string()));
  }
  // pctx itself follows: its steps ran for every CPU that is back.
  const bool followed = [&] {
    for (int i = 0; i < 2000; ++i) {
      if ((hp.online() & rig.managed) == (cpu::online_cpus() & rig.managed)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }();
  if (!followed) rig.violate(-1, "not followed", "pctx's view of the online CPUs lags sysfs");
}

void collect_stats(Rig& rig) {
  auto& r = rig.report;
  base::MutexLock lock(r.mutex);
  r.install_retries = rig.core->stats().task_retries.load();
  r.rotations = rig.core->stats().rotations.load();
  for (int c : rig.managed.cpus()) {
    const auto* t = rig.runtime->thread(c);
    if (t == nullptr) continue;
    r.cross_calls += t->stats().calls.load();
    r.signals += t->stats().signal_calls.load() + t->stats().timer_signals.load();
  }
  for (auto d : rig.scheduler->rebalance_delays()) r.rebalance_delay_ns.push_back(d.count());
  r.kernel_refusals = cpu::hotplug_failures_by_errno();
}

void tear_down(Rig& rig) {
  // Every task ends, also those a failed set-up never woke: the scheduler waits for them.
  rig.stop_tasks = true;
  for (auto& t : rig.tasks) {
    if (t->task->state() == sched::TaskState::kNew) rig.scheduler->wake(*t->task);
    t->task->join();
  }
  auto put_all = [&](core::Event* e) {
    if (e == nullptr) return;
    // -ENOENT: not installed (a set-up that failed halfway), which is no violation.
    if (const int rc = rig.core->remove(e); rc != 0 && rc != -ENOENT) {
      rig.violate(-1, "remove", "at the end");
    }
    core::put_event(e);
  };
  std::vector<ExtraGroup> extras;
  {
    base::MutexLock lock(rig.extras_mutex);
    extras.swap(rig.extras);
  }
  for (auto& g : extras) put_all(g.leader);
  for (auto& t : rig.tasks) {
    for (core::Event* e : t->all()) put_all(e);
  }
  for (auto& per_cpu : rig.cpu_events) {
    for (core::Event* e : per_cpu) put_all(e);
  }
  rig.cpu_events.clear();
  rig.task_contexts.clear();
  rig.tasks.clear();  // the tasks' context references go with them
  rig.scheduler.reset();
  rig.core.reset();  // waits for an RCU grace period: PmuContexts are freed by then
  rig.runtime.reset();
}

}  // namespace

int run_torture(const TortureOptions& o, TortureReport& report) {
  Rig rig(o, report);
  report.seed = o.seed;
  report.external = o.external;
  rig.initial_online = cpu::online_cpus();
  rig.managed = cpu::present_cpus();
  rig.victims = cpu::hotpluggable_cpus() & rig.initial_online;
  if (!o.allow_cpu0) rig.victims = rig.victims - cpu::CpuSet::of({0});
  report.victims = rig.victims;
  const core::LiveObjects live0 = core::PerfCore::live_objects();

  KernelLog kernel_log;
  base::Status signals = install_signal_handlers();
  std::vector<std::thread> threads;
  std::thread watchdog;
  base::Status st = signals;
  if (st) st = set_up(rig);
  if (st) st = install_cpu_events(rig);
  if (st) st = spawn_tasks(rig);
  if (!st) {
    rig.violate(-1, "set-up", st.error().message);
  } else {
    WatchSlot& main_slot = rig.new_slot();
    WatchSlot& checker = rig.new_slot();
    WatchSlot& driver = rig.new_slot();
    std::vector<WatchSlot*> installers;
    installers.reserve(static_cast<size_t>(o.installers));
    for (int i = 0; i < o.installers; ++i) installers.push_back(&rig.new_slot());
    watchdog = std::thread([&] { watchdog_thread(rig); });
    threads.emplace_back([&] { checker_thread(rig, checker); });
    threads.emplace_back([&] { hotplug_thread(rig, driver); });
    for (int i = 0; i < o.installers; ++i) {
      threads.emplace_back(
          [&, i] { installer_thread(rig, i, *installers[static_cast<size_t>(i)]); });
    }
    const auto end = rig.start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(o.duration_s));
    while (Clock::now() < end && !g_interrupted.load()) {
      if (o.cycles != 0 && report.cycles.load() >= o.cycles) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (o.progress) {
        const double left = std::max(0.0, o.duration_s - rig.now_s());
        uint64_t errors = 0;
        {
          // The hotplug thread counts them meanwhile.
          base::MutexLock lock(report.mutex);
          errors = report.offline.failures() + report.online.failures();
        }
        fmt::print(
            stderr,
            "\r  pctx torture: {} cycles, {} errors, {} violations, {:.0f} s, {:.0f} s left ",
            report.cycles.load(), errors, report.violation_count(), rig.now_s(), left);
      }
    }
    if (o.progress) fmt::print(stderr, "\r\033[K");
    report.interrupted = g_interrupted.load();
    rig.halt = true;
    for (auto& t : threads) t.join();
    {
      WatchScope w(main_slot, "bringing every CPU back", -1);
      bring_cpus_back(rig);
    }
    {
      WatchScope w(main_slot, "stopping the tasks", -1);
      rig.stop_tasks = true;
      for (auto& t : rig.tasks) t->task->join();
    }
    check_tasks(rig);
    collect_stats(rig);
    WatchScope w(main_slot, "tearing down", -1);
    tear_down(rig);
  }
  rig.halt = true;
  if (rig.runtime) tear_down(rig);  // after a failed set-up
  if (watchdog.joinable()) watchdog.join();
  cpu::rcu::barrier();
  if (const core::LiveObjects live = core::PerfCore::live_objects(); live != live0) {
    rig.violate(-1, "leak",
                fmt::format("alive after the run: {} events, {} contexts, {} PMU contexts "
                            "(before: {}, {}, {})",
                            live.events, live.contexts, live.pmu_contexts, live0.events,
                            live0.contexts, live0.pmu_contexts));
  }
  if (signals) restore_signal_handlers();
  {
    auto lines = kernel_log.matching();
    base::MutexLock lock(report.mutex);
    report.kernel_log_readable = kernel_log.readable();
    report.kernel_log = std::move(lines);
    report.elapsed_s = rig.now_s();
  }
  const std::string verdict = report.verdict();
  return verdict == "SUCCESS" ? 0 : verdict == "HOTPLUG_FAIL" ? 3 : 1;
}

}  // namespace pctx::tools

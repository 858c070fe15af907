#include "bench_env.hpp"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "pctx/cpu/pinning.hpp"
#include "pctx/cpu/sysfs.hpp"
#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/encoding.hpp"

namespace pctx::bench {

namespace {
Cpus g_cpus;
}

int open_task_clock(pid_t tid) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  return static_cast<int>(syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC));
}

const Cpus& cpus() {
  return g_cpus;
}

base::Status init_cpus() {
  const cpu::CpuSet online = cpu::online_cpus();
  if (online.count() < 2) {
    return base::make_error(-ENODEV, fmt::format("the benchmarks need two online CPUs (online: "
                                                 "{}); bring one up with `pctx hotplug up`",
                                                 online.to_string()));
  }
  g_cpus.caller = online.first();
  g_cpus.target = online.last();
  if (int err = cpu::pin_current_thread(g_cpus.caller).error; err != 0) {
    return base::make_error(err,
                            fmt::format("cannot pin the benchmark thread to cpu{}", g_cpus.caller));
  }
  return base::Ok{};
}

std::unique_ptr<BenchEnv> BenchEnv::start(benchmark::State& state, Options options) {
  std::unique_ptr<BenchEnv> env(new BenchEnv());
  auto fail = [&](const std::string& what) {
    state.SkipWithError(what.c_str());
    return nullptr;
  };
  cpu::RuntimeOptions ro;
  ro.cpus = cpu::CpuSet::of({cpus().target});
  ro.watch_hotplug = false;
  ro.thread.spin = options.spin;
  ro.thread.scheduler = sched::Scheduler::hook();
  auto rt = cpu::CpuRuntime::start(ro);
  if (!rt) return fail(rt.error().message);
  env->runtime_ = std::move(*rt);
  // The runtime does not watch hotplug here: a target that went offline since the start
  // would keep its thread parked, and the benchmark would wait for its tasks for ever.
  if (!env->runtime_->running_cpus().test(cpus().target)) {
    return fail(
        fmt::format("cpu{0} went offline during the benchmarks (another program "
                    "toggles it?); bring it back with `pctx hotplug up {0}` and run "
                    "again",
                    cpus().target));
  }
  auto core = core::PerfCore::start(*env->runtime_);
  if (!core) return fail(core.error().message);
  env->core_ = std::move(*core);
  env->tsc_ = std::make_unique<core::TscPmu>(options.tsc_counters);
  auto sw = core::PerfSoftwarePmu::open(*env->runtime_);
  if (!sw) return fail(sw.error().message);
  env->software_ = std::move(*sw);
  env->core_->register_pmu(*env->tsc_);
  env->core_->register_pmu(*env->software_);
  if (options.hardware) {
    const auto caps = pmu::probe_capabilities();
    if (!caps.hardware_pmu) return fail("no hardware PMU: " + caps.hardware_pmu_reason);
    auto hw =
        core::PerfHardwarePmu::open(*env->runtime_, std::max(1, caps.available_core_counters()));
    if (!hw) return fail(hw.error().message);
    env->hardware_ = std::move(*hw);
    env->core_->register_pmu(*env->hardware_);
  }
  auto s = sched::Scheduler::start(*env->runtime_, env->core_.get());
  if (!s) return fail(s.error().message);
  env->sched_ = std::move(*s);
  return env;
}

BenchEnv::~BenchEnv() {
  if (core_) {
    for (core::Event* e : owned_) {
      (void)core_->remove(e);  // -ENOENT when the benchmark removed it
      core::put_event(e);
    }
  }
  sched_.reset();
  core_.reset();
  hardware_.reset();
  software_.reset();
  tsc_.reset();
  runtime_.reset();
}

uint64_t BenchEnv::hardware_config(const char* spec) {
  auto compiled = pmu::compile_spec(spec);
  if (!compiled || compiled->empty() || (*compiled)[0].events.empty()) return 0;
  return hardware_->config_for((*compiled)[0].events[0]);
}

std::vector<core::Event*> BenchEnv::events(core::Pmu& pmu, int n, uint64_t config) {
  std::vector<core::Event*> out;
  for (int i = 0; i < n; ++i) {
    core::EventAttr attr;
    attr.pmu = &pmu;
    attr.config = config;
    auto e = core_->create_event(attr);
    if (!e) break;
    owned_.push_back(*e);
    out.push_back(*e);
  }
  return out;
}

bool BenchEnv::install_all(benchmark::State& state, core::Context* ctx,
                           const std::vector<core::Event*>& groups) {
  for (core::Event* e : groups) {
    if (int err = core_->install(ctx, e); err != 0) {
      state.SkipWithError(fmt::format("install failed: {}", err).c_str());
      return false;
    }
  }
  return true;
}

void BenchEnv::remove_all(const std::vector<core::Event*>& groups) {
  for (core::Event* e : groups) core_->remove(e);
}

sched::TaskRef BenchEnv::task(std::function<void()> fn) {
  sched::SpawnOptions o;
  o.affinity = cpu::CpuSet::of({cpus().target});
  o.start = false;
  auto t = sched_->spawn(std::move(fn), o);
  return t ? std::move(*t) : sched::TaskRef();
}

}  // namespace pctx::bench

#include "pctx/cpu/runtime.hpp"
#include "pctx/base/errno_text.hpp"

#include <atomic>
#include <cerrno>

#include <fmt/format.h>

#include "cpu/thread_table.hpp"
#include "pctx/cpu/hotplug.hpp"
#include "pctx/cpu/sysfs.hpp"

namespace pctx::cpu {

namespace {
std::atomic<CpuRuntime*> g_runtime{nullptr};
}  // namespace

CpuRuntime* CpuRuntime::current() {
  return g_runtime.load();
}

base::Result<std::unique_ptr<CpuRuntime>> CpuRuntime::start(const RuntimeOptions& options) {
  const CpuSet present = present_cpus();
  CpuSet cpus = options.cpus.empty() ? present : options.cpus;
  if (!(cpus - present).empty()) {
    return base::make_error(-EINVAL,
                            fmt::format("CPUs {} are not present (present CPUs: {})",
                                        (cpus - present).to_string(), present.to_string()));
  }
  CpuRuntime* expected = nullptr;
  std::unique_ptr<CpuRuntime> rt(new CpuRuntime());
  if (!g_runtime.compare_exchange_strong(expected, rt.get())) {
    return base::make_error(-EBUSY, "a CPU runtime is already running in this process");
  }
  rt->cpus_ = cpus;
  HotplugOptions hp;
  hp.watch = options.watch_hotplug;
  rt->hotplug_ = std::make_unique<Hotplug>(hp);
  rt->hotplug_->set_managed(cpus);
  CpuThread::Options thread_options = options.thread;
  CpuRuntime* self = rt.get();
  thread_options.on_migrated = [self](int) { self->hotplug_->notify(); };
  rt->threads_.resize(static_cast<size_t>(cpus.last()) + 1);
  for (int cpu : cpus.cpus()) {
    auto t = std::make_unique<CpuThread>(cpu, thread_options);
    internal::set_thread_for(cpu, t.get());
    if (int err = t->start(cpu_is_online(cpu))) {
      internal::set_thread_for(cpu, nullptr);  // t goes now; the table must not name it
      return base::make_error(err, fmt::format("cannot start the thread of CPU {} (pinning it, or "
                                               "installing the cross-call signal's handler): {}",
                                               cpu, base::errno_text(-err)));
    }
    rt->threads_[static_cast<size_t>(cpu)] = std::move(t);
  }
  // The first stage: later layers' steps need the thread to take calls, so it comes up
  // first and goes down last.
  auto st = rt->hotplug_->add_step({HotplugStage::kCpuThread, "cpu-thread",
                                    [self](int cpu) { return self->thread(cpu)->unpark(); },
                                    [self](int cpu) {
                                      self->thread(cpu)->park();
                                      return 0;
                                    }});
  if (!st) return st.error();  // a new Hotplug has no steps: not expected
  return rt;
}

CpuRuntime::~CpuRuntime() {
  // Hotplug first: it brings back the CPUs this process took down, which unparks threads.
  hotplug_.reset();
  for (auto& t : threads_) {
    if (!t) continue;
    internal::set_thread_for(t->cpu(), nullptr);
    t->stop();
  }
  CpuRuntime* self = this;
  g_runtime.compare_exchange_strong(self, nullptr);
}

CpuThread* CpuRuntime::thread(int cpu) const {
  if (cpu < 0 || static_cast<size_t>(cpu) >= threads_.size()) return nullptr;
  return threads_[static_cast<size_t>(cpu)].get();
}

CpuSet CpuRuntime::running_cpus() const {
  CpuSet s;
  for (const auto& t : threads_) {
    if (t && t->state() == CpuState::kRunning) s.set(t->cpu());
  }
  return s;
}

}  // namespace pctx::cpu

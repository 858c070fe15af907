#include "pctx/core/perf_software_pmu.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pctx/core/instant.hpp"
#include "pctx/cpu/cross_call.hpp"
#include "pctx/pmu/kernel_pmus.hpp"
#include "pctx/pmu/software_events.hpp"

namespace pctx::core {

namespace {

bool same_attr(const perf_event_attr& a, const perf_event_attr& b) {
  return a.type == b.type && a.config == b.config && a.config1 == b.config1 &&
         a.config2 == b.config2 && a.exclude_user == b.exclude_user &&
         a.exclude_kernel == b.exclude_kernel && a.exclude_hv == b.exclude_hv &&
         a.precise_ip == b.precise_ip;
}

}  // namespace

int PerfSoftwarePmu::slot_of(uint64_t config) {
  for (size_t i = 0; i < std::size(kEvents); ++i) {
    if (kEvents[i] == config) return static_cast<int>(i);
  }
  return -1;
}

base::Result<uint64_t> PerfSoftwarePmu::config_of(std::string_view name) {
  const pmu::SoftwareEvent* e = pmu::find_software_event(name);
  if (e != nullptr && slot_of(e->config) >= 0) return e->config;
  std::vector<std::string_view> names;
  for (uint64_t c : kEvents) {
    for (const auto& s : pmu::software_events()) {
      if (s.config == c) names.push_back(s.name);
    }
  }
  return base::make_error(-EINVAL, fmt::format("'{}' is not one of the shared software events "
                                               "({}); encode it and use config_for()",
                                               name, fmt::join(names, ", ")));
}

base::Result<std::unique_ptr<PerfSoftwarePmu>> PerfSoftwarePmu::open(cpu::CpuRuntime& runtime) {
  pmu::EncodedGroup group;
  group.braced = true;
  for (uint64_t c : kEvents) {
    pmu::EncodedEvent e;
    e.attr.size = sizeof(perf_event_attr);
    e.attr.type = PERF_TYPE_SOFTWARE;
    e.attr.config = c;
    for (const auto& s : pmu::software_events()) {
      if (s.config == c) e.text = e.canonical = std::string(s.name);
    }
    group.events.push_back(std::move(e));
  }
  std::unique_ptr<PerfSoftwarePmu> p(new PerfSoftwarePmu());
  p->runtime_ = &runtime;
  p->cpus_.resize(static_cast<size_t>(runtime.cpus().last()) + 1);
  for (int c : runtime.cpus().cpus()) {
    auto per = std::make_unique<PerCpu>();
    // Counting the CPU thread itself: what runs on it is what its tasks do.
    if (p->shared_) {
      auto g = pmu::CounterGroup::open(group, pmu::Target::thread(runtime.thread(c)->tid()));
      if (!g && (g.error().code == -EACCES || g.error().code == -EPERM)) {
        // Kernel mode may not be counted here; user-mode variants still can be.
        p->shared_ = false;
        for (auto& opened : p->cpus_) {
          if (opened) opened->group = pmu::CounterGroup();
        }
      } else if (!g) {
        return g.error();
      } else {
        per->group = std::move(*g);
        // Sized once here, so the reads in passes never allocate.
        if (auto st = per->group.read(&per->snapshot); !st) return st.error();
      }
    }
    p->cpus_[static_cast<size_t>(c)] = std::move(per);
  }
  return p;
}

base::Result<uint64_t> PerfSoftwarePmu::config_for(const pmu::EncodedEvent& event) {
  const perf_event_attr& a = event.attr;
  if (shared_ && a.type == PERF_TYPE_SOFTWARE && slot_of(a.config) >= 0 && !a.exclude_user &&
      !a.exclude_kernel && !a.exclude_hv && a.precise_ip == 0) {
    return a.config;
  }
  const auto kernel_pmu = pmu::kernel_pmu_name(a.type);
  if (a.type == PERF_TYPE_HARDWARE || a.type == PERF_TYPE_HW_CACHE || a.type == PERF_TYPE_RAW ||
      (kernel_pmu && pmu::is_core_pmu_name(*kernel_pmu))) {
    return base::make_error(-EINVAL, fmt::format("'{}' needs a hardware counter; the perf "
                                                 "hardware PMU counts it",
                                                 event.text));
  }
  base::MutexLock lock(variants_mutex_);
  const int n = nr_variants_.load(std::memory_order_relaxed);
  for (int i = 0; i < n; ++i) {
    if (same_attr(variants_[static_cast<size_t>(i)].attr, a)) {
      return kVariantBase + static_cast<uint64_t>(i);
    }
  }
  if (n == kMaxVariants) {
    return base::make_error(-ENOSPC, fmt::format("'{}': at most {} distinct kernel events besides "
                                                 "the common software ones; use fewer",
                                                 event.text, kMaxVariants));
  }
  Variant& v = variants_[static_cast<size_t>(n)];
  std::vector<std::unique_ptr<VariantCounter>> cpus(cpus_.size());
  pmu::EncodedGroup one;
  one.events.push_back(event);
  for (int c : runtime_->cpus().cpus()) {
    auto vc = std::make_unique<VariantCounter>();
    auto g = pmu::CounterGroup::open(one, pmu::Target::thread(runtime_->thread(c)->tid()));
    if (!g) return g.error();
    vc->counter = std::move(*g);
    if (auto st = vc->counter.read(&vc->reading); !st) return st.error();
    cpus[static_cast<size_t>(c)] = std::move(vc);
  }
  v.attr = a;
  v.cpus = std::move(cpus);
  // Published for init(); a CPU thread reaches a variant only through an event installed
  // after this, so the install's own synchronisation orders the writes above for it.
  nr_variants_.store(n + 1, std::memory_order_release);
  return kVariantBase + static_cast<uint64_t>(n);
}

int PerfSoftwarePmu::init(PmuEvent& event) {
  const uint64_t config = event.config;
  if (config >= kVariantBase) {
    return config - kVariantBase < static_cast<uint64_t>(nr_variants_.load()) ? 0 : -EINVAL;
  }
  if (slot_of(config) < 0) return -EINVAL;
  return shared_ ? 0 : -EACCES;  // no shared group: only config_for's variants count
}

uint64_t PerfSoftwarePmu::value(int cpu, uint64_t config) const {
  return cpus_[static_cast<size_t>(cpu)]->snapshot.values[static_cast<size_t>(slot_of(config))];
}

uint64_t PerfSoftwarePmu::variant_value(int cpu, uint64_t config) const {
  auto& vc = *variants_[static_cast<size_t>(config - kVariantBase)].cpus[static_cast<size_t>(cpu)];
  // A failed read leaves the last value: the count stalls rather than jumps.
  (void)vc.counter.read(&vc.reading);
  return vc.reading.values[0];
}

void PerfSoftwarePmu::begin_pass(int cpu) {
  auto& per = *cpus_[static_cast<size_t>(cpu)];
  // A pass that can touch none of our events reads nothing: installing the first one
  // reads in add() instead.
  if (per.active == 0) {
    per.used = false;
    return;
  }
  take_snapshot(per);
}

// One read() per instant: a pass at the instant of the last snapshot (the sched-in half of a
// task switch) uses it as it is.
void PerfSoftwarePmu::take_snapshot(PerCpu& per) {
  per.used = true;
  const uint64_t instant = pass_instant_id();
  if (instant != 0 && instant == per.instant) return;
  (void)per.group.read(&per.snapshot);
  per.instant = instant;
  group_reads_.fetch_add(1, std::memory_order_relaxed);
}

int PerfSoftwarePmu::add(PmuEvent& event) {
  const int cpu = cpu::current_cpu();
  event.hw_slot = cpu;
  if (event.config >= kVariantBase) {
    event.hw_prev = variant_value(cpu, event.config);
    return 0;
  }
  auto& per = *cpus_[static_cast<size_t>(cpu)];
  if (!per.used) take_snapshot(per);  // the first of ours this pass
  ++per.active;
  event.hw_prev = value(cpu, event.config);
  return 0;
}

void PerfSoftwarePmu::read(PmuEvent& event) {
  const uint64_t now = event.config >= kVariantBase ? variant_value(event.hw_slot, event.config)
                                                    : value(event.hw_slot, event.config);
  event.count += now - event.hw_prev;
  event.hw_prev = now;
}

void PerfSoftwarePmu::del(PmuEvent& event) {
  read(event);
  if (event.config < kVariantBase) --cpus_[static_cast<size_t>(event.hw_slot)]->active;
}

}  // namespace pctx::core

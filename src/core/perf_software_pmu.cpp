#include "pctx/core/perf_software_pmu.hpp"

#include <cerrno>
#include <string>

#include "pctx/core/event.hpp"
#include "pctx/cpu/cross_call.hpp"

namespace pctx::core {

int PerfSoftwarePmu::slot_of(uint64_t config) {
  for (size_t i = 0; i < std::size(kEvents); ++i) {
    if (kEvents[i] == config) return static_cast<int>(i);
  }
  return -1;
}

int64_t PerfSoftwarePmu::config_of(std::string_view name) {
  for (size_t i = 0; i < std::size(kNames); ++i) {
    if (name == kNames[i]) return static_cast<int64_t>(kEvents[i]);
  }
  return -1;
}

pmu::Result<std::unique_ptr<PerfSoftwarePmu>> PerfSoftwarePmu::open(cpu::CpuRuntime& runtime) {
  std::string spec = "{";
  for (const char* n : kNames) spec += std::string(n) + ",";
  spec.back() = '}';
  auto groups = pmu::compile_spec(spec);
  if (!groups) return groups.error();
  std::unique_ptr<PerfSoftwarePmu> p(new PerfSoftwarePmu());
  p->cpus_.resize(static_cast<size_t>(runtime.cpus().last() + 1));
  for (int c : runtime.cpus().cpus()) {
    auto per = std::make_unique<PerCpu>();
    // Counting the CPU thread itself: what runs on it is what its tasks do.
    auto g = pmu::CounterGroup::open((*groups)[0], pmu::Target::thread(runtime.thread(c)->tid()));
    if (!g) return g.error();
    per->group = std::move(*g);
    // Sized once here, so the reads in passes never allocate.
    if (auto st = per->group.read(&per->snapshot); !st) return st.error();
    p->cpus_[static_cast<size_t>(c)] = std::move(per);
  }
  return p;
}

int PerfSoftwarePmu::init(Event& event) {
  return slot_of(event.attr.config) >= 0 ? 0 : -EINVAL;
}

uint64_t PerfSoftwarePmu::value(int cpu, uint64_t config) const {
  return cpus_[static_cast<size_t>(cpu)]->snapshot.values[static_cast<size_t>(slot_of(config))];
}

void PerfSoftwarePmu::begin_pass(int cpu) {
  auto& per = *cpus_[static_cast<size_t>(cpu)];
  // A pass that can touch none of our events reads nothing: installing the first one
  // reads in add() instead.
  if (per.active == 0) {
    per.used = false;
    return;
  }
  (void)per.group.read(&per.snapshot);
  per.used = true;
  group_reads_.fetch_add(1, std::memory_order_relaxed);
}

int PerfSoftwarePmu::add(Event& event) {
  const int cpu = cpu::current_cpu();
  auto& per = *cpus_[static_cast<size_t>(cpu)];
  if (!per.used) {  // the first of ours this pass: take the snapshot now
    (void)per.group.read(&per.snapshot);
    per.used = true;
    group_reads_.fetch_add(1, std::memory_order_relaxed);
  }
  ++per.active;
  event.hw_prev = value(cpu, event.attr.config);
  event.hw_slot = cpu;
  return 0;
}

void PerfSoftwarePmu::read(Event& event) {
  const uint64_t now = value(event.hw_slot, event.attr.config);
  event.count += now - event.hw_prev;
  event.hw_prev = now;
}

void PerfSoftwarePmu::del(Event& event) {
  read(event);
  --cpus_[static_cast<size_t>(event.hw_slot)]->active;
}

}  // namespace pctx::core

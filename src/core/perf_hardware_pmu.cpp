#include "pctx/core/perf_hardware_pmu.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "pctx/cpu/cross_call.hpp"
#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/mmap_read.hpp"

namespace pctx::core {

base::Result<std::unique_ptr<PerfHardwarePmu>> PerfHardwarePmu::open(cpu::CpuRuntime& runtime,
                                                                     int counters) {
  const auto caps = pmu::probe_capabilities();
  if (!caps.hardware_pmu) return base::make_error(-ENOENT, caps.hardware_pmu_reason);
  if (counters <= 0) return base::make_error(-EINVAL, "a hardware PMU needs counters");
  std::unique_ptr<PerfHardwarePmu> p(new PerfHardwarePmu());
  p->counters_ = counters;
  p->cpus_.resize(static_cast<size_t>(runtime.cpus().last()) + 1);
  for (int c : runtime.cpus().cpus())
    p->cpus_[static_cast<size_t>(c)] = std::make_unique<PerCpu>(counters);
  return p;
}

uint64_t PerfHardwarePmu::config_for(const pmu::EncodedEvent& event) {
  base::MutexLock lock(encodings_mutex_);
  const size_t n = nr_encodings_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    const auto& a = encodings_[i];
    if (a.type == event.attr.type && a.config == event.attr.config &&
        a.config1 == event.attr.config1 && a.config2 == event.attr.config2 &&
        a.exclude_user == event.attr.exclude_user &&
        a.exclude_kernel == event.attr.exclude_kernel && a.exclude_hv == event.attr.exclude_hv) {
      return i + 1;
    }
  }
  if (n == kMaxEncodings) return 0;
  encodings_[n] = event.attr;
  nr_encodings_.store(n + 1, std::memory_order_release);
  return n + 1;
}

int PerfHardwarePmu::init(PmuEvent& event) {
  const uint64_t n = nr_encodings_.load(std::memory_order_acquire);
  return event.config >= 1 && event.config <= n ? 0 : -EINVAL;
}

PerfHardwarePmu::~PerfHardwarePmu() {
  for (auto& per : cpus_) {
    if (!per) continue;
    for (auto& slot : per->counters) close_slot(slot);
  }
}

void PerfHardwarePmu::close_slot(Slot& slot) {
  if (slot.page != nullptr) munmap(const_cast<perf_event_mmap_page*>(slot.page), 4096);
  if (slot.fd >= 0) close(slot.fd);
  slot = Slot{};
}

int PerfHardwarePmu::program(Slot& slot, const perf_event_attr& encoding) {
  close_slot(slot);
  perf_event_attr attr = encoding;
  attr.size = sizeof attr;
  attr.read_format = 0;
  attr.disabled = 0;
  attr.exclude_guest = 1;
  const int fd =
      static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) return -errno;
  slot.fd = fd;
  void* page = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
  if (page != MAP_FAILED) slot.page = static_cast<const perf_event_mmap_page*>(page);
  return 0;
}

uint64_t PerfHardwarePmu::value(int cpu, int slot_index) {
  Slot& slot = cpus_[static_cast<size_t>(cpu)]->counters[static_cast<size_t>(slot_index)];
  return slot.last.get([&]() -> uint64_t {
    counter_reads_.fetch_add(1, std::memory_order_relaxed);
    if (slot.page != nullptr) {
      const auto r = pmu::fast_read(slot.page);  // rdpmc: the counter is this thread's
      if (r.valid) return r.value;
    }
    uint64_t v = 0;
    return ::read(slot.fd, &v, sizeof v) == sizeof v ? v : 0;
  });
}

int PerfHardwarePmu::add(PmuEvent& event) {
  const int cpu = cpu::current_cpu();
  auto& per = *cpus_[static_cast<size_t>(cpu)];
  auto grant = per.slots.acquire(event.config);
  if (!grant) return -EBUSY;
  Slot& slot = per.counters[static_cast<size_t>(grant->slot)];
  if (grant->reprogram || slot.fd < 0) {
    // The slow path: a perf_event_open by this CPU thread on itself. The encoding was
    // published before the event was created.
    if (int err = program(slot, encodings_[event.config - 1])) {
      per.slots.release(grant->slot);
      return err;
    }
    reprograms_.fetch_add(1, std::memory_order_relaxed);
  }
  event.hw_slot = grant->slot;
  event.hw_prev = value(cpu, grant->slot);
  // A read in place is one rdpmc on the slot's page (outside any pass, so not through the
  // pass's snapshot); where the kernel allows no rdpmc, the page says so and the core reads
  // under the lock, no slower than a read() would be.
  event.direct_read = slot.page != nullptr ? DirectRead::kMappedPage : DirectRead::kNone;
  event.direct_page = slot.page;
  return 0;
}

void PerfHardwarePmu::read(PmuEvent& event) {
  // The kernel's count is 64 bits wide (offset + counter), so no width to handle here.
  const uint64_t now = value(cpu::current_cpu(), event.hw_slot);
  event.count += now - event.hw_prev;
  event.hw_prev = now;
}

void PerfHardwarePmu::del(PmuEvent& event) {
  read(event);
  cpus_[static_cast<size_t>(cpu::current_cpu())]->slots.release(event.hw_slot);
  event.hw_slot = -1;
  event.direct_read = DirectRead::kNone;
  event.direct_page = nullptr;
}

}  // namespace pctx::core

// The `perf hardware` PMU: hardware events counted by each CPU thread's own kernel
// counters, one per slot, as many slots as the PMU has counters. add binds an event to a
// free slot already programmed with its encoding, or re-programs one (the slow path: a
// perf_event_open); start, read and stop are baseline reads and deltas, through rdpmc on
// the slot's mapped page when the kernel allows it, else read(). A slot is read once per
// instant: a task switch hands prev's last reading to next as its baseline.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <vector>

#include "pctx/base/mutex.hpp"
#include "pctx/core/instant_reading.hpp"
#include "pctx/core/pmu.hpp"
#include "pctx/core/slot_allocator.hpp"
#include "pctx/cpu/runtime.hpp"
#include "pctx/pmu/encoding.hpp"

namespace pctx::core {

class PerfHardwarePmu : public Pmu {
 public:
  // -ENOENT with the counter layer's explanation when this machine has no hardware PMU.
  static base::Result<std::unique_ptr<PerfHardwarePmu>> open(cpu::CpuRuntime& runtime,
                                                             int counters);

  static constexpr size_t kMaxEncodings = 256;

  // The config to put in EventAttr for an encoded hardware event (from pmu::compile_spec),
  // or 0 when kMaxEncodings distinct encodings are already in use.
  uint64_t config_for(const pmu::EncodedEvent& event);

  std::string name() const override { return "perf-hardware"; }
  int counters() const override { return counters_; }
  int init(PmuEvent& event) override;
  int add(PmuEvent& event) override;
  void del(PmuEvent& event) override;
  void read(PmuEvent& event) override;

  uint64_t reprograms() const { return reprograms_.load(); }
  uint64_t counter_reads() const { return counter_reads_.load(); }  // rdpmc or read()

 private:
  // One kernel counter, opened by and for the CPU thread. Plain fd and page, so that
  // re-programming in a handler (maybe inside a signal handler) allocates nothing.
  struct Slot {
    int fd = -1;
    const perf_event_mmap_page* page = nullptr;
    InstantReading last;  // one rdpmc per switch: prev's del serves next's add
  };
  struct PerCpu {
    SlotAllocator slots;
    std::vector<Slot> counters;
    explicit PerCpu(int n) : slots(n), counters(static_cast<size_t>(n)) {}
  };
  uint64_t value(int cpu, int slot);
  int program(Slot& slot, const perf_event_attr& attr);
  static void close_slot(Slot& slot);

 public:
  ~PerfHardwarePmu() override;

 private:
  int counters_ = 0;
  // config - 1 indexes it. Written under the mutex and published by the count, so CPU
  // threads read entries below the count without a lock.
  base::Mutex encodings_mutex_{"core.perf_hardware.encodings_mutex"};
  std::array<perf_event_attr, kMaxEncodings> encodings_{};
  std::atomic<size_t> nr_encodings_{0};
  std::vector<std::unique_ptr<PerCpu>> cpus_;
  std::atomic<uint64_t> reprograms_{0};
  std::atomic<uint64_t> counter_reads_{0};
};

}  // namespace pctx::core

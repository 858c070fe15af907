// The driver interface, as the kernel's struct pmu: events are initialised once, then
// added, started, read, stopped and deleted on the CPU where they count, with the
// context's lock held and irqs off. Drivers must not allocate or block in add..del. A
// driver sees an event through its PmuEvent part (pmu_event.hpp), nothing else.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "pctx/core/pmu_event.hpp"

namespace pctx::core {

class Pmu {
 public:
  static constexpr int kUnlimited = -1;

  virtual ~Pmu() = default;
  virtual std::string name() const = 0;
  // Counters per CPU; kUnlimited for software PMUs, which never fail to schedule. A
  // driver may change its number of counters, but not whether it is unlimited.
  virtual int counters() const = 0;
  // Asked several times per group at every switch: the answer is kept after the first
  // call, which spares a virtual call each time.
  bool software() const {
    int8_t known = software_.load(std::memory_order_relaxed);
    if (known < 0) {
      known = counters() == kUnlimited ? 1 : 0;
      software_.store(known, std::memory_order_relaxed);
    }
    return known == 1;
  }

  // Validates an event's config for this PMU; -errno with nothing changed on failure.
  virtual int init(PmuEvent& event) = 0;
  // Claims a counter on this CPU and starts counting; -EBUSY (or another -errno) if not.
  virtual int add(PmuEvent& event) = 0;
  // Stops counting, folds the last delta into the count, and releases the counter.
  virtual void del(PmuEvent& event) = 0;
  // Folds the delta since the last start or read into the count.
  virtual void read(PmuEvent& event) = 0;

  // Brackets every scheduling pass on a CPU (a switch, a rotation, a handler, a read), as
  // the kernel's pmu_disable/pmu_enable: a driver may take one snapshot of its hardware
  // at the start and serve every add, del and read of the pass from it.
  virtual void begin_pass(int /*cpu*/) {}
  virtual void end_pass(int /*cpu*/) {}

  // Set by the core when the PMU is registered; orders the group trees.
  int index() const { return index_; }
  void set_index(int index) { index_ = index; }

 private:
  int index_ = -1;
  mutable std::atomic<int8_t> software_{-1};  // unknown, no, yes
};

}  // namespace pctx::core

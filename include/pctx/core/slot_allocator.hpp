// Hardware counter slots of one CPU, for the perf hardware driver: pure bookkeeping, so the
// re-programming decisions are tested without a PMU.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace pctx::core {

class SlotAllocator {
 public:
  static constexpr uint64_t kUnprogrammed = 0;

  explicit SlotAllocator(int slots);

  struct Grant {
    int slot;
    bool reprogram;  // the slot holds another encoding: a system call is needed
  };
  // A free slot already programmed with `encoding` (no system call), else a free slot
  // never programmed, else the free slot least recently used (re-programmed); nullopt
  // when every slot is busy. Encodings are non-zero.
  std::optional<Grant> acquire(uint64_t encoding);
  void release(int slot);

  int size() const { return static_cast<int>(slots_.size()); }
  int free() const;
  bool busy(int slot) const { return slots_[static_cast<size_t>(slot)].busy; }
  uint64_t programmed(int slot) const { return slots_[static_cast<size_t>(slot)].encoding; }

 private:
  struct Slot {
    uint64_t encoding = kUnprogrammed;
    bool busy = false;
    uint64_t last_used = 0;
  };
  std::vector<Slot> slots_;
  uint64_t tick_ = 0;
};

}  // namespace pctx::core

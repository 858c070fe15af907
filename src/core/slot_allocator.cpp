#include "pctx/core/slot_allocator.hpp"

namespace pctx::core {

SlotAllocator::SlotAllocator(int slots) : slots_(static_cast<size_t>(slots)) {}

int SlotAllocator::free() const {
  int n = 0;
  for (const auto& s : slots_) n += s.busy ? 0 : 1;
  return n;
}

std::optional<SlotAllocator::Grant> SlotAllocator::acquire(uint64_t encoding) {
  int same = -1, empty = -1, lru = -1;
  for (int i = 0; i < size(); ++i) {
    const Slot& s = slots_[static_cast<size_t>(i)];
    if (s.busy) continue;
    if (s.encoding == encoding && same < 0) same = i;
    if (s.encoding == kUnprogrammed && empty < 0) empty = i;
    if (lru < 0 || s.last_used < slots_[static_cast<size_t>(lru)].last_used) lru = i;
  }
  const int pick = same >= 0 ? same : empty >= 0 ? empty : lru;
  if (pick < 0) return std::nullopt;
  Slot& s = slots_[static_cast<size_t>(pick)];
  const bool reprogram = s.encoding != encoding;
  s.encoding = encoding;
  s.busy = true;
  s.last_used = ++tick_;
  return Grant{pick, reprogram};
}

void SlotAllocator::release(int slot) {
  slots_[static_cast<size_t>(slot)].busy = false;
}

}  // namespace pctx::core

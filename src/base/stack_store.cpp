#include "base/stack_store.hpp"

#include <execinfo.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace pctx::base::lock_validator::internal {

namespace {

constexpr uint32_t kPoolFrames = 1u << 16;
constexpr uint32_t kMaxStacks = 1u << 13;
constexpr uint32_t kIndexSlots = kMaxStacks * 2;  // open addressing, at most half full

struct Record {
  uint32_t offset;
  uint32_t depth;
  uint64_t hash;
};

struct Pool {
  std::array<const void*, kPoolFrames> frames;
  uint32_t frames_used;
  std::array<Record, kMaxStacks> records;  // record 0 is never used: id 0 means none
  uint32_t records_used;
  std::array<uint32_t, kIndexSlots> index;  // record ids by hash; 0 is empty
};
// Constant-initialised: a hook that fires during another object's static initialisation
// finds the pool ready.
constinit Pool g_pool{};

// The first backtrace() loads libgcc's unwinder, which allocates: done here, before main,
// so that no hook does it later inside a signal handler.
[[maybe_unused]] const bool g_unwinder_loaded = [] {
  void* frames[2];
  return backtrace(frames, 2) > 0;
}();

uint64_t hash_of(const CapturedStack& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the addresses
  for (int i = 0; i < s.depth; ++i) {
    h ^= reinterpret_cast<uintptr_t>(s.frames[i]);
    h *= 1099511628211ull;
  }
  return h;
}

// This thread's stack, where frame pointers may be followed: [lo, hi).
struct Bounds {
  uintptr_t lo;
  uintptr_t hi;
  bool known;
};
constinit thread_local Bounds tls_bounds{};

void learn_bounds(Bounds& b) {
  b.known = true;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  void* addr = nullptr;
  size_t size = 0;
  if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
    b.lo = reinterpret_cast<uintptr_t>(addr);
    b.hi = b.lo + size;
  }
  pthread_attr_destroy(&attr);
}

// The fast path, a few nanoseconds a frame where backtrace() takes a hundred: follows the
// saved frame pointers, which the validator's builds keep. Every link is checked to lie
// above the last and inside this thread's stack, so a frame without a frame pointer ends
// the walk or yields a wrong address, never a bad read; ASan is kept out, since such a
// link may point into another frame's redzone. False when the stack is not this thread's
// own (a task's fiber) or the hook's caller is not on the chain.
__attribute__((noinline, no_sanitize_address)) bool walk_frame_pointers(CapturedStack& out,
                                                                        const void* first) {
  Bounds& b = tls_bounds;
  if (!b.known) learn_bounds(b);
  auto fp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  bool found = false;
  out.depth = 0;
  for (int steps = 0; steps < 64 && out.depth < kMaxFrames; ++steps) {
    if (fp < b.lo || fp + 2 * sizeof(uintptr_t) > b.hi || fp % sizeof(uintptr_t) != 0) break;
    const auto* frame = reinterpret_cast<const uintptr_t*>(fp);
    const auto* ret = reinterpret_cast<const void*>(frame[1]);
    found = found || ret == first;
    if (found) out.frames[out.depth++] = ret;
    if (frame[0] <= fp) break;
    fp = frame[0];
  }
  return found;
}

// The slow path: libgcc's unwinder, through frames without frame pointers too.
__attribute__((noinline)) void capture_with_unwinder(CapturedStack& out, const void* first) {
  void* raw[kMaxFrames + 8];
  const int n = backtrace(raw, kMaxFrames + 8);
  int from = 0;
  while (from < n && raw[from] != first) ++from;
  if (from == n) from = 0;  // not found (a frame without unwind info): keep everything
  out.depth = std::min(n - from, kMaxFrames);
  for (int i = 0; i < out.depth; ++i) out.frames[i] = raw[from + i];
}

bool same(const Record& r, const CapturedStack& s) {
  return r.depth == static_cast<uint32_t>(s.depth) &&
         std::equal(s.frames, s.frames + s.depth, g_pool.frames.begin() + r.offset);
}

}  // namespace

void prepare_thread() {
  if (!tls_bounds.known) learn_bounds(tls_bounds);
}

void capture(CapturedStack& out, const void* first) {
  // Not inlined, so that its own frame is the first on the chain it walks.
  if (!walk_frame_pointers(out, first)) capture_with_unwinder(out, first);
}

uint32_t intern(const CapturedStack& s) {
  if (s.depth == 0) return 0;
  const uint64_t h = hash_of(s);
  uint32_t slot = static_cast<uint32_t>(h) & (kIndexSlots - 1);
  for (;; slot = (slot + 1) & (kIndexSlots - 1)) {
    const uint32_t id = g_pool.index[slot];
    if (id == 0) break;
    if (g_pool.records[id].hash == h && same(g_pool.records[id], s)) return id;
  }
  if (g_pool.records_used == 0) g_pool.records_used = 1;
  if (g_pool.records_used >= kMaxStacks || g_pool.frames_used + kMaxFrames > kPoolFrames) {
    return 0;
  }
  const uint32_t id = g_pool.records_used++;
  g_pool.records[id] = {g_pool.frames_used, static_cast<uint32_t>(s.depth), h};
  std::copy(s.frames, s.frames + s.depth, g_pool.frames.begin() + g_pool.frames_used);
  g_pool.frames_used += static_cast<uint32_t>(s.depth);
  g_pool.index[slot] = id;
  return id;
}

Stack stack_of(uint32_t id) {
  if (id == 0 || id >= g_pool.records_used) return {};
  const Record& r = g_pool.records[id];
  return {g_pool.frames.data() + r.offset, static_cast<int>(r.depth)};
}

void clear_stacks() {
  g_pool.frames_used = 0;
  g_pool.records_used = 0;
  g_pool.index.fill(0);
}

}  // namespace pctx::base::lock_validator::internal

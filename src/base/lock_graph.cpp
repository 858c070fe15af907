#include "base/lock_graph.hpp"

#include <array>
#include <cstring>

namespace pctx::base::lock_validator::internal {

namespace {

constexpr int kWords = kMaxClasses / 64;
constexpr uint32_t kCacheSlots = 1024;  // more than enough for kMaxClasses names

struct Graph {
  std::atomic_flag lock;
  std::array<const char*, kMaxClasses> names;
  int nr_classes;
  std::array<std::atomic<const char*>, kCacheSlots> cache_keys;
  std::array<std::atomic<uint16_t>, kCacheSlots> cache_classes;
  std::array<std::atomic<uint8_t>, kMaxClasses> usages;
  std::array<std::array<uint32_t, kNumUsages>, kMaxClasses> usage_stacks;
  std::array<std::array<std::atomic<uint64_t>, kWords>, kMaxClasses> edges;
  std::array<std::array<uint32_t, kMaxClasses>, kMaxClasses> edge_stacks;
};
// Constant-initialised static storage: ready before any constructor runs, so a lock taken
// during static initialisation is validated too.
constinit Graph g{};

void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

uint32_t cache_slot(const char* name) {
  return static_cast<uint32_t>((reinterpret_cast<uintptr_t>(name) >> 3) * 2654435761u) &
         (kCacheSlots - 1);
}

void cache(const char* name, uint16_t cls) {
  for (uint32_t slot = cache_slot(name);; slot = (slot + 1) & (kCacheSlots - 1)) {
    const char* key = g.cache_keys[slot].load(std::memory_order_relaxed);
    if (key == name) return;
    if (key == nullptr) {
      g.cache_classes[slot].store(cls, std::memory_order_relaxed);
      g.cache_keys[slot].store(name, std::memory_order_release);  // after its class
      return;
    }
  }
}

}  // namespace

void global_lock() {
  while (g.lock.test_and_set(std::memory_order_acquire)) {
    while (g.lock.test(std::memory_order_relaxed)) relax();
  }
}

void global_unlock() {
  g.lock.clear(std::memory_order_release);
}

uint16_t cached_class(const char* name) {
  for (uint32_t slot = cache_slot(name);; slot = (slot + 1) & (kCacheSlots - 1)) {
    const char* key = g.cache_keys[slot].load(std::memory_order_acquire);
    if (key == name) return g.cache_classes[slot].load(std::memory_order_relaxed);
    if (key == nullptr) return kNoClass;
  }
}

uint16_t register_class(const char* name) {
  const uint16_t known = cached_class(name);
  if (known != kNoClass) return known;
  // The same name at another address (a literal in another object file) is the same class.
  for (int i = 0; i < g.nr_classes; ++i) {
    if (std::strcmp(g.names[static_cast<size_t>(i)], name) == 0) {
      cache(name, static_cast<uint16_t>(i));
      return static_cast<uint16_t>(i);
    }
  }
  if (g.nr_classes == kMaxClasses) return kNoClass;
  const auto cls = static_cast<uint16_t>(g.nr_classes++);
  g.names[cls] = name;
  cache(name, cls);
  return cls;
}

const char* class_name(uint16_t cls) {
  return cls < kMaxClasses ? g.names[cls] : "(unknown class)";
}

bool has_usage(uint16_t cls, Usage usage) {
  return (g.usages[cls].load(std::memory_order_relaxed) & (1u << usage)) != 0;
}

bool add_usage(uint16_t cls, Usage usage, const CapturedStack& stack) {
  if (has_usage(cls, usage)) return false;
  g.usage_stacks[cls][usage] = intern(stack);
  g.usages[cls].fetch_or(static_cast<uint8_t>(1u << usage), std::memory_order_relaxed);
  return true;
}

Stack usage_stack(uint16_t cls, Usage usage) {
  return stack_of(g.usage_stacks[cls][usage]);
}

bool has_edge(uint16_t from, uint16_t to) {
  return (g.edges[from][to / 64].load(std::memory_order_relaxed) & (1ull << (to % 64))) != 0;
}

int add_edge(uint16_t from, uint16_t to, const CapturedStack& stack, uint16_t* path, int max_path) {
  if (has_edge(from, to)) return 0;
  // Breadth-first from `to`: if it reaches `from`, the new edge would close a cycle.
  std::array<uint16_t, kMaxClasses> parent;
  parent.fill(kNoClass);
  std::array<uint16_t, kMaxClasses> queue;
  int head = 0, tail = 0;
  queue[static_cast<size_t>(tail++)] = to;
  parent[to] = to;
  while (head < tail && parent[from] == kNoClass) {
    const uint16_t c = queue[static_cast<size_t>(head++)];
    for (int w = 0; w < kWords; ++w) {
      uint64_t bits = g.edges[c][static_cast<size_t>(w)].load(std::memory_order_relaxed);
      while (bits != 0) {
        const auto next = static_cast<uint16_t>(w * 64 + __builtin_ctzll(bits));
        bits &= bits - 1;
        if (parent[next] != kNoClass) continue;
        parent[next] = c;
        queue[static_cast<size_t>(tail++)] = next;
      }
    }
  }
  if (parent[from] == kNoClass) {
    g.edge_stacks[from][to] = intern(stack);
    g.edges[from][to / 64].fetch_or(1ull << (to % 64), std::memory_order_relaxed);
    return 0;
  }
  // Walk back from `from` to `to`, then reverse: to -> ... -> from.
  std::array<uint16_t, kMaxClasses> back;
  int n = 0;
  for (uint16_t c = from;; c = parent[c]) {
    back[static_cast<size_t>(n++)] = c;
    if (c == to) break;
  }
  const int len = n < max_path ? n : max_path;
  for (int i = 0; i < len; ++i) path[i] = back[static_cast<size_t>(n - 1 - i)];
  return len;
}

Stack edge_stack(uint16_t from, uint16_t to) {
  return stack_of(g.edge_stacks[from][to]);
}

void clear_graph() {
  for (auto& row : g.edges) {
    for (auto& word : row) word.store(0, std::memory_order_relaxed);
  }
  for (auto& u : g.usages) u.store(0, std::memory_order_relaxed);
  clear_stacks();
}

}  // namespace pctx::base::lock_validator::internal

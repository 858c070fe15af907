// The lock validator's global state: lock classes, the order graph between them, and the
// contexts each class was used in, with the stack of the first use of each. Everything
// sits in fixed static arrays (no allocation: the hooks may run in a signal handler), is
// read without a lock on the fast paths, and changed only under the global lock.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/stack_store.hpp"

namespace pctx::base::lock_validator::internal {

inline constexpr int kMaxClasses = 256;
inline constexpr uint16_t kNoClass = 0xffff;

// The global lock, a spinlock: its holders never block, and a thread that a signal
// interrupts inside it never enters it again (ThreadState::busy), so it cannot deadlock.
void global_lock();
void global_unlock();

// Usages: the contexts a class was seen in, each with the stack of its first time.
enum Usage : uint8_t {
  kInHandler,            // taken inside a cross-call handler or timer callback
  kHeldIrqsOn,           // held with irqs on on a CPU thread
  kHeldAcrossCrossCall,  // held across a synchronous cross-call
  kNumUsages,
};

// The class of a name, from a cache keyed by the name's address (names are literals), or
// kNoClass when it is not cached yet. Lock-free.
uint16_t cached_class(const char* name);
// The class of a name, registered if new (kNoClass when the table is full). Global lock.
uint16_t register_class(const char* name);
const char* class_name(uint16_t cls);

bool has_usage(uint16_t cls, Usage usage);  // lock-free
// Records a usage with its stack if it is new; true if it was new. Global lock.
bool add_usage(uint16_t cls, Usage usage, const CapturedStack& stack);
Stack usage_stack(uint16_t cls, Usage usage);

bool has_edge(uint16_t from, uint16_t to);  // lock-free
// Adds from -> to, the stack being its first use, unless it closes a cycle: then the path
// to -> ... -> from is written to `path` (at most `max_path` classes, its length returned)
// and nothing is added. 0 when the edge was added. Global lock.
int add_edge(uint16_t from, uint16_t to, const CapturedStack& stack, uint16_t* path, int max_path);
Stack edge_stack(uint16_t from, uint16_t to);

// Forgets edges and usages (and the stacks), keeping the classes. Global lock.
void clear_graph();

}  // namespace pctx::base::lock_validator::internal

// The lock validator's hooks: each thread's held locks and context, the checks, and the
// delivery of reports. Compiled only with PCTX_LOCK_VALIDATOR=1.
//
// Hooks may run inside a signal handler (a cross-call handler on a busy CPU thread), so
// nothing here allocates or blocks: per-thread state is thread-local and written so that a
// signal handler running the hooks in the middle of a change finds it consistent, and the
// global state changes under a spinlock that a thread interrupted inside it never takes
// again (the handler then only keeps its held-lock list, and checks nothing).
#include "pctx/base/lock_validator.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/lock_graph.hpp"
#include "base/stack_store.hpp"

namespace pctx::base::lock_validator {

using namespace internal;

namespace {

constexpr int kMaxHeld = 24;
constexpr int kMaxPending = 4;

enum class Slot : uint8_t {
  kFree,
  kReserved,  // being filled: skipped by a signal handler, but not reused by it
  kHeld,
};

struct HeldLock {
  Slot slot;
  LockKind kind;
  bool trylock;
  uint8_t handler_depth;  // the context it was taken in: order is learnt per context
  uint16_t cls;
  uint16_t count;    // locks of the class taken in address order, folded into this entry
  const void* lock;  // the first one
  const void* last;  // the highest address taken
  CapturedStack stack;
};

struct ThreadState {
  HeldLock held[kMaxHeld];
  int depth;  // slots in use, of any state
  bool busy;  // inside the global lock
  bool irqs_off;
  bool cpu_thread;
  bool rcu_online;
  bool overflow_reported;
  int handler_depth;
  CapturedStack irqs_off_stack;
  CapturedStack rcu_online_stack;
};

constinit thread_local ThreadState tls{};

// The environment's PCTX_LOCK_VALIDATOR: 0 or off disables the checks, warn reports
// without aborting; the default aborts after each report.
enum Mode : int { kUnknown, kOff, kWarn, kAbort };
std::atomic<int> g_mode{kUnknown};
std::atomic<ReportHandler> g_handler{nullptr};
std::atomic<void*> g_handler_context{nullptr};

// Problems reported so far, by key: one report per problem.
constexpr uint32_t kReportedSlots = 1024;
constinit std::atomic<uint64_t> g_reported[kReportedSlots]{};

int mode() {
  int m = g_mode.load(std::memory_order_relaxed);
  if (m == kUnknown) {
    const char* env = std::getenv("PCTX_LOCK_VALIDATOR");
    m = kAbort;
    if (env != nullptr) {
      if (!std::strcmp(env, "0") || !std::strcmp(env, "off")) m = kOff;
      if (!std::strcmp(env, "warn")) m = kWarn;
    }
    g_mode.store(m, std::memory_order_relaxed);
  }
  return m;
}

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

// A call site, for the key of a report that names no class pair: the first frames.
uint64_t site_of(const CapturedStack& s) {
  uint64_t h = 0;
  for (int i = 0; i < s.depth && i < 4; ++i) h = mix(h, reinterpret_cast<uintptr_t>(s.frames[i]));
  return h;
}

// True the first time a key is seen. Under the global lock.
bool first_time(uint64_t key) {
  if (key == 0) key = 1;  // 0 marks an empty slot
  for (uint32_t i = 0, slot = static_cast<uint32_t>(key) & (kReportedSlots - 1); i < kReportedSlots;
       ++i, slot = (slot + 1) & (kReportedSlots - 1)) {
    const uint64_t k = g_reported[slot].load(std::memory_order_relaxed);
    if (k == key) return false;
    if (k == 0) {
      g_reported[slot].store(key, std::memory_order_relaxed);
      return true;
    }
  }
  return true;  // the table is full: report rather than drop
}

void deliver(const Report& r) {
  if (ReportHandler handler = g_handler.load(std::memory_order_acquire)) {
    handler(r, g_handler_context.load(std::memory_order_relaxed));
    return;
  }
  const std::string text = format(r);
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (mode() == kAbort) {
    static const char kHow[] =
        "  (aborting: see docs/lock-validator.md; PCTX_LOCK_VALIDATOR=warn only prints)\n";
    (void)!::write(STDERR_FILENO, kHow, sizeof kHow - 1);
    std::abort();
  }
}

// One hook's access to the global state: takes the global lock when first needed, and
// delivers the reports it gathered after releasing it (a report handler may take locks).
class Session {
 public:
  explicit Session(ThreadState& ts) : ts_(ts) {}
  ~Session() {
    if (locked_) {
      global_unlock();
      ts_.busy = false;
    }
    for (int i = 0; i < pending_; ++i) deliver(reports_[i]);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // False inside a signal handler that interrupted this thread in the validator.
  bool lock() {
    if (locked_) return true;
    if (ts_.busy) return false;
    ts_.busy = true;
    global_lock();
    locked_ = true;
    return true;
  }

  // The class of a name, registering it if needed (kNoClass when that cannot be done now).
  uint16_t class_of(const char* name) {
    const uint16_t cls = cached_class(name);
    if (cls != kNoClass || !lock()) return cls;
    return register_class(name);
  }

  // Queues a report unless this problem was reported before.
  void report(const Report& r, uint64_t key) {
    if (!lock() || !first_time(mix(key, static_cast<uint64_t>(r.kind))) ||
        pending_ == kMaxPending) {
      return;
    }
    reports_[pending_++] = r;
  }

 private:
  ThreadState& ts_;
  bool locked_ = false;
  int pending_ = 0;
  Report reports_[kMaxPending];
};

const char* name_of(uint16_t cls) {
  return cls == kNoClass ? nullptr : class_name(cls);
}

uint64_t class_key(uint16_t a, uint16_t b) {
  return mix(mix(0, a), b);
}

bool held(const HeldLock& e) {
  return e.slot == Slot::kHeld;
}

// The innermost held lock, of the given kind unless any kind will do.
const HeldLock* innermost(const ThreadState& ts, bool spin_only) {
  for (int i = ts.depth - 1; i >= 0; --i) {
    const HeldLock& e = ts.held[i];
    if (held(e) && (!spin_only || e.kind == LockKind::kSpin)) return &e;
  }
  return nullptr;
}

// A slot for a new held lock, reserved before it is filled: a signal handler arriving
// meanwhile takes the next one and leaves this one alone.
HeldLock* reserve(ThreadState& ts) {
  const int i = ts.depth;
  if (i == kMaxHeld) return nullptr;
  ts.held[i].slot = Slot::kReserved;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  ts.depth = i + 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return &ts.held[i];
}

void publish(HeldLock& e) {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  e.slot = Slot::kHeld;
}

// Trims the free slots at the top. A signal handler may run between any two steps here
// and trim too, below this frame's slots (those it finds free): so each step reads depth
// once, and a store that leaves free slots under the top is harmless (loops skip them).
// Reading it twice per step let a handler's trim drive it to -1.
void free_slot(ThreadState& ts, HeldLock& e) {
  e.slot = Slot::kFree;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  while (true) {
    const int d = static_cast<const volatile int&>(ts.depth);  // one read, as said
    if (d <= 0 || ts.held[d - 1].slot != Slot::kFree) return;
    ts.depth = d - 1;
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
}

void push(ThreadState& ts, const void* lock, uint16_t cls, LockKind kind, bool trylock,
          const CapturedStack& stack) {
  HeldLock* e = reserve(ts);
  if (e == nullptr) {
    // Deeper than the validator follows: the lock goes unchecked, once said.
    if (!ts.overflow_reported) {
      ts.overflow_reported = true;
      static const char kMsg[] =
          "pctx lock validator: more than 24 locks held by one thread; not following them\n";
      (void)!::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    }
    return;
  }
  e->kind = kind;
  e->trylock = trylock;
  e->handler_depth = static_cast<uint8_t>(ts.handler_depth);
  e->cls = cls;
  e->count = 1;
  e->lock = lock;
  e->last = lock;
  e->stack = stack;
  publish(*e);
}

// Usages of one class that together could deadlock: a usage recorded now, one recorded
// before (its stack comes first in the report), and what that makes.
struct Conflict {
  Usage now;
  Usage before;
  ReportKind kind;
  const char* before_title;
  const char* now_title;
};
constexpr Conflict kConflicts[] = {
    {kInHandler, kHeldIrqsOn, ReportKind::kIrqUnsafe,
     "held with irqs on on a CPU thread, first here", "taken inside a handler here"},
    {kHeldIrqsOn, kInHandler, ReportKind::kIrqUnsafe, "taken inside a handler, first here",
     "held with irqs on on a CPU thread here"},
    {kInHandler, kHeldAcrossCrossCall, ReportKind::kCrossCallHoldingLock,
     "held across a synchronous cross-call, first here", "taken inside a handler here"},
};

// Records a usage of a class and reports the usages it conflicts with, if any.
void use(Session& s, uint16_t cls, Usage usage, const CapturedStack& now) {
  if (cls == kNoClass || has_usage(cls, usage) || !s.lock()) return;
  add_usage(cls, usage, now);
  for (const Conflict& c : kConflicts) {
    if (c.now != usage || !has_usage(cls, c.before)) continue;
    Report r;
    r.kind = c.kind;
    r.classes[0] = class_name(cls);
    r.stacks[0] = usage_stack(cls, c.before);
    r.titles[0] = c.before_title;
    r.stacks[1] = now.view();
    r.titles[1] = c.now_title;
    s.report(r, class_key(cls, kNoClass));
  }
}

// A lock taken: what holding it here says of its class, then the held list.
void hold(ThreadState& ts, Session& s, const void* lock, uint16_t cls, LockKind kind, bool trylock,
          const CapturedStack& now) {
  if (ts.handler_depth > 0) {
    use(s, cls, kInHandler, now);
  } else if (ts.cpu_thread && !ts.irqs_off) {
    use(s, cls, kHeldIrqsOn, now);
  }
  push(ts, lock, cls, kind, trylock, now);
}

// Learns held -> cls for every lock held in this context, and reports an inversion.
void learn_order(ThreadState& ts, Session& s, uint16_t cls, const CapturedStack& now) {
  for (int i = 0; i < ts.depth; ++i) {
    const HeldLock& e = ts.held[i];
    if (!held(e) || e.handler_depth != ts.handler_depth || e.cls == kNoClass || e.cls == cls) {
      continue;
    }
    if (has_edge(e.cls, cls) || !s.lock()) continue;
    uint16_t path[8];
    const int n = add_edge(e.cls, cls, now, path, 8);
    if (n == 0) continue;
    Report r;
    r.kind = ReportKind::kInversion;
    r.classes[0] = class_name(e.cls);
    r.classes[1] = class_name(cls);
    for (int j = 0; j < n; ++j) r.cycle[j] = class_name(path[j]);
    r.cycle_length = n;
    r.stacks[0] = n >= 2 ? edge_stack(path[0], path[1]) : Stack{};
    r.titles[0] = "the opposite order (the cycle's first edge), first seen here";
    r.stacks[1] = now.view();
    r.titles[1] = "this order, here";
    s.report(r, class_key(e.cls, cls));
  }
}

bool sleeps(Blocking b) {
  return b == Blocking::kSleep || b == Blocking::kFutexWait || b == Blocking::kAtomicWait ||
         b == Blocking::kRcuSynchronize;
}

// A synchronous cross-call holding a class that handlers take: the target's handler could
// wait for it. True if that was reported.
bool check_cross_call(ThreadState& ts, Session& s, const CapturedStack& now) {
  bool reported = false;
  for (int i = 0; i < ts.depth; ++i) {
    const HeldLock& e = ts.held[i];
    if (!held(e) || e.cls == kNoClass) continue;
    if (!has_usage(e.cls, kInHandler)) {
      use(s, e.cls, kHeldAcrossCrossCall, now);
      continue;
    }
    Report r;
    r.kind = ReportKind::kCrossCallHoldingLock;
    r.blocking = Blocking::kCrossCall;
    r.classes[0] = class_name(e.cls);
    r.stacks[0] = usage_stack(e.cls, kInHandler);
    r.titles[0] = "a handler took the class, first here";
    r.stacks[1] = now.view();
    r.titles[1] = "the cross-call, with it held";
    s.report(r, class_key(e.cls, kNoClass));
    reported = true;
  }
  return reported;
}

void check_blocking(ThreadState& ts, Session& s, Blocking b, const CapturedStack& now) {
  if (b == Blocking::kCrossCall && check_cross_call(ts, s, now)) return;
  Report r;
  r.blocking = b;
  r.stacks[1] = now.view();
  const uint64_t key = mix(site_of(now), static_cast<uint64_t>(b));
  if (ts.handler_depth > 0) {
    const HeldLock* h = innermost(ts, false);
    r.kind = ReportKind::kBlockingInHandler;
    r.classes[0] = h != nullptr ? name_of(h->cls) : nullptr;
    r.titles[1] = "the blocking call, inside the handler";
    s.report(r, key);
  } else if (ts.irqs_off) {
    const HeldLock* h = innermost(ts, true);
    r.kind = ReportKind::kBlockingWithIrqsOff;
    r.classes[0] = h != nullptr ? name_of(h->cls) : nullptr;
    r.stacks[0] = ts.irqs_off_stack.view();
    r.titles[0] = "irqs went off here";
    r.titles[1] = "the blocking call";
    s.report(r, key);
  }
  if (ts.rcu_online && sleeps(b)) {
    Report q;
    q.kind = ReportKind::kSleepInRcuReadSide;
    q.blocking = b;
    q.stacks[0] = ts.rcu_online_stack.view();
    q.titles[0] = "the thread has been an online RCU reader since";
    q.stacks[1] = now.view();
    q.titles[1] = "the sleep";
    s.report(q, key);
  }
  if (b == Blocking::kTaskSwitch) {
    for (int i = 0; i < ts.depth; ++i) {
      const HeldLock& e = ts.held[i];
      if (!held(e)) continue;
      Report q;
      q.kind = ReportKind::kLockHeldAcrossSwitch;
      q.blocking = b;
      q.classes[0] = name_of(e.cls);
      q.stacks[0] = e.stack.view();
      q.titles[0] = "the lock was taken here";
      q.stacks[1] = now.view();
      q.titles[1] = "the task switch";
      s.report(q, class_key(e.cls, kNoClass));
    }
  }
}

// Sets a context flag with the stack that set it, the stack first: a signal handler that
// sees the flag finds the stack written.
void enter_state(bool& flag, CapturedStack& since, const void* caller) {
  capture(since, caller);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  flag = true;
}

}  // namespace

bool active() {
  return mode() != kOff;
}

void set_report_handler(ReportHandler handler, void* context) {
  g_handler_context.store(context, std::memory_order_relaxed);
  g_handler.store(handler, std::memory_order_release);
}

void reset() {
  ThreadState& ts = tls;
  Session s(ts);
  if (!s.lock()) return;
  clear_graph();
  for (auto& k : g_reported) k.store(0, std::memory_order_relaxed);
}

void acquire(const void* lock, const char* lock_class, LockKind kind, LockNesting nesting) {
  if (!active()) return;
  ThreadState& ts = tls;
  CapturedStack now;
  capture(now, __builtin_return_address(0));
  Session s(ts);
  const uint16_t cls = s.class_of(lock_class);
  if (kind == LockKind::kMutex) check_blocking(ts, s, Blocking::kMutex, now);
  HeldLock* nest = nullptr;  // the entry of its class it is declared nested in, in order
  for (int i = ts.depth - 1; i >= 0 && cls != kNoClass; --i) {
    HeldLock& e = ts.held[i];
    if (!held(e) || e.cls != cls) continue;
    if (nesting == LockNesting::kAddressOrder && std::less<const void*>()(e.last, lock)) {
      nest = &e;
      break;
    }
    Report r;
    r.kind = ReportKind::kRecursion;
    r.classes[0] = class_name(cls);
    r.stacks[0] = e.stack.view();
    r.titles[0] = "the lock of this class held, taken here";
    r.stacks[1] = now.view();
    r.titles[1] = nesting == LockNesting::kAddressOrder
                      ? "taken again here, declared in address order but at a lower address"
                      : "taken again here";
    s.report(r, class_key(cls, cls));
    break;
  }
  // Other classes taken since the first of a nest are held under this one too.
  learn_order(ts, s, cls, now);
  if (nest != nullptr) {
    nest->last = lock;  // folded into the entry of its class
    ++nest->count;
    return;
  }
  hold(ts, s, lock, cls, kind, false, now);
}

void acquired_try(const void* lock, const char* lock_class, LockKind kind) {
  if (!active()) return;
  ThreadState& ts = tls;
  CapturedStack now;
  capture(now, __builtin_return_address(0));
  Session s(ts);
  // A try-lock never waits, so it adds no order; what is taken under it does.
  hold(ts, s, lock, s.class_of(lock_class), kind, true, now);
}

void release(const void* lock) {
  if (!active()) return;
  ThreadState& ts = tls;
  for (int i = ts.depth - 1; i >= 0; --i) {
    HeldLock& e = ts.held[i];
    if (!held(e) || (e.lock != lock && e.last != lock)) continue;
    if (e.count > 1) {
      --e.count;
    } else {
      free_slot(ts, e);
    }
    return;
  }
  // A lock folded into an address-ordered entry, released out of order.
  for (int i = ts.depth - 1; i >= 0; --i) {
    HeldLock& e = ts.held[i];
    if (held(e) && e.count > 1 && !std::less<const void*>()(lock, e.lock) &&
        !std::less<const void*>()(e.last, lock)) {
      --e.count;
      return;
    }
  }
  CapturedStack now;
  capture(now, __builtin_return_address(0));
  Session s(ts);
  Report r;
  r.kind = ReportKind::kBadUnlock;
  r.stacks[1] = now.view();
  r.titles[1] = "the unlock";
  s.report(r, site_of(now));
}

void irqs_disabled() {
  if (active()) enter_state(tls.irqs_off, tls.irqs_off_stack, __builtin_return_address(0));
}

void irqs_enabled() {
  if (!active()) return;
  ThreadState& ts = tls;
  ts.irqs_off = false;
  if (!ts.cpu_thread || ts.handler_depth > 0) return;
  // What is still held is now held with irqs on: a handler may interrupt its holder.
  bool any = false;
  for (int i = 0; i < ts.depth; ++i) {
    const HeldLock& e = ts.held[i];
    any |= held(e) && e.cls != kNoClass && !has_usage(e.cls, kHeldIrqsOn);
  }
  if (!any) return;
  CapturedStack now;
  capture(now, __builtin_return_address(0));
  Session s(ts);
  for (int i = 0; i < ts.depth; ++i) {
    if (held(ts.held[i])) use(s, ts.held[i].cls, kHeldIrqsOn, now);
  }
}

void handler_enter() {
  ++tls.handler_depth;
}

void handler_exit() {
  --tls.handler_depth;
}

void cpu_thread_enter() {
  prepare_thread();  // before any signal can run a handler here
  tls.cpu_thread = true;
}

void cpu_thread_exit() {
  tls.cpu_thread = false;
}

void rcu_reader_online() {
  if (active()) enter_state(tls.rcu_online, tls.rcu_online_stack, __builtin_return_address(0));
}

void rcu_reader_offline() {
  tls.rcu_online = false;
}

void might_block(Blocking blocking) {
  if (!active()) return;
  ThreadState& ts = tls;
  const bool held_any = innermost(ts, false) != nullptr;
  if (ts.handler_depth == 0 && !ts.irqs_off && !ts.rcu_online && !held_any) return;
  CapturedStack now;
  capture(now, __builtin_return_address(0));
  Session s(ts);
  check_blocking(ts, s, blocking, now);
}

}  // namespace pctx::base::lock_validator

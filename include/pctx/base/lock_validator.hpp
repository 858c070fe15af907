// The lock validator, the userspace analog of the kernel's lockdep, on in debug builds
// (PCTX_LOCK_VALIDATOR=1, which the pctx::base target exports). It learns, per lock class,
// the order in which classes are taken and the contexts they are taken in (irqs off, inside
// a cross-call handler or timer callback, under the RCU read side), and reports a use that
// could deadlock the first time it happens, even when this run did not deadlock: an order
// inversion, recursion on a class, a blocking call with irqs off or inside a handler, a
// synchronous cross-call made while holding a class that handlers take, a sleep under the
// RCU read side, and a class taken by handlers but held with irqs on. docs/lock-validator.md
// says what each report means.
//
// The lock types call the lock hooks, and the cpu layer calls the context hooks; code that
// blocks in its own way calls might_block. With the validator off, every hook is an empty
// inline function: it costs nothing.
#pragma once

#include <cstdint>
#include <string>

#ifndef PCTX_LOCK_VALIDATOR
#define PCTX_LOCK_VALIDATOR 0
#endif

namespace pctx::base {

// Why a lock may be taken while another lock of its class is held (lockdep's nesting
// annotations). Without one, the validator reports the recursion.
enum class LockNesting : uint8_t {
  kNone,
  // The locks of the class are taken in increasing address order, which no two threads
  // can invert; the validator checks the order.
  kAddressOrder,
};

namespace lock_validator {

inline constexpr bool kEnabled = PCTX_LOCK_VALIDATOR != 0;

enum class LockKind : uint8_t {
  kMutex,  // may block: a base::Mutex
  kSpin,   // spins with irqs off: a cpu::IrqSpinLock
};

// What a blocking call waits for.
enum class Blocking : uint8_t {
  kNone,
  kMutex,           // a base::Mutex's lock()
  kFutexWait,       // a futex wait
  kAtomicWait,      // std::atomic::wait
  kSleep,           // a timed sleep
  kRcuSynchronize,  // rcu::synchronize or rcu::barrier: waits for a grace period
  kCrossCall,       // a synchronous cross-call, or a wait for an asynchronous one
  kTaskSwitch,      // a task gives its CPU away (blocks, sleeps or yields)
};

enum class ReportKind : uint8_t {
  kInversion,             // the order graph got a cycle: two threads could deadlock
  kRecursion,             // a class taken while held, with no declared nesting
  kBlockingWithIrqsOff,   // a blocking call with irqs off (or an irqs-off lock held)
  kBlockingInHandler,     // a blocking call inside a cross-call handler or timer callback
  kCrossCallHoldingLock,  // a synchronous cross-call while holding a class handlers take
  kSleepInRcuReadSide,    // a sleep or rcu::synchronize on an online RCU reader
  kIrqUnsafe,             // a class taken in handlers and held with irqs on on a CPU thread
  kLockHeldAcrossSwitch,  // a task switched away holding a lock (locks belong to threads)
  kBadUnlock,             // an unlock of a lock this thread does not hold
};

const char* to_string(ReportKind kind);
const char* to_string(Blocking blocking);

// A stack as captured by glibc's backtrace(), innermost frame first.
struct Stack {
  const void* const* frames = nullptr;
  int depth = 0;
};

// One report. Valid only during the call to the report handler: copy what you keep.
struct Report {
  ReportKind kind = ReportKind::kInversion;
  Blocking blocking = Blocking::kNone;  // for the blocking kinds
  // The classes involved: for an inversion, the class held and the class taken; for a
  // recursion, the class; otherwise the held class that makes it a problem, if any.
  const char* classes[2] = {nullptr, nullptr};
  // For an inversion, the cycle the new edge closes: classes[1] -> ... -> classes[0].
  const char* cycle[8] = {};
  int cycle_length = 0;
  // stacks[0] is the earlier event (the opposite order's first use, where irqs went off,
  // where a handler took the class...), stacks[1] the current one; titles say which.
  Stack stacks[2];
  const char* titles[2] = {nullptr, nullptr};
};

// Gets every report instead of the default handler, which prints it to stderr and aborts
// (or only prints, with PCTX_LOCK_VALIDATOR=warn in the environment). nullptr restores the
// default. The handler may run on any thread, inside a signal handler too.
using ReportHandler = void (*)(const Report& report, void* context);

// The report as the default handler prints it, stacks symbolised as well as glibc can.
std::string format(const Report& report);

#if PCTX_LOCK_VALIDATOR

void set_report_handler(ReportHandler handler, void* context);
// Forgets the order, the usages and what was reported, for the next test. Lock classes
// and what threads hold right now are kept.
void reset();
// False when PCTX_LOCK_VALIDATOR=0 in the environment turned the checks off.
bool active();

// Lock hooks. acquire runs before the lock is taken (so a deadlock is reported before it
// happens), acquired_try after a try-lock succeeded, release before the lock is released.
void acquire(const void* lock, const char* lock_class, LockKind kind, LockNesting nesting);
void acquired_try(const void* lock, const char* lock_class, LockKind kind);
void release(const void* lock);

// Context hooks, from the cpu layer: irqs going off (depth 0 to 1) and on (1 to 0); a
// cross-call handler or timer callback running; the thread being a CPU thread; the thread
// being an online RCU reader (liburcu QSBR: registered and not offline).
void irqs_disabled();
void irqs_enabled();
void handler_enter();
void handler_exit();
void cpu_thread_enter();
void cpu_thread_exit();
void rcu_reader_online();
void rcu_reader_offline();

// Before a call that may block, of the given kind.
void might_block(Blocking blocking);

#else

inline void set_report_handler(ReportHandler, void*) {}
inline void reset() {}
inline bool active() {
  return false;
}
inline void acquire(const void*, const char*, LockKind, LockNesting) {}
inline void acquired_try(const void*, const char*, LockKind) {}
inline void release(const void*) {}
inline void irqs_disabled() {}
inline void irqs_enabled() {}
inline void handler_enter() {}
inline void handler_exit() {}
inline void cpu_thread_enter() {}
inline void cpu_thread_exit() {}
inline void rcu_reader_online() {}
inline void rcu_reader_offline() {}
inline void might_block(Blocking) {}

#endif

// Marks a cross-call handler or timer callback for its scope.
class HandlerScope {
 public:
  HandlerScope() { handler_enter(); }
  ~HandlerScope() { handler_exit(); }
  HandlerScope(const HandlerScope&) = delete;
  HandlerScope& operator=(const HandlerScope&) = delete;
};

}  // namespace lock_validator
}  // namespace pctx::base

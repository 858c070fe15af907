// What a report says and how it is printed. Compiled with the validator on or off, so that
// tests and tools that format reports build either way.
#include <cstdio>
#include <string>

#include "base/symbolize.hpp"
#include "pctx/base/lock_validator.hpp"

namespace pctx::base::lock_validator {

namespace {

std::string name_or_none(const char* cls) {
  return cls != nullptr ? cls : "(unnamed)";
}

// One line per frame, named as well as the binaries allow (symbolize.hpp).
void append_stack(std::string& out, const Stack& stack) {
  if (stack.depth == 0) {
    out += "    (no stack recorded)\n";
    return;
  }
  for (int i = 0; i < stack.depth; ++i) {
    char head[48];
    std::snprintf(head, sizeof head, "    #%-2d %p ", i, stack.frames[i]);
    out += head + internal::symbolize(stack.frames[i]) + "\n";
  }
}

std::string explain(const Report& r) {
  const std::string a = name_or_none(r.classes[0]);
  const std::string b = name_or_none(r.classes[1]);
  const std::string op = to_string(r.blocking);
  const std::string holding = r.classes[0] != nullptr ? " holding " + a : "";
  switch (r.kind) {
    case ReportKind::kInversion: {
      std::string cycle;
      for (int i = 0; i < r.cycle_length; ++i) cycle += name_or_none(r.cycle[i]) + " -> ";
      return "taking " + b + " while holding " + a + ", but the opposite order was seen: " + cycle +
             b + ". Two threads taking them in these orders deadlock.";
    }
    case ReportKind::kRecursion:
      return "taking " + a + " while holding a lock of that class, with no declared nesting " +
             "(base::LockNesting): the same lock deadlocks, two of them can be inverted.";
    case ReportKind::kBlockingWithIrqsOff:
      return "a blocking call (" + op + ") with irqs off" + holding +
             ": calls and timers for this CPU wait until it returns, and a CPU spinning on the "
             "lock spins as long.";
    case ReportKind::kBlockingInHandler:
      return "a blocking call (" + op + ") inside a cross-call handler or timer callback" +
             holding + ": handlers may run inside a signal handler and must never block.";
    case ReportKind::kCrossCallHoldingLock:
      return "a synchronous cross-call while holding " + a +
             ", which cross-call handlers take: the target CPU's handler waits for the lock, "
             "and the caller waits for the handler.";
    case ReportKind::kSleepInRcuReadSide:
      return "a " + op + " on an online RCU reader (a registered thread between quiescent " +
             "states): every grace period waits for it, and one that waits for this thread " +
             "never ends.";
    case ReportKind::kIrqUnsafe:
      return a + " is taken inside cross-call handlers and held with irqs on on a CPU thread: " +
             "a handler that interrupts the holder spins on it forever.";
    case ReportKind::kLockHeldAcrossSwitch:
      return "a task switched away holding " + a +
             ": a lock belongs to the thread that took it, and the task may resume on another "
             "CPU thread while another task of this one takes it.";
    case ReportKind::kBadUnlock:
      return "unlocking " + a + ", which this thread does not hold.";
  }
  return "";
}

}  // namespace

const char* to_string(ReportKind kind) {
  switch (kind) {
    case ReportKind::kInversion:
      return "lock order inversion";
    case ReportKind::kRecursion:
      return "recursive locking";
    case ReportKind::kBlockingWithIrqsOff:
      return "blocking call with irqs off";
    case ReportKind::kBlockingInHandler:
      return "blocking call inside a handler";
    case ReportKind::kCrossCallHoldingLock:
      return "synchronous cross-call holding a lock handlers take";
    case ReportKind::kSleepInRcuReadSide:
      return "sleep under the RCU read side";
    case ReportKind::kIrqUnsafe:
      return "handler lock held with irqs on";
    case ReportKind::kLockHeldAcrossSwitch:
      return "lock held across a task switch";
    case ReportKind::kBadUnlock:
      return "unlock of a lock not held";
  }
  return "?";
}

const char* to_string(Blocking blocking) {
  switch (blocking) {
    case Blocking::kNone:
      return "none";
    case Blocking::kMutex:
      return "mutex lock";
    case Blocking::kFutexWait:
      return "futex wait";
    case Blocking::kAtomicWait:
      return "atomic wait";
    case Blocking::kSleep:
      return "sleep";
    case Blocking::kRcuSynchronize:
      return "RCU grace-period wait";
    case Blocking::kCrossCall:
      return "synchronous cross-call";
    case Blocking::kTaskSwitch:
      return "task switch";
  }
  return "?";
}

std::string format(const Report& r) {
  std::string out = "pctx lock validator: ";
  out += to_string(r.kind);
  out += "\n  " + explain(r) + "\n";
  for (int i = 0; i < 2; ++i) {
    if (r.titles[i] == nullptr) continue;
    out += "  ";
    out += r.titles[i];
    out += ":\n";
    append_stack(out, r.stacks[i]);
  }
  return out;
}

}  // namespace pctx::base::lock_validator

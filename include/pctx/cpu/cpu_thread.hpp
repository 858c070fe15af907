// One pthread per CPU, pinned to it: the CPU as the rest of pctx sees it.
//
// The loop: run pending cross-calls, run the scheduler hook, fire timers, report an RCU
// quiescent state; when there is nothing to do, spin for a bounded time, then park on a
// futex. Senders deliver by the thread's mode: nothing when it polls, a futex wake when it
// sleeps, a real-time signal when it is busy running user work (BusyScope).
#pragma once

#include <pthread.h>
#include <sys/types.h>
#include <urcu/wfcqueue.h>
#include <ctime>

#include <boost/intrusive/list.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

#include "pctx/base/thread_role.hpp"
#include "pctx/cpu/cpu_timer.hpp"
#include "pctx/cpu/cross_call.hpp"
#include "pctx/cpu/pinning.hpp"

namespace pctx::cpu {

class CpuThread;

// What the scheduler layer plugs into the loop: returns true when it did work (then the
// loop does not go idle).
using SchedulerHook = std::function<bool(CpuThread&)>;

enum class CpuState : uint32_t {
  kStarting,   // the thread is pinning itself
  kRunning,    // pinned, taking calls
  kParking,    // asked to park: no new calls, draining queued ones
  kParked,     // its CPU is offline (or going): the thread sleeps, calls get -ENXIO
  kUnparking,  // asked to come back: re-pinning
  kStopping,
  kStopped,
};

const char* to_string(CpuState s);

struct CpuThreadStats {
  std::atomic<uint64_t> calls{0};          // cross-calls run
  std::atomic<uint64_t> express_calls{0};  // of which through the express lane
  std::atomic<uint64_t> signal_calls{0};   // of which from the signal handler
  std::atomic<uint64_t> deferred{0};       // signals that found irqs off
  std::atomic<uint64_t> sleeps{0};         // futex sleeps when idle
  std::atomic<uint64_t> migrations{0};     // times the thread found itself off its CPU
  std::atomic<uint64_t> timer_signals{0};  // timers fired from the signal (busy thread)
  // The kernel refused to create or arm the POSIX timer that interrupts user work: timers
  // then fire only when the user work returns to the loop (late slices and rotations).
  std::atomic<uint64_t> timer_errors{0};
  PinResult last_pin;  // written by the thread, read after it reports
};

class CpuThread {
 public:
  struct Options {
    std::chrono::nanoseconds spin{std::chrono::microseconds(50)};  // before sleeping
    SchedulerHook scheduler;
    std::function<void(int cpu)> on_migrated;  // the thread found itself off its CPU
  };

  CpuThread(int cpu, Options options);
  ~CpuThread();
  CpuThread(const CpuThread&) = delete;
  CpuThread& operator=(const CpuThread&) = delete;

  // Starts the thread: running when the CPU is online, else parked. Waits until it is one
  // or the other; returns the pin error, if any, or, before starting anything, the error of
  // installing the call signal's handler.
  int start(bool online);
  void stop();

  // Hotplug: park drains queued calls (they run) and refuses new ones; unpark re-pins the
  // thread (retrying EINVAL) and returns 0 once it runs on its CPU, or -errno.
  void park();
  int unpark();

  int cpu() const { return cpu_; }
  CpuState state() const { return static_cast<CpuState>(shared_.state.load()); }
  pid_t tid() const { return tid_.load(); }
  pthread_t handle() const { return handle_; }
  const CpuThreadStats& stats() const { return stats_; }
  // Calls wait in the mailbox or the lane: for preemption points and task switches that
  // poll, in case a call's signal is late or lost (ThreadSanitizer defers signals and may
  // merge them). Inline, with liburcu's own emptiness test on the queue's public fields: a
  // hint, which a call still being queued may miss (its signal, or the next look, runs it).
  bool calls_pending() const {
    return lane_.state.load(std::memory_order_relaxed) == kLaneRequested ||
           __atomic_load_n(&shared_.head.node.next, __ATOMIC_RELAXED) != nullptr ||
           __atomic_load_n(&shared_.tail.p, __ATOMIC_RELAXED) != &shared_.head.node;
  }

  // Wakes the thread if it sleeps, so its loop runs the scheduler hook again.
  void kick();
  // Like kick, but leaves a busy thread alone: its loop sees the work when the user work
  // returns (a task queued behind a running one needs no signal).
  void notify();

  // Queues a call; -ENXIO when the thread does not take calls. Used by cross_call.cpp.
  int enqueue(CallNode* node);
  // Runs `call` on this thread through the express lane and waits for it: kRan, with its
  // result and payload as the call left them; kRefused when the thread does not take calls;
  // kBusy, with nothing done, when another call holds the lane. Used by cross_call.cpp.
  enum class Express { kRan, kRefused, kBusy };
  Express call_express(ExpressCall& call);

  // Runs queued calls on this thread, with irqs off. Must be called by the owner.
  void drain_calls();

  // Timers, on the owner thread only (from a call, the scheduler hook, or a callback), or
  // while the thread is parked or stopped (see assert_owner). arm starts or restarts a
  // periodic timer whose first expiry is one period from now.
  void arm_timer(CpuTimer& timer, std::chrono::nanoseconds period);
  void cancel_timer(CpuTimer& timer);

  // Marks the calling CPU thread busy with user work: calls then arrive by signal. The
  // thread stays busy after the scope, through the loop's pass to the next user work, until
  // the loop finds nothing to do; so tasks run back to back pay for the change of mode
  // once. Only on the owner thread.
  class BusyScope {
   public:
    explicit BusyScope(CpuThread& t);
    // Nothing to undo: between two tasks a call arrives by signal and runs in the handler,
    // as a timer's does (the POSIX timer stays armed too: re-arming it for every stretch of
    // user work cost two timer_settime calls per switch, each a VM exit under a hypervisor).
    // Going back to polling at every switch cost a full fence on the way back to busy.
    ~BusyScope() = default;
    BusyScope(const BusyScope&) = delete;
    BusyScope& operator=(const BusyScope&) = delete;

   private:
    CpuThread& t_;
  };

  // The CPU thread the caller is, or nullptr.
  static CpuThread* current();

  // Used by the signal handler.
  void on_signal();

 private:
  enum Mode : uint32_t { kPolling, kSleeping, kBusy };

  // The thread's own state (below) is touched by the thread itself (its loop, its signal
  // handler, the calls and timer callbacks it runs), or by anyone while it is parked or
  // stopped and runs none of them: the role owner_. The entry points say where that starts;
  // debug builds check it.
  void assert_owner() const PCTX_ASSERT_CAPABILITY(owner_) {
    base::check_held(
        [&] {
          const CpuState s = state();
          return current() == this || s == CpuState::kParked || s == CpuState::kStopped;
        },
        "a CPU thread's own state, off that thread while it runs");
  }

  void main();
  void idle_wait() PCTX_REQUIRES(owner_);
  void leave_busy() PCTX_REQUIRES(owner_);
  void run_timers() PCTX_REQUIRES(owner_);
  bool loop_checks_timers() PCTX_REQUIRES(owner_);
  // The POSIX timer that interrupts user work at the next expiry.
  void arm_busy_timer() PCTX_REQUIRES(owner_);
  // max() when none.
  std::chrono::steady_clock::time_point next_expiry() const PCTX_REQUIRES(owner_);
  bool queue_empty() const;
  void wake_for(uint32_t mode);
  void check_placement() PCTX_REQUIRES(owner_);
  void set_state(CpuState s);
  void wait_state_not(CpuState s);

  const int cpu_;
  Options options_;
  std::thread thread_;
  pthread_t handle_{};
  std::atomic<pid_t> tid_{0};

  // Everything a call touches on the target's side, in one cache line: an enqueue into an
  // empty queue writes the head's link as well as the tail, and the owner polls both, so
  // one line moves per direction instead of two.
  struct alignas(64) Shared {
    cds_wfcq_tail tail;
    __cds_wfcq_head head;
    std::atomic<int> entering{0};
    std::atomic<uint32_t> state{static_cast<uint32_t>(CpuState::kStopped)};
    std::atomic<uint32_t> mode{kPolling};  // a futex word while sleeping
    std::atomic<bool> signal_sent{false};
  } shared_;
  static_assert(sizeof(Shared) == 64, "the call line must be one cache line");
  // The express lane: one synchronous call at a time, its function and data in this one
  // cache line, which moves here with the request and back with the result. The mailbox's
  // queue, by contrast, moves its line for the enqueue and again for the dequeue, and the
  // handler then reaches into the caller's stack for the call. Free, claimed by a caller
  // (filling it, or done and being read back), or requested; `done` is a futex word, as a
  // mailbox node's.
  enum Lane : uint32_t { kLaneFree, kLaneClaimed, kLaneRequested };
  struct alignas(64) ExpressLane {
    std::atomic<uint32_t> state{kLaneFree};
    std::atomic<uint32_t> done{0};
    ExpressCall call;
  } lane_;
  static_assert(sizeof(ExpressLane) == 64, "the express lane must be one cache line");
  void run_lane();        // the requested call, with irqs off
  bool in_lane_ = false;  // run_lane is inside the call (the owner's; off the lane's line)
  alignas(64) CpuThreadStats stats_;
  std::atomic<bool> kicked_{false};
  [[maybe_unused]] base::ThreadRole owner_;  // only the analysis reads it
  bool reported_migration_ PCTX_GUARDED_BY(owner_) = false;
  // Changed with irqs off: the signal handler walks it too.
  using TimerList = boost::intrusive::list<
      CpuTimer, boost::intrusive::member_hook<CpuTimer, boost::intrusive::list_member_hook<>,
                                              &CpuTimer::hook_>>;
  TimerList timers_ PCTX_GUARDED_BY(owner_);
  timer_t busy_timer_ PCTX_GUARDED_BY(owner_){};
  bool busy_timer_created_ PCTX_GUARDED_BY(owner_) = false;
  bool busy_timer_armed_ PCTX_GUARDED_BY(owner_) = false;
  std::chrono::steady_clock::time_point busy_deadline_ PCTX_GUARDED_BY(owner_){};
  uint32_t timer_passes_ PCTX_GUARDED_BY(owner_) = 0;  // the loop's, for loop_checks_timers
};

// The real-time signal that interrupts a busy CPU thread.
int call_signal();

}  // namespace pctx::cpu

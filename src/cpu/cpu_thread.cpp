#include "pctx/cpu/cpu_thread.hpp"
#include "pctx/cpu/relax.hpp"

// The mailbox's wait-free queue runs liburcu's library functions, not their inline
// versions (_LGPL_SOURCE): inlined, it runs instrumented under ThreadSanitizer, which does
// not model its inline-assembly exchanges, and the run queue's wake list, inlined that
// way, left a CPU thread waiting 150 ms for a link the enqueue had written
// (SchedulerTest.AThreadWakesABlockedTask failed every run under TSan).
#include <urcu/wfcqueue.h>

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <csignal>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "cpu/call_wait.hpp"
#include "cpu/fence.hpp"
#include "cpu/futex.hpp"
#include "cpu/tsan.hpp"
#include "pctx/base/lock_validator.hpp"
#include "pctx/base/tsc_clock.hpp"
#include "pctx/cpu/irq.hpp"
#include "pctx/cpu/rcu.hpp"

namespace pctx::cpu {

namespace {

// The tsc clock's error allowed for, when it tells the loop that no timer is due yet: its
// error is nanoseconds, or half an anchor's bracket where clock_gettime is slowed (a few
// microseconds under the sanitizers). Larger costs only a clock_gettime a little earlier.
constexpr std::chrono::microseconds kTimerSlack{20};

__attribute__((tls_model("initial-exec"))) thread_local CpuThread* tls_current = nullptr;

}  // namespace

constinit thread_local int internal::tls_current_cpu = -1;

namespace {

void signal_handler(int) {
  const int saved = errno;
  if (CpuThread* t = tls_current) t->on_signal();
  errno = saved;
}

// Pinning may sleep (it backs off while the kernel answers EINVAL, for up to two seconds):
// done offline, so that no RCU grace period waits for the backoff.
PinResult pin_offline(int cpu) {
  rcu::thread_offline();
  PinResult r = pin_current_thread(cpu);
  rcu::thread_online();
  return r;
}

// Installed once per process, before the first CPU thread starts; 0 or -errno, the same
// for every caller. Without it the call signal's default action ends the process at the
// first cross-call to a busy thread, so no thread starts without it.
int install_signal_handler() {
  static std::once_flag once;
  static int result = 0;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = signal_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(call_signal(), &sa, nullptr) != 0) result = -errno;
  });
  return result;
}

}  // namespace

constinit __attribute__((tls_model("initial-exec"))) thread_local IrqState tls_irq_state;

void run_deferred_calls() {
  tls_irq_state.pending.store(false, std::memory_order_relaxed);
  if (CpuThread* t = tls_current) t->on_signal();
}

int call_signal() {
  return SIGRTMIN + 4;
}

const char* to_string(CpuState s) {
  switch (s) {
    case CpuState::kStarting:
      return "starting";
    case CpuState::kRunning:
      return "running";
    case CpuState::kParking:
      return "parking";
    case CpuState::kParked:
      return "parked";
    case CpuState::kUnparking:
      return "unparking";
    case CpuState::kStopping:
      return "stopping";
    case CpuState::kStopped:
      return "stopped";
  }
  return "?";
}

CpuThread* CpuThread::current() {
  return tls_current;
}

CpuThread::CpuThread(int cpu, Options options) : cpu_(cpu), options_(std::move(options)) {
  __cds_wfcq_init(&shared_.head, &shared_.tail);
}

CpuThread::~CpuThread() {
  stop();
}

int CpuThread::start(bool online) {
  if (int err = install_signal_handler()) return err;
  set_state(online ? CpuState::kStarting : CpuState::kParked);
  thread_ = std::thread([this] { main(); });
  handle_ = thread_.native_handle();
  wait_state_not(CpuState::kStarting);
  while (tid_.load() == 0) std::this_thread::yield();
  return stats_.last_pin.error;
}

void CpuThread::stop() {
  if (!thread_.joinable()) return;
  set_state(CpuState::kStopping);
  wake_for(kSleeping);
  thread_.join();
}

void CpuThread::park() {
  auto expected = static_cast<uint32_t>(CpuState::kRunning);
  if (!shared_.state.compare_exchange_strong(expected, static_cast<uint32_t>(CpuState::kParking))) {
    return;  // already parked (or never ran)
  }
  internal::futex_wake(&shared_.state, INT32_MAX);
  wake_for(kSleeping);
  wait_state_not(CpuState::kParking);
}

int CpuThread::unpark() {
  auto expected = static_cast<uint32_t>(CpuState::kParked);
  if (!shared_.state.compare_exchange_strong(expected,
                                             static_cast<uint32_t>(CpuState::kUnparking))) {
    return state() == CpuState::kRunning ? 0 : -EINVAL;
  }
  internal::futex_wake(&shared_.state, INT32_MAX);
  wait_state_not(CpuState::kUnparking);
  return state() == CpuState::kRunning ? 0 : stats_.last_pin.error;
}

void CpuThread::set_state(CpuState s) {
  shared_.state.store(static_cast<uint32_t>(s));
  internal::futex_wake(&shared_.state, INT32_MAX);
}

void CpuThread::wait_state_not(CpuState s) {
  while (state() == s) internal::futex_wait(&shared_.state, static_cast<uint32_t>(s));
}

// No call waits: neither in the mailbox nor in the express lane.
bool CpuThread::queue_empty() const {
  return lane_.state.load(std::memory_order_acquire) != kLaneRequested &&
         cds_wfcq_empty(__cds_wfcq_head_cast(const_cast<__cds_wfcq_head*>(&shared_.head)),
                        const_cast<cds_wfcq_tail*>(&shared_.tail));
}

// The claim, like enqueue's `entering`, comes before the look at the state: park() changes
// the state and then waits for a claimed lane to be requested or freed, so a call is
// refused, or it is in the lane before the thread parks, and then it runs.
CpuThread::Express CpuThread::call_express(ExpressCall& call) {
  uint32_t expected = kLaneFree;
  if (!lane_.state.compare_exchange_strong(expected, kLaneClaimed, std::memory_order_seq_cst)) {
    return Express::kBusy;
  }
  if (shared_.state.load(std::memory_order_seq_cst) != static_cast<uint32_t>(CpuState::kRunning)) {
    lane_.state.store(kLaneFree, std::memory_order_release);
    return Express::kRefused;
  }
  // Byte copies, which create the function object (or result) the payload holds.
  std::memcpy(&lane_.call, &call, sizeof call);
  lane_.done.store(0, std::memory_order_relaxed);
  lane_.state.store(kLaneRequested, std::memory_order_seq_cst);
  // As enqueue's: either the owner sees the request, or we see its new mode and deliver.
  internal::full_fence();
  wake_for(shared_.mode.load(std::memory_order_seq_cst));
  internal::wait_done(lane_.done);
  std::memcpy(&call, &lane_.call, sizeof call);
  lane_.state.store(kLaneFree, std::memory_order_release);
  return Express::kRan;
}

// With irqs off, so nothing else on this thread looks at the lane meanwhile; the line is
// written once, after the call, with its result, the state and `done` together.
void CpuThread::run_lane() {
  int result = 0;
  {
    base::lock_validator::HandlerScope handler;
    in_lane_ = true;
    result = lane_.call.invoke(lane_.call.payload);
    in_lane_ = false;
  }
  lane_.call.result = result;
  lane_.state.store(kLaneClaimed, std::memory_order_relaxed);
  stats_.calls.fetch_add(1, std::memory_order_relaxed);
  stats_.express_calls.fetch_add(1, std::memory_order_relaxed);
  if (lane_.done.exchange(1, std::memory_order_acq_rel) == 2) internal::futex_wake(&lane_.done);
}

int CpuThread::enqueue(CallNode* node) {
  // Registering as "entering" before checking the state pairs with park(), which changes
  // the state before waiting for `entering` to drain: a call is either refused or queued
  // before the thread parks, and then it runs.
  shared_.entering.fetch_add(1, std::memory_order_seq_cst);
  if (shared_.state.load(std::memory_order_seq_cst) != static_cast<uint32_t>(CpuState::kRunning)) {
    shared_.entering.fetch_sub(1, std::memory_order_release);
    return -ENXIO;
  }
  internal::tsan_release(node);
  cds_wfcq_enqueue(__cds_wfcq_head_cast(&shared_.head), &shared_.tail, &node->link.node_);
  // The fence pairs with the one in idle_wait and BusyScope: either the owner sees the
  // node, or we see its new mode and deliver.
  internal::full_fence();
  wake_for(shared_.mode.load(std::memory_order_seq_cst));
  // Only after the delivery: park() and stop() wait for `entering` to drain, so no signal
  // of ours reaches a thread that has parked, or one that is gone.
  shared_.entering.fetch_sub(1, std::memory_order_release);
  return 0;
}

void CpuThread::wake_for(uint32_t mode) {
  if (mode == kSleeping) {
    uint32_t expected = kSleeping;
    if (shared_.mode.compare_exchange_strong(expected, kPolling)) {
      internal::futex_wake(&shared_.mode);
    }
  } else if (mode == kBusy) {
    // One signal at a time: the handler clears the flag before it drains. A signal that
    // could not be sent (the queue of pending signals full) must not keep the next caller
    // from trying.
    if (!shared_.signal_sent.exchange(true) && pthread_kill(handle_, call_signal()) != 0) {
      shared_.signal_sent.store(false, std::memory_order_relaxed);
    }
  }
}

void CpuThread::kick() {
  kicked_.store(true, std::memory_order_relaxed);
  internal::full_fence();
  wake_for(shared_.mode.load(std::memory_order_relaxed));
}

void CpuThread::notify() {
  kicked_.store(true, std::memory_order_relaxed);
  internal::full_fence();
  if (shared_.mode.load(std::memory_order_relaxed) == kSleeping) wake_for(kSleeping);
}

void CpuThread::drain_calls() {
  // Calls run with irqs off, so a signal that lands meanwhile cannot re-enter the queue.
  local_irq_disable();
  // Not from inside the lane's own call (a handler waiting on an async call serves the
  // mailbox): its request stays Requested while it runs, and would run again.
  if (!in_lane_ && lane_.state.load(std::memory_order_acquire) == kLaneRequested) run_lane();
  while (cds_wfcq_node* n =
             __cds_wfcq_dequeue_blocking(__cds_wfcq_head_cast(&shared_.head), &shared_.tail)) {
    CallNode* call = caa_container_of(caa_container_of(n, MailboxLink, node_), CallNode, link);
    internal::tsan_acquire(call);
    {
      base::lock_validator::HandlerScope handler;
      call->result = call->invoke(call);
    }
    stats_.calls.fetch_add(1, std::memory_order_relaxed);
    // After this exchange the node belongs to its caller again; only its address is used.
    if (call->done.exchange(1, std::memory_order_acq_rel) == 2) {
      internal::futex_wake(&call->done);
    }
  }
  local_irq_enable();
}

// Runs on this thread, in the call signal's handler or where irqs come back on.
void CpuThread::on_signal() {
  assert_owner();
  // A parked thread runs no timers, and its mailbox was drained as it parked (a signal
  // sent before it parked may still arrive). A thread that is only parking still serves
  // both here, since its task may run on until it yields.
  if (const CpuState s = state(); s == CpuState::kParked || s == CpuState::kStopped) return;
  shared_.signal_sent.store(false, std::memory_order_relaxed);
  // Before the look at the queue: a sender whose exchange still read the flag set (and
  // sent nothing) enqueued before it, so the look finds its call.
  internal::full_fence();
  IrqState& irq = irq_state();
  if (irq.depth.load(std::memory_order_relaxed) > 0) {
    irq.pending.store(true, std::memory_order_relaxed);
    stats_.deferred.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!queue_empty()) {
    stats_.signal_calls.fetch_add(1, std::memory_order_relaxed);
    drain_calls();
  }
  const auto now = std::chrono::steady_clock::now();
  // The POSIX timer is one-shot: once its deadline has passed it is no longer armed.
  if (busy_timer_armed_ && busy_deadline_ <= now) busy_timer_armed_ = false;
  if (!timers_.empty() && next_expiry() <= now) {
    stats_.timer_signals.fetch_add(1, std::memory_order_relaxed);
    run_timers();
    // Only an expiry moves the next deadline; a call's signal leaves the timer as it was.
    if (shared_.mode.load(std::memory_order_relaxed) == kBusy) arm_busy_timer();
  }
}

CpuThread::BusyScope::BusyScope(CpuThread& t) : t_(t) {
  // Still busy from the last scope (user work back to back, the loop's pass between them
  // found more): senders already signal, and the mode costs nothing here.
  if (t_.shared_.mode.load(std::memory_order_relaxed) != kBusy) {
    // The loop drained the mailbox since any signal was sent: a signal that never arrived
    // must not keep every later call from sending one.
    t_.shared_.signal_sent.store(false, std::memory_order_relaxed);
    t_.shared_.mode.store(kBusy, std::memory_order_relaxed);
    internal::full_fence();
    if (!t_.queue_empty()) t_.drain_calls();
  }
  t_.arm_busy_timer();
}

// Senders stop signalling: the loop polls its mailbox from here. No fence is needed this
// way, since the loop keeps looking at the mailbox for as long as it polls.
void CpuThread::leave_busy() {
  if (shared_.mode.load(std::memory_order_relaxed) == kBusy) {
    shared_.mode.store(kPolling, std::memory_order_relaxed);
  }
}

void CpuThread::arm_timer(CpuTimer& timer, std::chrono::nanoseconds period) {
  assert_owner();
  IrqGuard irqs_off;  // the signal handler walks the same list
  timer.period_ = period;
  timer.deadline_ = std::chrono::steady_clock::now() + period;
  if (!timer.armed()) timers_.push_back(timer);
  if (shared_.mode.load(std::memory_order_relaxed) == kBusy) arm_busy_timer();
}

void CpuThread::cancel_timer(CpuTimer& timer) {
  assert_owner();
  IrqGuard irqs_off;
  if (timer.armed()) timers_.erase(timers_.iterator_to(timer));
}

std::chrono::steady_clock::time_point CpuThread::next_expiry() const {
  // The timer signal may arrive outside busy work too (the POSIX timer stays armed), and
  // its callbacks arm and cancel timers: no walk of the list with irqs on.
  IrqGuard irqs_off;
  auto next = std::chrono::steady_clock::time_point::max();
  for (const auto& t : timers_) next = std::min(next, t.deadline_);
  return next;
}

// Fires due timers one at a time, rescanning after each: a callback may arm or cancel any
// timer, so no iterator is held across it.
void CpuThread::run_timers() {
  IrqGuard irqs_off;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    CpuTimer* due = nullptr;
    for (auto& t : timers_) {
      if (t.deadline_ <= now) {
        due = &t;
        break;
      }
    }
    if (due == nullptr) return;
    // Periodic without drift; a timer that fell behind skips the missed periods.
    due->deadline_ += due->period_;
    if (due->deadline_ <= now) due->deadline_ = now + due->period_;
    ++due->fired_;
    base::lock_validator::HandlerScope handler;  // a timer callback is a handler too
    due->callback_();
  }
}

// Whether the loop's pass runs the timers. While the thread is busy with the POSIX timer
// armed for the next expiry, the timer's signal runs the timers that come due, between
// tasks too (the thread stays busy through the loop's pass): the loop looks itself only
// every 64th pass, against a signal gone astray. Otherwise it looks with the tsc clock
// (tsc_clock.hpp, no clock_gettime), and run_timers' clock_gettime decides only when a
// timer may be due. The signal handler calls run_timers directly: it knows one is.
bool CpuThread::loop_checks_timers() {
  IrqGuard irqs_off;  // busy_timer_armed_ and the list are the handler's too
  if (shared_.mode.load(std::memory_order_relaxed) == kBusy && busy_timer_armed_) {
    return (++timer_passes_ & 63) == 0;
  }
  const auto soon =
      std::chrono::steady_clock::time_point(std::chrono::nanoseconds(base::fast_monotonic_ns())) +
      kTimerSlack;
  return std::any_of(timers_.begin(), timers_.end(),
                     [&](const CpuTimer& t) { return t.deadline_ <= soon; });
}

void CpuThread::arm_busy_timer() {
  // Irqs off, because the call signal's handler arms the timer too, after it runs the timers
  // due. A handler that ran between the deadline chosen here and the arming would be undone
  // by that stale deadline, already past: the timer would fire at once, find nothing due,
  // and stay unarmed while user work runs, with no tick and no rotation until the work
  // gave the CPU back. (Under TSan a task kept its CPU for a whole test that way, 1 run in
  // 30.) A signal now waits for the end of the section, and its handler then sees the
  // arming done.
  IrqGuard irqs_off;
  if (timers_.empty() || !busy_timer_created_) return;
  const auto deadline = next_expiry();
  if (busy_timer_armed_ && busy_deadline_ == deadline) return;  // armed for it already
  const auto next = deadline.time_since_epoch();
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(next.count() / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(next.count() % 1'000'000'000);
  // steady_clock is CLOCK_MONOTONIC, so its deadlines serve as absolute times. This may run
  // in the signal handler: a refusal is counted, not reported, and the next arming tries
  // again (meanwhile timers fire when the user work returns to the loop).
  if (timer_settime(busy_timer_, TIMER_ABSTIME, &spec, nullptr) != 0) {
    stats_.timer_errors.fetch_add(1, std::memory_order_relaxed);
    busy_timer_armed_ = false;  // so that the loop checks the timers at every pass
    return;
  }
  busy_timer_armed_ = true;
  busy_deadline_ = deadline;
}

void CpuThread::idle_wait() {
  using Clock = std::chrono::steady_clock;
  auto expiry = next_expiry();
  auto spin_until = std::min(Clock::now() + options_.spin, expiry);
  const auto running = static_cast<uint32_t>(CpuState::kRunning);
  auto has_work = [&] {
    return !queue_empty() || kicked_.load(std::memory_order_relaxed) ||
           shared_.state.load(std::memory_order_relaxed) != running;
  };
  int lane_calls = 0;
  for (int i = 0;; ++i) {
    // A call in the express lane runs here and the spin goes on, so a polling thread
    // answers calls back to back with no pass of the loop between them (the caller's
    // next call would wait for it). A call may arm a timer: the deadlines are taken again.
    if (lane_.state.load(std::memory_order_acquire) == kLaneRequested) {
      drain_calls();
      // Back to the loop every 64 calls: a stream of calls must not keep its pass (where
      // the thread runs, the scheduler) from running. Other work is seen at the next turn
      // of the spin that finds the lane empty.
      if (++lane_calls == 64) return;
      expiry = next_expiry();
      spin_until = std::min(Clock::now() + options_.spin, expiry);
      continue;
    }
    if (has_work()) {
      kicked_.store(false, std::memory_order_relaxed);
      return;
    }
    cpu_relax();
    if ((i & 63) == 63) {
      if (Clock::now() >= spin_until) break;
      // A thread that polls for long (a large spin) must not hold up RCU grace periods.
      if ((i & 4095) == 4095) rcu::quiescent_state();
    }
  }
  const auto now = Clock::now();
  if (expiry <= now) return;  // a timer is due: back to the loop
  shared_.mode.store(kSleeping, std::memory_order_relaxed);
  internal::full_fence();
  if (!has_work()) {
    stats_.sleeps.fetch_add(1, std::memory_order_relaxed);
    timespec timeout{};
    const bool timed = expiry != Clock::time_point::max();
    if (timed) {
      const auto wait = expiry - now;
      timeout.tv_sec = static_cast<time_t>(wait.count() / 1'000'000'000);
      timeout.tv_nsec = static_cast<long>(wait.count() % 1'000'000'000);
    }
    rcu::thread_offline();
    internal::futex_wait(&shared_.mode, kSleeping, timed ? &timeout : nullptr);
    rcu::thread_online();
  }
  shared_.mode.store(kPolling, std::memory_order_relaxed);
  kicked_.store(false, std::memory_order_relaxed);
}

// The kernel moves a thread off a CPU that goes offline (and widens its affinity); the
// thread notices it is elsewhere and reports it once, so hotplug can reconcile.
void CpuThread::check_placement() {
  if (sched_getcpu() == cpu_) {
    reported_migration_ = false;
    return;
  }
  if (reported_migration_) return;
  reported_migration_ = true;
  stats_.migrations.fetch_add(1, std::memory_order_relaxed);
  if (options_.on_migrated) options_.on_migrated(cpu_);
}

void CpuThread::main() {
  base::lock_validator::cpu_thread_enter();  // before the call signal can run a handler here
  tls_current = this;
  internal::tls_current_cpu = cpu_;
  assert_owner();
  tid_.store(static_cast<pid_t>(syscall(SYS_gettid)));
  rcu::register_thread();
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = call_signal();
  sev._sigev_un._tid = tid_.load();
  busy_timer_created_ = timer_create(CLOCK_MONOTONIC, &sev, &busy_timer_) == 0;
  if (!busy_timer_created_) stats_.timer_errors.fetch_add(1, std::memory_order_relaxed);
  if (state() == CpuState::kStarting) {
    stats_.last_pin = pin_offline(cpu_);
    set_state(stats_.last_pin.error == 0 ? CpuState::kRunning : CpuState::kParked);
  }
  while (true) {
    const CpuState s = state();
    if (s == CpuState::kParking || s == CpuState::kStopping) {
      leave_busy();
      // Callers in the middle of queueing finish, and their calls run. A lane caller is done
      // with the thread only once it freed the lane (after its delivery and its read-back),
      // so the thread parks or stops only then: no signal of its reaches a parked thread,
      // and nothing of it touches a thread that is gone. One that claims the lane from here
      // on is refused, and frees it at once.
      while (shared_.entering.load() != 0) cpu_relax();
      drain_calls();
      while (lane_.state.load() != kLaneFree) {
        drain_calls();
        cpu_relax();
      }
      if (s == CpuState::kStopping) break;
      set_state(CpuState::kParked);
      continue;
    }
    if (s == CpuState::kParked) {
      rcu::thread_offline();
      wait_state_not(CpuState::kParked);
      rcu::thread_online();
      continue;
    }
    if (s == CpuState::kUnparking) {
      stats_.last_pin = pin_offline(cpu_);
      const bool ok = stats_.last_pin.error == 0 && sched_getcpu() == cpu_;
      if (ok) reported_migration_ = false;
      set_state(ok ? CpuState::kRunning : CpuState::kParked);
      continue;
    }
    bool worked = false;
    if (!queue_empty()) {
      drain_calls();
      worked = true;
    }
    if (options_.scheduler && options_.scheduler(*this)) worked = true;
    if (!timers_.empty() && loop_checks_timers()) run_timers();
    check_placement();
    rcu::quiescent_state();
    if (!worked) {
      leave_busy();
      idle_wait();
    }
  }
  {
    IrqGuard irqs_off;
    timers_.clear();
  }
  if (busy_timer_created_) timer_delete(busy_timer_);
  rcu::unregister_thread();
  base::lock_validator::cpu_thread_exit();
  tls_current = nullptr;
  internal::tls_current_cpu = -1;
  set_state(CpuState::kStopped);
}

}  // namespace pctx::cpu

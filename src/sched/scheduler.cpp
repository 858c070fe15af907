#include "pctx/sched/scheduler.hpp"
#include "pctx/base/errno_text.hpp"

#include <fmt/format.h>
#include <boost/intrusive/list.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>

#include "cpu/tsan.hpp"
#include "pctx/base/lock_validator.hpp"
#include "pctx/cpu/cross_call.hpp"
#include "pctx/cpu/hotplug.hpp"
#include "pctx/cpu/rcu.hpp"
#include "pctx/cpu/relax.hpp"
#include "sched/fiber_switch.hpp"
#include "sched/run_queue.hpp"

namespace pctx::sched {

namespace {

constexpr const char* kHotplugStep = "sched";
std::atomic<Scheduler*> g_scheduler{nullptr};

using Clock = std::chrono::steady_clock;

// Counts a caller in while it may still touch the scheduler (see in_flight_).
class InFlight {
 public:
  explicit InFlight(std::atomic<int>& n) : n_(n) { n_.fetch_add(1, std::memory_order_seq_cst); }
  ~InFlight() { n_.fetch_sub(1, std::memory_order_release); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::atomic<int>& n_;
};

// The kernel's limit on a process's memory mappings, for the message of a failed spawn.
std::string max_map_count() {
  std::ifstream in("/proc/sys/vm/max_map_count");
  long n = 0;
  return in >> n ? fmt::format("{}", n) : std::string("(unknown)");
}

}  // namespace

Scheduler* Scheduler::current() {
  return g_scheduler.load(std::memory_order_acquire);
}

cpu::SchedulerHook Scheduler::hook() {
  return [](cpu::CpuThread& thread) {
    Scheduler* s = g_scheduler.load(std::memory_order_acquire);
    if (s == nullptr) return false;
    const bool worked = s->run(thread);
    cpu::internal::tsan_release(s);  // pairs with the destructor's acquire, after the grace period
    return worked;
  };
}

struct Scheduler::NewTasks {
  using Node = TaskAccess::Node;
  using List = boost::intrusive::list<
      Node,
      boost::intrusive::member_hook<Node, boost::intrusive::list_member_hook<>, &Node::new_hook>>;
  base::Mutex mutex{"sched.scheduler.new_tasks_mutex"};
  List list PCTX_GUARDED_BY(mutex);
  ~NewTasks() { list.clear(); }  // unlinks whatever a failed start left
};

Scheduler::Scheduler(cpu::CpuRuntime& runtime, core::PerfCore& core, SchedOptions options)
    : runtime_(runtime), core_(core), options_(options), new_tasks_(std::make_unique<NewTasks>()) {}

base::Result<std::unique_ptr<Scheduler>> Scheduler::start(cpu::CpuRuntime& runtime,
                                                          core::PerfCore* core,
                                                          SchedOptions options) {
  if (core == nullptr) return base::make_error(-EINVAL, "the scheduler needs a perf core");
  std::unique_ptr<Scheduler> s(new Scheduler(runtime, *core, options));
  const int max_cpu = runtime.cpus().empty() ? 0 : runtime.cpus().last() + 1;
  s->rqs_.resize(static_cast<size_t>(max_cpu));
  for (int c : runtime.cpus().cpus()) {
    auto rq = std::make_unique<RunQueue>(c, runtime.thread(c));
    rq->accepting.store(runtime.thread(c)->state() == cpu::CpuState::kRunning);
    s->rqs_[static_cast<size_t>(c)] = std::move(rq);
  }
  Scheduler* expected = nullptr;
  if (!g_scheduler.compare_exchange_strong(expected, s.get())) {
    return base::make_error(-EBUSY, "a scheduler already runs in this process; stop it first");
  }
  s->started_ = true;
  // The stage after the perf core's, so a CPU going down moves its tasks away before its
  // contexts are scheduled out, and gets them only after the contexts are back.
  Scheduler* self = s.get();
  auto st = runtime.hotplug().add_step({cpu::HotplugStage::kScheduler, kHotplugStep,
                                        [self](int c) { return self->cpu_bringup(c); },
                                        [self](int c) { return self->cpu_teardown(c); }});
  if (!st) return st.error();
  s->hotplug_step_ = true;
  return s;
}

Scheduler::~Scheduler() {
  if (!started_) return;  // lost the race to another scheduler: nothing of ours runs
  // Tasks that run may still spawn tasks they never wake, or be woken by a cancellation
  // (a join of a cancelled task): cancel again until every task has exited.
  // A thread that woke the last task may still be finishing its wake: waited for as well.
  while (true) {
    cancel_new_tasks();
    if (live_.load() == 0 && in_flight_.load(std::memory_order_acquire) == 0) break;
    base::lock_validator::might_block(base::lock_validator::Blocking::kSleep);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (hotplug_step_) runtime_.hotplug().remove_step(cpu::HotplugStage::kScheduler);
  for (auto& rq : rqs_) {
    if (!rq) continue;
    // Timers are cancelled on their own CPU; a parked CPU cancelled them when it drained.
    cpu::cpu_function_call(rq->cpu, [&] {
      rq->thread->cancel_timer(rq->tick);
      rq->thread->cancel_timer(rq->wakeup);
      return 0;
    });
  }
  g_scheduler.store(nullptr);
  // Every CPU thread passes a quiescent state outside its hook, so after this no hook
  // still runs on this scheduler.
  cpu::rcu::synchronize();
  cpu::internal::tsan_acquire(this);
}

RunQueue* Scheduler::rq(int c) const {
  if (c < 0 || static_cast<size_t>(c) >= rqs_.size()) return nullptr;
  return rqs_[static_cast<size_t>(c)].get();
}

base::Result<TaskRef> Scheduler::spawn(std::function<void()> fn, SpawnOptions options) {
  Task* task = nullptr;
  try {
    cpu::CpuSet affinity =
        options.affinity.empty() ? runtime_.cpus() : (options.affinity & runtime_.cpus());
    if (affinity.empty()) {
      return base::make_error(
          -EINVAL, fmt::format("affinity {} has no CPU of this runtime ({})",
                               options.affinity.to_string(), runtime_.cpus().to_string()));
    }
    if (options.stack_size < kMinStackSize) {
      return base::make_error(-EINVAL, fmt::format("a task's stack must be at least {} KiB, not "
                                                   "{} bytes",
                                                   kMinStackSize / 1024, options.stack_size));
    }
    const uint64_t id = next_id_.fetch_add(1);
    std::string name = options.name.empty() ? fmt::format("task-{}", id) : options.name;
    task = new TaskAccess::Node(*this, id, std::move(name), std::move(affinity), std::move(fn));
  } catch (const std::bad_alloc&) {
    return base::make_error_nothrow(-ENOMEM, [&] {
      return fmt::format("out of memory creating a task ({} tasks live); lower the number of tasks",
                         live_.load());
    });
  }
  if (int err = TaskAccess::allocate_stack(*task, options.stack_size); err != 0) {
    task->put();
    const size_t live = live_.load();
    return base::make_error_nothrow(err, [&] {
      return fmt::format(
          "cannot map a {} KiB stack for a task ({} tasks live, {} MiB of stacks "
          "mapped): {}; lower the stack size or the number of tasks (each stack "
          "takes 2 of the {} memory mappings vm.max_map_count allows a process)",
          options.stack_size / 1024, live, live * (options.stack_size / 1024) / 1024,
          base::errno_text(-err), max_map_count());
    });
  }
  live_.fetch_add(1);
  task->get();  // the scheduler's reference, dropped when the task has exited
  TaskRef ref(task);
  if (options.start) {
    if (int err = wake(*task); err != 0) {
      // Never placed, so it never runs: undo what counts it as live.
      live_.fetch_sub(1);
      task->put();
      return base::make_error(err,
                              "no CPU of this runtime takes tasks now (all offline?); "
                              "bring one up with `pctx hotplug up`");
    }
  } else {
    base::MutexLock lock(new_tasks_->mutex);
    new_tasks_->list.push_back(TaskAccess::node(*task));
  }
  return ref;
}

int Scheduler::wake(Task& task) {
  InFlight in(in_flight_);
  if (!TaskAccess::cas_state(task, TaskState::kNew, TaskState::kRunnable)) return -EINVAL;
  // Off the list of new tasks before it can run (and exit, and be freed).
  bool listed = false;
  {
    base::MutexLock lock(new_tasks_->mutex);
    if (TaskAccess::node(task).new_hook.is_linked()) {
      new_tasks_->list.erase(new_tasks_->list.iterator_to(TaskAccess::node(task)));
      listed = true;
    }
  }
  const int err = enqueue(task, -1);
  if (err != 0) {
    // Not placed: it is new again, so a later wake places it or the destructor cancels it.
    base::MutexLock lock(new_tasks_->mutex);
    TaskAccess::set_state(task, TaskState::kNew);
    if (listed) new_tasks_->list.push_back(TaskAccess::node(task));
  }
  return err;
}

// Every task never woken is cancelled: it never runs, its context is torn down as at an
// exit (here, on a thread that may wait on the context's mutex), its stack is unmapped
// without entering it, and whoever joins it is woken.
void Scheduler::cancel_new_tasks() {
  while (true) {
    Task* task = nullptr;
    {
      base::MutexLock lock(new_tasks_->mutex);
      // A listed task that is no longer New is being woken right now: its wake unlists
      // it, or makes it New again, and a later pass cancels it.
      for (TaskAccess::Node& t : new_tasks_->list) {
        if (TaskAccess::cas_state(t, TaskState::kNew, TaskState::kDead)) {
          task = &t;
          break;
        }
      }
      if (task == nullptr) return;
      new_tasks_->list.erase(new_tasks_->list.iterator_to(TaskAccess::node(*task)));
    }
    TaskAccess::set_cancelled(*task);
    core_.exit_task(*task);
    TaskAccess::drop_function(*task);  // what the function captured is released here
    TaskAccess::release_stack(*task);
    task_exited(*task);
  }
}

int Scheduler::select_cpu(Task& task, int avoid) {
  const cpu::CpuSet affinity = task.affinity();
  const int last = task.cpu();
  // A woken task goes back to its last CPU when that one is idle and allowed (warm caches).
  if (last >= 0 && last != avoid && affinity.test(last)) {
    RunQueue* q = rq(last);
    if (q != nullptr && q->accepting.load() && q->nr_tasks.load() == 0) return last;
  }
  int best = -1;
  int best_load = 0;
  for (int c : affinity.cpus()) {
    RunQueue* q = rq(c);
    if (c == avoid || q == nullptr || !q->accepting.load()) continue;
    const int load = q->nr_tasks.load(std::memory_order_relaxed);
    if (best < 0 || load < best_load) {
      best = c;
      best_load = load;
    }
  }
  // `avoid` is a preference: when it is the only allowed CPU that takes tasks (the one the
  // task wanted went offline again before it could move), the task stays where it is
  // rather than being lost.
  if (best < 0 && avoid >= 0 && affinity.test(avoid)) {
    RunQueue* q = rq(avoid);
    if (q != nullptr && q->accepting.load()) return avoid;
  }
  return best;
}

int Scheduler::enqueue(Task& task, int avoid) {
  for (int attempt = 0;; ++attempt) {
    const int c = select_cpu(task, avoid);
    if (c < 0) {
      if (attempt > 1000) return -EAGAIN;  // no CPU takes tasks at all
      if (!(task.affinity() == runtime_.cpus()))
        widen(task, avoid);
      else
        std::this_thread::yield();  // a CPU of ours is coming up or going down
      continue;
    }
    if (rq(c)->push(task) == 0) {
      if (cpu::current_cpu() != c) stats_.remote_wakes.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
  }
}

void Scheduler::widen(Task& task, int from_cpu) {
  AffinityWidened w{task.id(), task.name(), {}, from_cpu, -1};
  w.old_affinity = TaskAccess::widen_affinity(task, runtime_.cpus());
  std::function<void(const AffinityWidened&)> callback;
  {
    base::MutexLock lock(log_mutex_);
    widenings_.push_back(w);
    task.get();
    widened_tasks_.emplace_back(&task);  // until a CPU it asked for comes back
    callback = on_widened_;
  }
  if (callback) callback(w);
}

// A CPU came back: every widened task that asked for it gets its requested affinity
// again, and its CPU is asked to look at it, so it moves at its next switch.
void Scheduler::restore_affinities(int c) {
  std::vector<TaskRef> due;
  {
    base::MutexLock lock(log_mutex_);
    std::erase_if(widened_tasks_, [&](TaskRef& t) {
      if (t->done() || !TaskAccess::widened(*t)) return true;  // gone, or set since
      if (!t->requested_affinity().test(c)) return false;
      due.push_back(std::move(t));
      return true;
    });
  }
  for (TaskRef& t : due) {
    AffinityRestored r{t->id(), t->name(), {}, c};
    r.affinity = TaskAccess::restore_affinity(*t, runtime_.cpus());
    if (RunQueue* q = rq(t->cpu())) {
      q->need_resched.store(true);
      q->thread->notify();
    }
    std::function<void(const AffinityRestored&)> callback;
    {
      base::MutexLock lock(log_mutex_);
      restorations_.push_back(r);
      callback = on_restored_;
    }
    if (callback) callback(r);
  }
}

void Scheduler::make_runnable(Task& task) {
  InFlight in(in_flight_);
  // Still switching out: its own CPU requeues it once the switch is complete.
  if (TaskAccess::cas_state(task, TaskState::kBlocking, TaskState::kWoken)) return;
  if (TaskAccess::cas_state(task, TaskState::kBlocked, TaskState::kRunnable)) enqueue(task, -1);
}

int Scheduler::set_affinity(Task& task, const cpu::CpuSet& cpus) {
  InFlight in(in_flight_);
  const cpu::CpuSet allowed = cpus & runtime_.cpus();
  if (allowed.empty()) return -EINVAL;
  TaskAccess::set_affinity(task, allowed);
  if (current_task() == &task) {
    if (!allowed.test(task.cpu())) TaskAccess::suspend(task, SwitchReason::kMigrate);
    return 0;
  }
  // Wherever it waits, its CPU looks at it again at its next switch; ask for one.
  if (RunQueue* q = rq(task.cpu())) {
    q->need_resched.store(true);
    q->thread->notify();
  }
  return 0;
}

size_t Scheduler::live_tasks() const {
  return live_.load();
}

int Scheduler::tasks_on(int c) const {
  RunQueue* q = rq(c);
  return q != nullptr ? q->nr_tasks.load() : 0;
}

std::vector<AffinityWidened> Scheduler::widenings() const {
  base::MutexLock lock(log_mutex_);
  return widenings_;
}

void Scheduler::on_affinity_widened(std::function<void(const AffinityWidened&)> callback) {
  base::MutexLock lock(log_mutex_);
  on_widened_ = std::move(callback);
}

std::vector<AffinityRestored> Scheduler::restorations() const {
  base::MutexLock lock(log_mutex_);
  return restorations_;
}

void Scheduler::on_affinity_restored(std::function<void(const AffinityRestored&)> callback) {
  base::MutexLock lock(log_mutex_);
  on_restored_ = std::move(callback);
}

std::vector<DrainTimedOut> Scheduler::drain_timeouts() const {
  base::MutexLock lock(log_mutex_);
  return drain_timeouts_;
}

void Scheduler::on_drain_timeout(std::function<void(const DrainTimedOut&)> callback) {
  base::MutexLock lock(log_mutex_);
  on_drain_timeout_ = std::move(callback);
}

std::vector<std::chrono::nanoseconds> Scheduler::rebalance_delays() const {
  base::MutexLock lock(log_mutex_);
  return rebalance_delays_;
}

namespace {

uint64_t sum_of(const std::vector<std::unique_ptr<RunQueue>>& rqs,
                std::atomic<uint64_t> RunQueue::*counter) {
  uint64_t n = 0;
  for (const auto& q : rqs) {
    if (q) n += ((*q).*counter).load(std::memory_order_relaxed);
  }
  return n;
}

}  // namespace

uint64_t Scheduler::switches() const {
  return sum_of(rqs_, &RunQueue::switches);
}

uint64_t Scheduler::direct_switches() const {
  return sum_of(rqs_, &RunQueue::direct_switches);
}

void Scheduler::task_exited(Task& task) {
  // Uncounted before it is done, so that a join that returned never sees it still live.
  live_.fetch_sub(1);
  TaskAccess::mark_done(task);
  task.put();  // the scheduler's reference
}

int Scheduler::cpu_bringup(int c) {
  RunQueue* q = rq(c);
  if (q == nullptr) return 0;
  q->drained.store(false);
  q->draining.store(false);
  q->online_at_ns.store(ns_since_epoch(Clock::now()));
  q->accepting.store(true);
  restore_affinities(c);
  return 0;
}

int Scheduler::cpu_teardown(int c) {
  RunQueue* q = rq(c);
  if (q == nullptr) return 0;
  q->accepting.store(false, std::memory_order_seq_cst);
  while (q->entering.load(std::memory_order_seq_cst) != 0) cpu::cpu_relax();
  q->drained.store(false);
  q->draining.store(true);
  q->need_resched.store(true);
  q->thread->notify();
  const auto deadline = Clock::now() + options_.drain_timeout;
  while (!q->drained.load() || q->nr_tasks.load() != 0) {
    if (Clock::now() > deadline) {
      DrainTimedOut d{c, q->nr_tasks.load(), options_.drain_timeout, {}};
      d.message = fmt::format(
          "cpu{}: {} task(s) did not reach a preemption point within {} ms; they stay on the "
          "CPU until it returns (call this_task::cond_resched in long loops)",
          c, d.tasks, d.timeout.count());
      std::function<void(const DrainTimedOut&)> callback;
      {
        base::MutexLock lock(log_mutex_);
        drain_timeouts_.push_back(d);
        callback = on_drain_timeout_;
      }
      if (callback) callback(d);
      return -EBUSY;
    }
    base::lock_validator::might_block(base::lock_validator::Blocking::kSleep);
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return 0;
}

}  // namespace pctx::sched

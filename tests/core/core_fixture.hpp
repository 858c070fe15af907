// A CPU runtime with a perf core and a tsc PMU of 4 counters, plus helpers to build groups
// and to run the switch hooks on a CPU thread.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <vector>

// White-box: the core's tests look inside contexts and events (internal headers).
#include "core/context.hpp"
#include "core/event.hpp"
#include "pctx/core/perf_core.hpp"
#include "pctx/core/tsc_pmu.hpp"
#include "pctx/cpu/cross_call.hpp"

namespace pctx::core::testing {

// A software PMU for tests: never out of counters, counts its own add/del calls. Its
// add, del and read run in a pass, with the event's context lock held (pmu.hpp).
class CountingSoftPmu : public Pmu {
 public:
  std::string name() const override { return "test-soft"; }
  int counters() const override { return kUnlimited; }
  int init(PmuEvent&) override { return 0; }
  int add(PmuEvent& e) override {
    e.hw_prev = read_tsc();
    return 0;
  }
  void del(PmuEvent& e) override { read(e); }
  void read(PmuEvent& e) override {
    const uint64_t now = read_tsc();
    e.count += now - e.hw_prev;
    e.hw_prev = now;
  }
};

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cpu::RuntimeOptions options;
    options.watch_hotplug = false;
    options.thread.scheduler = [this](cpu::CpuThread& t) { return scheduler_hook(t); };
    auto rt = cpu::CpuRuntime::start(options);
    ASSERT_TRUE(rt) << rt.error().message;
    runtime_ = std::move(*rt);
    auto core = PerfCore::start(*runtime_);
    ASSERT_TRUE(core) << core.error().message;
    core_ = std::move(*core);
    core_->register_pmu(tsc_);
    core_->register_pmu(soft_);
    cpu_ = runtime_->running_cpus().last();
    other_ = runtime_->running_cpus().first();
  }

  void TearDown() override {
    if (core_) {
      EXPECT_EQ(core_->check_invariants(task_contexts_), "");
      for (auto* e : owned_) {
        if (e->ctx != nullptr) {
          EXPECT_EQ(core_->remove(e), 0);
        }
      }
      for (auto it = owned_.rbegin(); it != owned_.rend(); ++it) (*it)->put();
      for (Task* t : tasks_) core_->exit_task(*t);  // drops the task's context reference
    }
    context_refs_.clear();
    owned_.clear();
    core_.reset();
    runtime_.reset();
  }

  virtual bool scheduler_hook(cpu::CpuThread&) { return false; }

  // A group of `size` events on `pmu` (tsc by default), owned by the fixture.
  Event* group(int size, bool pinned = false, Pmu* pmu = nullptr, bool disabled = false) {
    EventAttr attr;
    attr.pmu = pmu != nullptr ? pmu : &tsc_;
    attr.pinned = pinned;
    attr.disabled = disabled;
    auto leader = core_->create_event(attr);
    EXPECT_TRUE(leader) << leader.error().message;
    EventAttr sib;
    sib.pmu = attr.pmu;
    for (int i = 1; i < size; ++i) {
      auto s = core_->create_event(sib, *leader);
      EXPECT_TRUE(s) << s.error().message;
    }
    owned_.push_back(*leader);
    return *leader;
  }

  // Runs fn on a CPU thread, as the scheduler there would.
  template <class F>
  void on_cpu(int cpu, F&& fn) {
    ASSERT_EQ(cpu::cpu_function_call(cpu,
                                     [&] {
                                       fn();
                                       return 0;
                                     }),
              0);
  }
  void switch_in(int cpu, Task* t) {
    on_cpu(cpu, [&] { core_->sched_in(t); });
  }
  void switch_out(int cpu, Task* t) {
    on_cpu(cpu, [&] { core_->sched_out(t, nullptr); });
  }

  // The task's context; the fixture keeps a reference until its tasks have exited.
  Context* task_ctx(Task& t) {
    auto ref = core_->task_context(t);
    EXPECT_TRUE(ref) << ref.error().message;
    if (!ref) return nullptr;
    Context* c = ref->get();
    if (std::find(task_contexts_.begin(), task_contexts_.end(), c) == task_contexts_.end()) {
      task_contexts_.push_back(c);
      tasks_.push_back(&t);
      context_refs_.push_back(std::move(*ref));
    }
    return c;
  }

  bool active(Event* leader) { return leader->peek_state() == EventState::kActive; }

  // Tasks live as long as the fixture, which exits them at the end.
  Task& new_task() { return tasks_storage_.emplace_back(); }

  std::unique_ptr<cpu::CpuRuntime> runtime_;
  std::unique_ptr<PerfCore> core_;
  TscPmu tsc_{4};
  CountingSoftPmu soft_;
  int cpu_ = -1, other_ = -1;
  std::vector<Event*> owned_;
  std::vector<Context*> task_contexts_;
  std::vector<ContextRef> context_refs_;
  std::vector<Task*> tasks_;
  std::deque<Task> tasks_storage_;
};

}  // namespace pctx::core::testing

// The threads of a torture run: installers, the hotplug driver, the checker and the
// watchdog. Each records what goes wrong as a violation and carries on.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "pctx/base/errno_text.hpp"
#include "pctx/cpu/cpu_thread.hpp"
#include "pctx/cpu/hotplug.hpp"
#include "pctx/cpu/hotplug_journal.hpp"
#include "pctx/cpu/sysfs.hpp"
#include "tools/torture_rig.hpp"

namespace pctx::tools::torture {

namespace {

using namespace std::chrono_literals;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

template <class F>
bool eventually(F&& condition, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (!condition()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

void sleep_ms(double ms) {
  std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms));
}

std::optional<ExtraGroup> take_extra(Rig& rig, std::mt19937_64& rng) {
  base::MutexLock lock(rig.extras_mutex);
  if (rig.extras.empty()) return std::nullopt;
  const size_t i = rng() % rig.extras.size();
  ExtraGroup g = rig.extras[i];
  rig.extras[i] = rig.extras.back();
  rig.extras.pop_back();
  return g;
}

void give_back(Rig& rig, ExtraGroup g) {
  base::MutexLock lock(rig.extras_mutex);
  rig.extras.push_back(g);
}

void check_reading(Rig& rig, const core::Reading& r, const char* what) {
  if (r.time_enabled < r.time_running) {
    rig.violate(
        -1, "enabled < running",
        fmt::format("{}: enabled {} ns, running {} ns", what, r.time_enabled, r.time_running));
  }
}

// Installs a new group into a random task's context or CPU's context.
void install_one(Rig& rig, std::mt19937_64& rng, WatchSlot& slot) {
  {
    base::MutexLock lock(rig.extras_mutex);
    if (rig.extras.size() >= 48) return;
  }
  const bool into_cpu = rng() % 10 < 3;
  const int cpu = into_cpu ? rig.managed.cpus()[rng() % rig.managed.count()] : -1;
  core::Event* leader = nullptr;
  // CPU contexts get software groups only: their flexible groups go on before the tasks'
  // and would take the tasks' capped tsc counters (the kernel's priority order).
  if (into_cpu || rng() % 3 == 0) {
    leader =
        rig.make_event(rig.software.get(), core::PerfSoftwarePmu::config_of("task-clock").value());
  } else {
    leader = rig.make_event(rig.tsc.get(), 0, rng() % 10 == 0);
  }
  if (leader == nullptr) return;
  core::Event* sibling = nullptr;
  if (rng() % 2 == 0) {  // with a software sibling, sometimes disabled
    core::EventAttr attr;
    attr.pmu = rig.software.get();
    attr.config = core::PerfSoftwarePmu::config_of("context-switches").value();
    attr.disabled = rng() % 4 == 0;
    auto s = rig.core->create_event(attr, leader);
    if (!s) rig.violate(-1, "create_event", s.error().message);
    sibling = s ? *s : nullptr;
  }
  core::Context* ctx = nullptr;
  if (into_cpu) {
    ctx = rig.core->cpu_context(cpu);
  } else {
    ctx = rig.tasks[rng() % rig.tasks.size()]->ctx.get();
  }
  int rc;
  {
    WatchScope w(slot, "install", cpu);
    rc = rig.core->install(ctx, leader);
  }
  if (rc == 0) {
    give_back(rig, {leader, sibling, cpu});
    return;
  }
  if (rc != -ESRCH) {  // -ESRCH: the task has exited meanwhile
    rig.violate(cpu, "install", fmt::format("install returned {} ({})", rc, base::errno_text(-rc)));
  }
  core::put_event(leader);
}

void remove_one(Rig& rig, std::mt19937_64& rng, WatchSlot& slot) {
  auto g = take_extra(rig, rng);
  if (!g) return;
  int rc;
  {
    WatchScope w(slot, "remove", g->cpu);
    rc = rig.core->remove(g->leader);
  }
  if (rc != 0) rig.violate(g->cpu, "remove", fmt::format("remove returned {}", rc));
  core::put_event(g->leader);
}

void toggle_one(Rig& rig, std::mt19937_64& rng, WatchSlot& slot) {
  auto g = take_extra(rig, rng);
  if (!g) return;
  core::Event* e = g->sibling != nullptr && rng() % 2 == 0 ? g->sibling : g->leader;
  const bool enable = rng() % 2 == 0;
  int rc;
  {
    WatchScope w(slot, enable ? "enable" : "disable", g->cpu);
    rc = enable ? rig.core->enable(e) : rig.core->disable(e);
  }
  if (rc != 0) rig.violate(g->cpu, "enable/disable", fmt::format("returned {}", rc));
  give_back(rig, *g);
}

void read_one(Rig& rig, std::mt19937_64& rng, WatchSlot& slot) {
  if (rng() % 2 == 0) {
    auto g = take_extra(rig, rng);
    if (!g) return;
    {
      WatchScope w(slot, "read_group", g->cpu);
      const core::GroupReading gr = rig.core->read_group(g->leader);
      if (gr.time_enabled < gr.time_running) {
        rig.violate(g->cpu, "enabled < running", "a group read");
      }
    }
    give_back(rig, *g);
    return;
  }
  const auto& t = *rig.tasks[rng() % rig.tasks.size()];
  WatchScope w(slot, "read", -1);
  for (core::Event* e : t.all()) check_reading(rig, rig.core->read(e), "a task event");
}

}  // namespace

WatchScope::WatchScope(WatchSlot& slot, const char* what, int cpu) : slot_(slot) {
  slot_.what.store(what);
  slot_.cpu.store(cpu);
  slot_.since_ns.store(now_ns());
}

WatchScope::~WatchScope() {
  slot_.since_ns.store(0);
}

std::vector<core::Event*> CountedTask::all() const {
  std::vector<core::Event*> out{reference};
  out.insert(out.end(), flexible.begin(), flexible.end());
  out.push_back(software);
  if (hardware != nullptr) out.push_back(hardware);
  return out;
}

core::Event* Rig::make_event(core::Pmu* pmu, uint64_t config, bool pinned) {
  core::EventAttr attr;
  attr.pmu = pmu;
  attr.config = config;
  attr.pinned = pinned;
  auto e = core->create_event(attr);
  if (!e) {
    violate(-1, "create_event", e.error().message);
    return nullptr;
  }
  return *e;
}

void installer_thread(Rig& rig, int id, WatchSlot& slot) {
  std::mt19937_64 rng(rig.options.seed * 7919 + static_cast<uint64_t>(id));
  while (!rig.halt.load()) {
    const auto roll = rng() % 100;
    if (roll < 30) {
      install_one(rig, rng, slot);
    } else if (roll < 50) {
      remove_one(rig, rng, slot);
    } else if (roll < 75) {
      toggle_one(rig, rng, slot);
    } else {
      read_one(rig, rng, slot);
    }
    rig.report.operations.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));
  }
}

namespace {

// One offline or online, through pctx or behind its back; for the latter, the time until
// pctx has followed (its hotplug steps ran) is the uevent delay.
base::Status hotplug_op(Rig& rig, int c, bool online, WatchSlot& slot,
                        std::chrono::nanoseconds* took) {
  auto& hp = rig.runtime->hotplug();
  WatchScope w(slot, online ? "online" : "offline", c);
  const auto t0 = Clock::now();
  if (!rig.options.external) {
    auto st = online ? hp.cpu_up(c) : hp.cpu_down(c);
    *took = Clock::now() - t0;
    return st;
  }
  auto st = cpu::write_cpu_online(c, online);
  *took = Clock::now() - t0;
  if (!st) return st;
  const auto written = Clock::now();
  const bool followed =
      eventually([&] { return hp.online().test(c) == online; },
                 std::chrono::milliseconds(static_cast<int64_t>(rig.options.deadline_s * 1000)));
  if (!followed) {
    rig.violate(c, "not followed",
                fmt::format("pctx did not follow an outside {} within {:.0f} s",
                            online ? "online" : "offline", rig.options.deadline_s));
    return base::Ok{};
  }
  base::MutexLock lock(rig.report.mutex);
  rig.report.uevent_delay_ns.push_back(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - written).count());
  return base::Ok{};
}

uint64_t cpu_tsc_count(Rig& rig, int c) {
  return rig.core->read(rig.cpu_events[static_cast<size_t>(c)][0]).count;
}

}  // namespace

void hotplug_thread(Rig& rig, WatchSlot& slot) {
  std::mt19937_64 rng(rig.options.seed ^ 0x9e3779b97f4a7c15ull);
  auto& report = rig.report;
  while (!rig.halt.load()) {
    if (rig.options.cycles != 0 && report.cycles.load() >= rig.options.cycles) break;
    std::vector<int> up;
    for (int c : rig.victims.cpus()) {
      if (cpu::cpu_is_online(c)) up.push_back(c);
    }
    if (up.empty() || cpu::online_cpus().count() < 2) {  // someone else took them
      sleep_ms(std::max(rig.options.interval_ms, 1.0));
      continue;
    }
    const int c = up[rng() % up.size()];
    const uint64_t before = cpu_tsc_count(rig, c);
    std::chrono::nanoseconds took{};
    auto st = hotplug_op(rig, c, false, slot, &took);
    {
      base::MutexLock lock(report.mutex);
      if (st) {
        report.offline.success(took);
      } else {
        report.offline.failure(st.error().code);
      }
    }
    if (!st) {
      sleep_ms(rig.options.interval_ms);
      continue;
    }
    const auto down_at = Clock::now();
    const uint64_t kept = cpu_tsc_count(rig, c);
    if (kept < before) {
      rig.violate(c, "cpu event lost counts",
                  fmt::format("count {} before offline, {} after", before, kept));
    }
    sleep_ms(rig.options.interval_ms);
    // Online, retried: the CPU must come back whatever happens.
    bool back = false;
    for (int attempt = 0; attempt < 50 && !back; ++attempt) {
      st = hotplug_op(rig, c, true, slot, &took);
      base::MutexLock lock(report.mutex);
      if (st) {
        report.online.success(took);
        back = true;
      } else {
        report.online.failure(st.error().code);
      }
      if (!back) sleep_ms(20);
    }
    if (!back) {
      rig.violate(c, "stuck offline", "50 attempts to bring it back failed: " + st.error().message);
      continue;
    }
    {
      base::MutexLock lock(report.mutex);
      report.offline_ns[c] +=
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - down_at).count();
      ++report.cpu_cycles[c];
      const auto& pin = rig.runtime->thread(c)->stats().last_pin;
      if (pin.einval_window.count() > 0) {
        ++report.einval_count;
        report.einval_max_ns = std::max<int64_t>(report.einval_max_ns, pin.einval_window.count());
      }
    }
    report.cycles.fetch_add(1);
    // Its CPU-context events kept their count, and count again.
    const uint64_t after = cpu_tsc_count(rig, c);
    if (after < kept) {
      rig.violate(c, "cpu event lost counts",
                  fmt::format("count {} while offline, {} after online", kept, after));
    }
    // (Unless someone else took the CPU away again meanwhile.)
    auto& hp = rig.runtime->hotplug();
    if (!eventually([&] { return cpu_tsc_count(rig, c) > after || !hp.online().test(c); }, 2s)) {
      rig.violate(c, "cpu event frozen", "its tsc event did not count for 2 s after online");
    }
    sleep_ms(rig.options.interval_ms);
  }
}

void checker_thread(Rig& rig, WatchSlot& slot) {
  std::map<core::Event*, core::Reading> last;
  while (!rig.halt.load()) {
    {
      WatchScope w(slot, "check_invariants", -1);
      const std::string bad = rig.core->check_invariants(rig.task_contexts);
      if (!bad.empty()) rig.violate(-1, "invariant", bad.substr(0, bad.find('\n')));
    }
    std::vector<core::Event*> events;
    for (const auto& t : rig.tasks) {
      const auto all = t->all();
      events.insert(events.end(), all.begin(), all.end());
    }
    for (const auto& per_cpu : rig.cpu_events)
      events.insert(events.end(), per_cpu.begin(), per_cpu.end());
    WatchScope w(slot, "read", -1);
    for (core::Event* e : events) {
      const core::Reading r = rig.core->read(e);
      check_reading(rig, r, "an event");
      auto it = last.find(e);
      if (it != last.end()) {
        const core::Reading& p = it->second;
        if (r.count < p.count || r.time_enabled < p.time_enabled ||
            r.time_running < p.time_running) {
          rig.violate(-1, "decreased",
                      fmt::format("event {}: count {} -> {}, enabled {} -> {}, running {} -> {}",
                                  core::event_id(e), p.count, r.count, p.time_enabled,
                                  r.time_enabled, p.time_running, r.time_running));
        }
      }
      last[e] = r;
    }
    std::this_thread::sleep_for(50ms);
  }
}

// Past the deadline an operation is taken as hung: the report says where every CPU thread
// is, the CPUs come back, and the process ends, since the hung thread cannot be joined.
void watchdog_thread(Rig& rig) {
  const auto limit = static_cast<int64_t>(rig.options.deadline_s * 1e9);
  while (!rig.halt.load() || std::any_of(rig.slots.begin(), rig.slots.end(),
                                         [](auto& s) { return s->since_ns.load() != 0; })) {
    std::this_thread::sleep_for(100ms);
    const int64_t now = now_ns();
    for (const auto& s : rig.slots) {
      const int64_t since = s->since_ns.load();
      if (since == 0 || now - since < limit) continue;
      std::string where;
      for (int c : rig.managed.cpus()) {
        const cpu::CpuThread* t = rig.runtime->thread(c);
        where +=
            fmt::format("; cpu{}: {}, {} tasks, {} calls run", c,
                        t != nullptr ? cpu::to_string(t->state()) : "none",
                        rig.scheduler->tasks_on(c), t != nullptr ? t->stats().calls.load() : 0);
      }
      int listed = 0;
      for (const auto& t : rig.tasks) {
        if (t->task->done() || ++listed > 8) continue;
        where += fmt::format("; {} {} on cpu{}", t->task->name(),
                             sched::to_string(t->task->state()), t->task->cpu());
      }
      rig.violate(s->cpu.load(), "watchdog",
                  fmt::format("{} has not returned after {:.1f} s{}", s->what.load(),
                              static_cast<double>(now - since) / 1e9, where));
      rig.report.elapsed_s = rig.now_s();
      rig.report.print(stderr);
      if (!rig.options.json_path.empty()) {
        if (FILE* f = std::fopen(rig.options.json_path.c_str(), "w")) {
          fmt::print(f, "{}\n", rig.report.json().dump(2));
          std::fclose(f);
        }
      }
      cpu::exit_guard::restore_now();
      for (int c : rig.victims.cpus()) {  // also what --external took behind pctx's back
        if (!cpu::cpu_is_online(c)) (void)cpu::write_cpu_online(c, true);
      }
      std::_Exit(1);
    }
  }
}

}  // namespace pctx::tools::torture

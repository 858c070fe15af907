#include "cpu/hotplug_steps.hpp"

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

namespace pctx::cpu {

const char* to_string(HotplugStage stage) {
  switch (stage) {
    case HotplugStage::kCpuThread:
      return "cpu-thread";
    case HotplugStage::kPerfCore:
      return "perf-core";
    case HotplugStage::kScheduler:
      return "scheduler";
    case HotplugStage::kApplication:
      return "application";
  }
  return "?";
}

namespace internal {

base::Status insert_step(std::vector<HotplugStep>& steps, HotplugStep step) {
  auto at =
      std::lower_bound(steps.begin(), steps.end(), step.stage,
                       [](const HotplugStep& s, HotplugStage stage) { return s.stage < stage; });
  if (at != steps.end() && at->stage == step.stage) {
    return base::make_error(-EEXIST, fmt::format("hotplug stage '{}' has a step already ('{}'), "
                                                 "so '{}' cannot be added: one step per stage; "
                                                 "remove_step it first",
                                                 to_string(step.stage), at->name, step.name));
  }
  steps.insert(at, std::move(step));
  return base::Ok{};
}

int bring_up(const std::vector<HotplugStep>& steps, int cpu, size_t* done) {
  for (*done = 0; *done < steps.size(); ++*done) {
    if (!steps[*done].bringup) continue;
    if (int err = steps[*done].bringup(cpu)) return err;
  }
  return 0;
}

void tear_down(const std::vector<HotplugStep>& steps, int cpu, size_t from) {
  for (size_t i = from; i-- > 0;) {
    if (steps[i].teardown) steps[i].teardown(cpu);
  }
}

}  // namespace internal
}  // namespace pctx::cpu

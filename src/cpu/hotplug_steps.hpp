// The hotplug steps in stage order, and how they run: bringup from the first stage up,
// teardown from the last down. Hotplug keeps its steps in such a list; the functions are
// apart so that the order is tested without taking a CPU down.
#pragma once

#include <cstddef>
#include <vector>

#include "pctx/base/result.hpp"
#include "pctx/cpu/hotplug.hpp"

namespace pctx::cpu::internal {

// Inserts `step` at its stage's place; -EEXIST, with the step that holds the stage, when
// one does (nothing changed).
base::Status insert_step(std::vector<HotplugStep>& steps, HotplugStep step);

// Runs the bringup steps in order; stops at the first that fails and returns its -errno.
// `*done` is the number of steps that came up (the failed one's index on failure).
int bring_up(const std::vector<HotplugStep>& steps, int cpu, size_t* done);

// Runs the teardown steps of steps[0, from) in reverse order.
void tear_down(const std::vector<HotplugStep>& steps, int cpu, size_t from);

}  // namespace pctx::cpu::internal

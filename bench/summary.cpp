#include <algorithm>

#include "suites.hpp"

namespace pctx::bench {

void register_all_suites() {
  register_floor_suite();
  register_install_suite();
  register_read_suite();
  register_switch_suite();
}

CollectingReporter::CollectingReporter(std::ostream* json) {
  if (json != nullptr) {
    json_ = std::make_unique<benchmark::JSONReporter>();
    json_->SetOutputStream(json);
    json_->SetErrorStream(&discard_);
  }
}

bool CollectingReporter::ReportContext(const Context& context) {
  return json_ == nullptr || json_->ReportContext(context);
}

void CollectingReporter::ReportRuns(const std::vector<Run>& runs) {
  if (json_) json_->ReportRuns(runs);
  for (const auto& r : runs) {
    std::string name = r.benchmark_name();
    for (const char* suffix : {"/manual_time", "/real_time"}) {
      const auto at = name.find(suffix);
      if (at != std::string::npos) name.erase(at);
    }
    if (r.error_occurred) {
      errors_.push_back(name + ": " + r.error_message);
      continue;
    }
    if (r.run_type == Run::RT_Aggregate || r.iterations == 0) continue;
    // The fastest repetition: on a shared machine, noise only ever adds time.
    // Per operation: suites that time a batch per iteration say how many in `ops`.
    auto ops = r.counters.find("ops");
    const double per_iteration = ops == r.counters.end() ? 1.0 : ops->second.value;
    const double ns =
        r.real_accumulated_time / static_cast<double>(r.iterations) * 1e9 / per_iteration;
    auto it = ns_.find(name);
    ns_[name] = it == ns_.end() ? ns : std::min(it->second, ns);
  }
}

void CollectingReporter::Finalize() {
  if (json_) json_->Finalize();
}

std::vector<SummaryRow> summarize(const std::map<std::string, double>& ns) {
  auto get = [&](const std::string& name) -> std::optional<double> {
    auto it = ns.find(name);
    if (it == ns.end()) return std::nullopt;
    return it->second;
  };
  std::vector<SummaryRow> rows;
  auto add = [&](std::string name, std::optional<double> pctx, std::optional<double> kernel,
                 std::optional<double> floor, std::string note) {
    if (!pctx) return;
    rows.push_back({std::move(name), *pctx, kernel, floor, std::move(note)});
  };
  auto minus = [](std::optional<double> a, std::optional<double> b) -> std::optional<double> {
    if (!a || !b) return std::nullopt;
    return *a - *b;
  };
  const auto fiber = get("fiber_switch_floor");
  const auto fiber_per_switch = fiber;  // per switch already (ops = 2)
  const auto rdtsc = get("rdtsc_floor");
  const auto switch0 = get("switch_tsc/0");
  const auto kernel0 = get("kernel_switch/0");

  add("install_remote_running", get("install_remote_running"), get("kernel_open_running"),
      get("signal_floor"),
      "into a task running on the other CPU (signal) vs open on a running thread");
  add("install_not_running", get("install_not_running"), get("kernel_open_blocked"), std::nullopt,
      "into a task not running vs open on a blocked thread");
  add("install_cpu_polling", get("install_cpu_polling"), std::nullopt, get("cache_line_floor"),
      "into the CPU context of a polling CPU thread");
  add("install_cpu_local", get("install_cpu_local"), std::nullopt, std::nullopt,
      "the same install made on the CPU itself: the handler's work, no call");
  add("switch_0_events", switch0, kernel0, fiber_per_switch,
      "a whole task switch, no events (floor: a bare fiber switch)");
  const auto two_rdtsc_per_event = [&](int n) -> std::optional<double> {
    if (!rdtsc) return std::nullopt;
    return 2.0 * n * *rdtsc;
  };
  add("switch_4_events", minus(get("switch_tsc/4"), switch0),
      minus(get("kernel_switch/4"), kernel0), two_rdtsc_per_event(4),
      "sched-out + sched-in, 4 tsc events (floor: 2 rdtsc per event)");
  add("switch_4_sw_events", minus(get("switch_sw/4"), switch0),
      minus(get("kernel_switch/4"), kernel0), get("kernel_read"),
      "sched-out + sched-in, 4 perf software events (floor: one read(), a group read per "
      "switch)");
  add("switch_64_installed_4_counters", minus(get("switch_installed_4_counters/64"), switch0),
      std::nullopt, two_rdtsc_per_event(4), "64 flexible groups installed, 4 counters");
  // Where there is a hardware PMU: cycles and instructions, read through rdpmc.
  const auto rdpmc = get("rdpmc_floor");
  add("switch_2_hw_events", minus(get("switch_hw/2"), switch0), std::nullopt,
      rdpmc ? std::optional<double>(2 * *rdpmc) : std::nullopt,
      "sched-out + sched-in, cycles and instructions (floor: one rdpmc per event)");
  add("read_local_hw", get("read_local_hw"), get("kernel_read"), rdpmc,
      "an Active cycles event on its own CPU (rdpmc) vs read() of a software event");
  add("read_local", get("read_local"), get("kernel_read"), rdtsc,
      "an Active tsc event on its own CPU vs read() of a software event");
  add("read_remote", get("read_remote"), std::nullopt, get("cache_line_floor"),
      "an event Active on the other CPU (a cross-call)");
  add("rotate_16_on_4", get("rotate_16_on_4"), std::nullopt, std::nullopt,
      "one rotation pass, 16 flexible groups on 4 counters");
  return rows;
}

SwitchCurve switch_curve(const std::map<std::string, double>& ns) {
  SwitchCurve c;
  auto at = [&](const std::string& name) {
    auto it = ns.find(name);
    return it == ns.end() ? -1.0 : it->second;
  };
  for (int n : {0, 1, 4, 8, 16, 64}) {
    const double t = at("switch_tsc/" + std::to_string(n));
    const double two = at("switch_two_pmus/" + std::to_string(n));
    const double k = at("kernel_switch/" + std::to_string(n));
    if (t < 0 || k < 0) continue;
    c.n.push_back(n);
    c.pctx_tsc.push_back(t);
    c.pctx_two.push_back(two);
    c.kernel.push_back(k);
  }
  return c;
}

}  // namespace pctx::bench

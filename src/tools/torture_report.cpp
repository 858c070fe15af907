// The torture report: latency percentiles, the verdict, JSON and the table.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "pctx/cpu/sysfs.hpp"
#include "tools/table.hpp"
#include "tools/torture.hpp"

namespace pctx::tools {

namespace {

int64_t percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[std::min(i, v.size() - 1)];
}

std::string ms(int64_t ns) {
  return fmt::format("{:.2f}", static_cast<double>(ns) / 1e6);
}

}  // namespace

void OpStats::success(std::chrono::nanoseconds took) {
  ++attempts_;
  ++successes_;
  ns_.push_back(took.count());
}

void OpStats::failure(int error) {
  ++attempts_;
  ++failures_by_errno_[cpu::errno_name(error)];
}

uint64_t OpStats::failures() const {
  return attempts_ - successes_;
}

nlohmann::json OpStats::json() const {
  nlohmann::json j;
  j["attempts"] = attempts_;
  j["successes"] = successes_;
  j["failures_by_errno"] = failures_by_errno_;
  j["min_ns"] = ns_.empty() ? 0 : *std::min_element(ns_.begin(), ns_.end());
  j["p50_ns"] = percentile(ns_, 0.5);
  j["p99_ns"] = percentile(ns_, 0.99);
  j["max_ns"] = ns_.empty() ? 0 : *std::max_element(ns_.begin(), ns_.end());
  return j;
}

void TortureReport::violate(double time_s, int cpu, std::string kind, std::string detail) {
  base::MutexLock lock(mutex);
  // A broken invariant tends to stay broken: keep the first few of each kind in full.
  size_t same = 0;
  for (const auto& v : violations) same += v.kind == kind ? 1 : 0;
  if (same >= 20) return;
  violations.push_back({time_s, cpu, std::move(kind), std::move(detail)});
}

size_t TortureReport::violation_count() {
  base::MutexLock lock(mutex);
  return violations.size();
}

std::string TortureReport::verdict() {
  base::MutexLock lock(mutex);
  if (!violations.empty()) return "FAILURE";
  if (offline.failures() + online.failures() > 0) return "HOTPLUG_FAIL";
  return "SUCCESS";
}

nlohmann::json TortureReport::json() {
  const std::string v = verdict();
  base::MutexLock lock(mutex);
  nlohmann::json j;
  j["verdict"] = v;
  j["seed"] = seed;
  j["external"] = external;
  j["interrupted"] = interrupted;
  j["victims"] = victims.to_string();
  j["elapsed_s"] = elapsed_s;
  j["cycles"] = cycles.load();
  j["offline"] = offline.json();
  j["online"] = online.json();
  nlohmann::json per_cpu = nlohmann::json::object();
  for (const auto& [c, ns] : offline_ns) {
    per_cpu[std::to_string(c)] = {{"offline_ns", ns}, {"cycles", cpu_cycles[c]}};
  }
  j["per_cpu"] = per_cpu;
  j["uevent_delay_ns"] = {{"p50", percentile(uevent_delay_ns, 0.5)},
                          {"max", percentile(uevent_delay_ns, 1.0)}};
  j["einval_window"] = {{"count", einval_count}, {"max_ns", einval_max_ns}};
  j["rebalance_delay_ns"] = {{"p50", percentile(rebalance_delay_ns, 0.5)},
                             {"p99", percentile(rebalance_delay_ns, 0.99)}};
  nlohmann::json refused = nlohmann::json::object();
  for (const auto& [err, n] : kernel_refusals) refused[cpu::errno_name(err)] = n;
  j["kernel_refusals_by_errno"] = refused;  // every refused write or re-pin, retried or not
  j["install_retries"] = install_retries;
  j["cross_calls"] = cross_calls;
  j["signals"] = signals;
  j["rotations"] = rotations;
  j["operations"] = operations.load();
  j["violations"] = nlohmann::json::array();
  for (const auto& x : violations) {
    j["violations"].push_back(
        {{"time_s", x.time_s}, {"cpu", x.cpu}, {"kind", x.kind}, {"detail", x.detail}});
  }
  if (kernel_log_readable) {
    j["kernel_log"] = kernel_log;
  } else {
    j["kernel_log"] = nullptr;
  }
  return j;
}

void TortureReport::print(FILE* out) {
  const std::string v = verdict();
  base::MutexLock lock(mutex);
  fmt::print(out, "pctx torture: {} ({} CPUs {}, seed {}, {:.1f} s{})\n\n", v,
             external ? "external hotplug of" : "hotplug of", victims.to_string(), seed, elapsed_s,
             interrupted ? ", interrupted" : "");
  Table t({"operation", "attempts", "ok", "failed", "min ms", "p50 ms", "p99 ms", "max ms"});
  for (auto [name, s] : {std::pair{"offline", &offline}, std::pair{"online", &online}}) {
    const auto j = s->json();
    t.add({name, fmt::format("{}", j["attempts"].get<uint64_t>()),
           fmt::format("{}", j["successes"].get<uint64_t>()), fmt::format("{}", s->failures()),
           ms(j["min_ns"]), ms(j["p50_ns"]), ms(j["p99_ns"]), ms(j["max_ns"])});
  }
  t.print(out);
  fmt::print(out, "\n");
  Table w({"what", "value"});
  w.add({"cycles (offline + online)", fmt::format("{}", cycles.load())});
  for (const auto& [c, ns] : offline_ns) {
    w.add(
        {fmt::format("cpu{} offline", c), fmt::format("{} ms, {} cycles", ms(ns), cpu_cycles[c])});
  }
  if (external) {
    w.add({"uevent to pctx following, p50 / max",
           fmt::format("{} / {} ms", ms(percentile(uevent_delay_ns, 0.5)),
                       ms(percentile(uevent_delay_ns, 1.0)))});
  }
  w.add({"re-pin EINVAL window",
         fmt::format("{} times, max {} ms", einval_count, ms(einval_max_ns))});
  w.add({"online to a task there, p50 / p99",
         fmt::format("{} / {} ms", ms(percentile(rebalance_delay_ns, 0.5)),
                     ms(percentile(rebalance_delay_ns, 0.99)))});
  w.add({"installer operations", fmt::format("{}", operations.load())});
  w.add({"install retries", fmt::format("{}", install_retries)});
  w.add({"cross-calls / signals", fmt::format("{} / {}", cross_calls, signals)});
  w.add({"rotations", fmt::format("{}", rotations)});
  w.add({"kernel log (WARN, BUG, lockdep, RCU stall)",
         kernel_log_readable ? fmt::format("{} lines", kernel_log.size()) : "not readable"});
  w.print(out, false);
  if (!violations.empty()) {
    fmt::print(out, "\nviolations:\n");
    for (const auto& x : violations) {
      fmt::print(out, "  {:8.3f} s  {:<5} {:<24} {}\n", x.time_s,
                 x.cpu >= 0 ? fmt::format("cpu{}", x.cpu) : "-", x.kind, x.detail);
    }
  }
  for (const auto& line : kernel_log) fmt::print(out, "kernel: {}\n", line);
}

}  // namespace pctx::tools

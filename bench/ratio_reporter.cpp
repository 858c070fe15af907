#include "ratio_reporter.hpp"

#include <algorithm>
#include <cstdio>

namespace pctx::bench {

void RatioReporter::ReportRuns(const std::vector<Run>& runs) {
  ConsoleReporter::ReportRuns(runs);
  for (const auto& r : runs) {
    if (r.error_occurred || r.iterations == 0) continue;
    std::string name = r.benchmark_name();
    name = name.substr(0, name.find('/'));
    if (r.run_type == Run::RT_Aggregate) continue;
    // The fastest repetition: on a shared machine, noise only ever adds time.
    const double ns = r.real_accumulated_time / static_cast<double>(r.iterations) * 1e9;
    auto it = ns_.find(name);
    ns_[name] = it == ns_.end() ? ns : std::min(it->second, ns);
  }
}

double RatioReporter::ns(const std::string& name) const {
  auto it = ns_.find(name);
  return it == ns_.end() ? -1.0 : it->second;
}

void RatioReporter::print_ratios(
    const std::vector<std::pair<std::string, std::string>>& pairs) const {
  std::printf("\n%-28s %10s   %-26s %10s %8s\n", "operation", "ns", "floor", "floor ns", "ratio");
  for (const auto& [name, floor] : pairs) {
    const double a = ns(name), b = ns(floor);
    if (a < 0 || b <= 0) continue;
    std::printf("%-28s %10.1f   %-26s %10.1f %7.2fx\n", name.c_str(), a, floor.c_str(), b, a / b);
  }
}

}  // namespace pctx::bench

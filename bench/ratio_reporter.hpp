// A console reporter that also remembers each benchmark's time per iteration, so a suite
// can print its results as ratios to floors measured in the same run.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pctx::bench {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override;

  // Nanoseconds per iteration of the named benchmark (its name up to the first '/'), the
  // fastest of its repetitions, or a negative number when it did not run.
  double ns(const std::string& name) const;

  // Prints "name: X ns = R x floor" lines for each (name, floor) pair.
  void print_ratios(const std::vector<std::pair<std::string, std::string>>& pairs) const;

 private:
  std::map<std::string, double> ns_;
};

}  // namespace pctx::bench

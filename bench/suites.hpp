// The benchmark suites of `pctx bench` (and of the pctx_bench binary): pctx's fast paths,
// the kernel doing the same work, and the physical floors, all in one run, and the
// summary that puts them side by side.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace pctx::bench {

void register_install_suite();
void register_switch_suite();
void register_read_suite();
void register_floor_suite();
void register_all_suites();

// Collects each benchmark's fastest repetition (ns per operation: per iteration divided by
// its `ops` counter when it has one; by its name without
// the "/manual_time" or "/real_time" suffix), and writes Google Benchmark's JSON report
// to a stream when given one.
class CollectingReporter : public benchmark::BenchmarkReporter {
 public:
  explicit CollectingReporter(std::ostream* json = nullptr);
  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

  const std::map<std::string, double>& ns() const { return ns_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::map<std::string, double> ns_;
  std::vector<std::string> errors_;
  std::unique_ptr<benchmark::JSONReporter> json_;
  std::ostringstream discard_;
};

struct SummaryRow {
  std::string name;
  double pctx_ns = 0;
  std::optional<double> kernel_ns;
  std::optional<double> floor_ns;
  std::string note;  // what the figures are
};

// The table of `pctx bench` from the measured times; rows whose inputs did not run are
// left out.
std::vector<SummaryRow> summarize(const std::map<std::string, double>& ns);

// Switch cost against N (per switch, ns) for the plot: pctx (tsc, two PMUs) and the kernel.
struct SwitchCurve {
  std::vector<int> n;
  std::vector<double> pctx_tsc, pctx_two, kernel;
};
SwitchCurve switch_curve(const std::map<std::string, double>& ns);

}  // namespace pctx::bench

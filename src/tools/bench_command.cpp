// `pctx bench [--quick] [--json FILE] [--plot FILE.png]`: pctx's install, switch, read and
// rotation paths beside the kernel doing the same work and the physical floors, measured
// in one run, and one table of ratios.
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench_env.hpp"
#include "plot_script.hpp"
#include "suites.hpp"
#include "tools/commands.hpp"
#include "tools/table.hpp"

namespace pctx::tools {

namespace {

struct BenchOptions {
  bool quick = false;
  std::string json;
  std::string plot;
  std::string filter;
  int repetitions = 0;  // 0: 3 with --quick, else 5
};

[[noreturn]] void die(const std::string& message, int code = 1) {
  fmt::print(stderr, "pctx bench: {}\n", message);
  throw CLI::RuntimeError(code);
}

std::string fixed(double v) {
  return v >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}", v);
}

nlohmann::json or_null(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// Shows which benchmark finished, on a terminal.
class ProgressReporter : public bench::CollectingReporter {
 public:
  using CollectingReporter::CollectingReporter;
  void ReportRuns(const std::vector<Run>& runs) override {
    CollectingReporter::ReportRuns(runs);
    if (isatty(STDERR_FILENO) && !runs.empty()) {
      fmt::print(stderr, "\r\033[K  pctx bench: {} done", runs.front().benchmark_name());
    }
  }
  void Finalize() override {
    CollectingReporter::Finalize();
    if (isatty(STDERR_FILENO)) fmt::print(stderr, "\r\033[K");
  }
};

void write_plot(const bench::SwitchCurve& curve, const std::string& out) {
  if (curve.n.empty()) die("--plot: the switch suites did not run (check --filter)");
  nlohmann::json j;
  j["n"] = curve.n;
  j["pctx_tsc"] = curve.pctx_tsc;
  j["pctx_two"] = curve.pctx_two;
  j["kernel"] = curve.kernel;
  char data[] = "/tmp/pctx-curve-XXXXXX";
  const int fd = mkstemp(data);
  if (fd < 0) die("--plot: cannot create a temporary file");
  const std::string text = j.dump();
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    close(fd);
    die("--plot: cannot write a temporary file");
  }
  close(fd);
  // Debian's python3 (where python3-matplotlib is), whatever python3 comes first in PATH.
  const std::string cmd = fmt::format("/usr/bin/python3 - '{}' '{}'", data, out);
  FILE* p = popen(cmd.c_str(), "w");
  if (p == nullptr)
    die("--plot: cannot run python3; install python3-matplotlib (scripts/setup.sh)");
  std::fputs(kPlotScript, p);
  const int status = pclose(p);
  unlink(data);
  if (status != 0) {
    die(
        fmt::format("--plot: python3 failed to draw {}; is python3-matplotlib installed "
                    "(scripts/setup.sh)?",
                    out));
  }
}

void run(const BenchOptions& o) {
  if (auto st = bench::init_cpus(); !st) die(st.error().message);
  bench::register_all_suites();
  std::vector<std::string> args = {
      "pctx-bench", fmt::format("--benchmark_min_time={}", o.quick ? 0.1 : 0.5),
      fmt::format("--benchmark_repetitions={}", o.repetitions > 0 ? o.repetitions
                                                : o.quick         ? 3
                                                                  : 5)};
  if (!o.filter.empty()) args.push_back("--benchmark_filter=" + o.filter);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  benchmark::Initialize(&argc, argv.data());

  std::ostringstream json;
  ProgressReporter reporter(o.json.empty() ? nullptr : &json);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  for (const auto& e : reporter.errors()) fmt::print(stderr, "pctx bench: skipped {}\n", e);

  const auto rows = bench::summarize(reporter.ns());
  Table table({"operation", "pctx ns", "kernel ns", "kernel/pctx", "floor ns", "pctx/floor"});
  for (const auto& r : rows) {
    table.add({r.name, fixed(r.pctx_ns), r.kernel_ns ? fixed(*r.kernel_ns) : "-",
               r.kernel_ns ? fmt::format("{:.1f}x", *r.kernel_ns / r.pctx_ns) : "-",
               r.floor_ns ? fixed(*r.floor_ns) : "-",
               r.floor_ns ? fmt::format("{:.2f}x", r.pctx_ns / *r.floor_ns) : "-"});
  }
  fmt::print("pctx bench{}: caller on cpu{}, target cpu{}; fastest of {} repetition(s)\n\n",
             o.quick ? " --quick" : "", bench::cpus().caller, bench::cpus().target,
             o.repetitions > 0 ? o.repetitions
             : o.quick         ? 3
                               : 5);
  table.print(stdout);
  fmt::print("\n");
  for (const auto& r : rows) fmt::print("  {:<32} {}\n", r.name, r.note);

  if (!o.json.empty()) {
    nlohmann::json report = nlohmann::json::parse(json.str(), nullptr, false);
    if (report.is_discarded()) report = nlohmann::json::object();
    report["summary"] = nlohmann::json::array();
    for (const auto& r : rows) {
      nlohmann::json s;
      s["name"] = r.name;
      s["pctx_ns"] = r.pctx_ns;
      s["kernel_ns"] = or_null(r.kernel_ns);
      s["floor_ns"] = or_null(r.floor_ns);
      s["speedup"] =
          r.kernel_ns ? nlohmann::json(*r.kernel_ns / r.pctx_ns) : nlohmann::json(nullptr);
      s["note"] = r.note;
      report["summary"].push_back(std::move(s));
    }
    std::ofstream out(o.json);
    out << report.dump(2) << "\n";
    if (!out) die(fmt::format("--json: cannot write {}", o.json));
    fmt::print("\nwrote {}\n", o.json);
  }
  if (!o.plot.empty()) {
    write_plot(bench::switch_curve(reporter.ns()), o.plot);
    fmt::print("wrote {}\n", o.plot);
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bench", "pctx's fast paths beside the kernel doing the same work, and the floors");
  auto o = std::make_shared<BenchOptions>();
  cmd->add_flag("--quick", o->quick, "shorter runs, three repetitions (about 30 s)");
  cmd->add_option("--json", o->json, "write Google Benchmark's report plus a summary here");
  cmd->add_option("--plot", o->plot, "draw the switch cost against events per task (PNG)");
  cmd->add_option("--filter", o->filter, "only the benchmarks matching this regex");
  cmd->add_option("--repetitions", o->repetitions, "repetitions per benchmark (fastest is used)");
  cmd->callback([o] { run(*o); });
}

}  // namespace pctx::tools

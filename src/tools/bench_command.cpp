// `pctx bench [--quick] [--json FILE] [--plot FILE.png]`: pctx's install, switch, read and
// rotation paths beside the kernel doing the same work and the physical floors, measured
// in one run, and one table of ratios.
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench_env.hpp"
#include "pctx/base/errno_text.hpp"
#include "plot_script.hpp"
#include "suites.hpp"
#include "targets.hpp"
#include "tools/cli_checks.hpp"
#include "tools/commands.hpp"
#include "tools/table.hpp"

namespace pctx::tools {

namespace {

struct BenchOptions {
  bool quick = false;
  std::string json;
  std::string plot;
  std::string filter;
  int repetitions = 0;  // not given: 3 with --quick, else 5 (--repetitions refuses 0)
};

constexpr std::string_view kCommand = "pctx bench";

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

// `text` as one single-quoted shell word.
std::string shell_quote(const std::string& text) {
  std::string q = "'";
  for (char c : text) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The last non-empty line of a file: what python3 said last before failing.
std::string last_line(const char* path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last;
}

void write_plot(const bench::SwitchCurve& curve, const std::string& out, bool skipped) {
  if (curve.n.empty()) {
    die(kCommand, skipped ? "--plot: nothing to draw, a switch benchmark was skipped (see above)"
                          : "--plot: nothing to draw, the switch benchmarks measured nothing");
  }
  nlohmann::json j;
  j["n"] = curve.n;
  j["pctx_tsc"] = curve.pctx_tsc;
  j["pctx_two"] = curve.pctx_two;
  j["kernel"] = curve.kernel;
  char data[] = "/tmp/pctx-curve-XXXXXX";
  const int fd = mkstemp(data);
  if (fd < 0)
    die(kCommand,
        fmt::format("--plot: cannot create a temporary file ({})", base::errno_text(errno)));
  const std::string text = j.dump();
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    close(fd);
    unlink(data);
    die(kCommand, "--plot: cannot write a temporary file in /tmp");
  }
  close(fd);
  char errors[] = "/tmp/pctx-plot-err-XXXXXX";
  const int efd = mkstemp(errors);
  if (efd < 0) {
    unlink(data);
    die(kCommand,
        fmt::format("--plot: cannot create a temporary file ({})", base::errno_text(errno)));
  }
  close(efd);
  // Debian's python3 (where python3-matplotlib is), whatever python3 comes first in PATH.
  // Its stderr is kept, so that a failure says what python3 said.
  const std::string cmd = fmt::format("/usr/bin/python3 - {} {} 2>{}", shell_quote(data),
                                      shell_quote(out), shell_quote(errors));
  FILE* p = popen(cmd.c_str(), "w");
  if (p == nullptr) {
    unlink(data);
    unlink(errors);
    die(kCommand,
        "--plot: cannot run /usr/bin/python3; install python3-matplotlib (scripts/setup.sh)");
  }
  std::fputs(kPlotScript, p);
  const int status = pclose(p);
  const std::string said = last_line(errors);
  unlink(data);
  unlink(errors);
  if (status != 0) {
    die(kCommand, fmt::format("--plot: python3 could not draw {}: {}", out,
                              said.empty() ? "no message" : said));
  }
}

// Why --json or --plot cannot be written, found before the run rather than after it.
void check_writable(const char* option, const std::string& path) {
  if (path.empty()) return;
  const std::string why = cannot_write(path);
  if (!why.empty()) {
    die(kCommand,
        fmt::format("{} {}: cannot write it ({}); choose a writable path", option, path, why), 2);
  }
}

// The benchmarks `filter` selects, by Google Benchmark's own listing (its regex dialect
// decides), without running them. A bad regex or one that selects nothing is a usage
// error: both used to exit 0 having run nothing.
std::vector<std::string> selected_benchmarks(const std::string& filter) {
  auto list = [](const std::string& spec, std::string& errors) {
    std::string a0 = "pctx-bench", a1 = "--benchmark_list_tests=true";
    std::vector<char*> argv = {a0.data(), a1.data()};
    int argc = static_cast<int>(argv.size());
    benchmark::Initialize(&argc, argv.data());
    std::ostringstream out, err;
    benchmark::ConsoleReporter lister;
    lister.SetOutputStream(&out);
    lister.SetErrorStream(&err);
    benchmark::RunSpecifiedBenchmarks(&lister, spec);
    errors = err.str();
    std::vector<std::string> names;
    std::istringstream lines(out.str());
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) names.push_back(line);
    }
    return names;
  };
  std::string errors;
  auto names = list(filter, errors);
  if (names.empty()) {
    if (errors.find("Could not compile") != std::string::npos) {
      const auto colon = errors.find(": ");
      std::string why = colon == std::string::npos ? errors : errors.substr(colon + 2);
      while (!why.empty() && why.back() == '\n') why.pop_back();
      die(kCommand,
          fmt::format("--filter '{}': not a valid regular expression ({}); write e.g. "
                      "--filter 'switch_tsc|read_local'",
                      filter, why),
          2);
    }
    std::vector<std::string> families;
    for (const auto& n : list("", errors)) {
      const std::string family = n.substr(0, n.find('/'));
      if (families.empty() || families.back() != family) families.push_back(family);
    }
    die(kCommand,
        fmt::format("--filter '{}' matched no benchmark; the benchmarks are {}", filter,
                    fmt::join(families, ", ")),
        2);
  }
  return names;
}

void run(const BenchOptions& o) {
  check_writable("--json", o.json);
  check_writable("--plot", o.plot);
  or_die(kCommand, bench::init_cpus());
  bench::register_all_suites();
  const auto selected = selected_benchmarks(o.filter);
  if (!o.plot.empty()) {
    auto has = [&](const char* family) {
      for (const auto& n : selected) {
        if (n.rfind(family, 0) == 0) return true;
      }
      return false;
    };
    if (!has("switch_tsc/") || !has("kernel_switch/")) {
      die(kCommand,
          fmt::format("--plot draws switch_tsc against kernel_switch, which --filter '{}' "
                      "leaves out; widen the filter or drop --plot",
                      o.filter),
          2);
    }
    // NOLINTNEXTLINE(concurrency-mt-unsafe): options are checked before any thread starts.
    if (std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") != 0) {
      die(kCommand,
          "--plot needs /usr/bin/python3 with matplotlib; install python3-matplotlib "
          "(scripts/setup.sh)");
    }
  }
  std::vector<std::string> args = {
      "pctx-bench", "--benchmark_list_tests=false",
      fmt::format("--benchmark_min_time={}", o.quick ? 0.1 : 0.5),
      fmt::format("--benchmark_repetitions={}", o.repetitions > 0 ? o.repetitions
                                                : o.quick         ? 3
                                                                  : 5)};
  if (!o.filter.empty()) args.push_back("--benchmark_filter=" + o.filter);
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (auto& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  benchmark::Initialize(&argc, argv.data());

  std::ostringstream json;
  ProgressReporter reporter(o.json.empty() ? nullptr : &json);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  // Once per benchmark, not per repetition.
  std::vector<std::string> skipped;
  for (const auto& e : reporter.errors()) {
    if (std::find(skipped.begin(), skipped.end(), e) != skipped.end()) continue;
    skipped.push_back(e);
    fmt::print(stderr, "pctx bench: skipped {}\n", e);
  }

  const auto rows = bench::summarize(reporter.ns());
  // Each row's target and whether this run met it (nullopt: a figure it needs is missing).
  std::vector<std::optional<bench::Target>> targets;
  std::vector<std::optional<bool>> met;
  for (const auto& r : rows) {
    targets.push_back(bench::target_of(r.name));
    met.push_back(targets.back() ? bench::target_met(*targets.back(), r, rows) : std::nullopt);
  }
  Table table({"operation", "pctx ns", "kernel ns", "kernel/pctx", "floor ns", "pctx/floor",
               "target", "met"});
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    table.add({r.name, fixed(r.pctx_ns), r.kernel_ns ? fixed(*r.kernel_ns) : "-",
               r.kernel_ns ? fmt::format("{:.1f}x", *r.kernel_ns / r.pctx_ns) : "-",
               r.floor_ns ? fixed(*r.floor_ns) : "-",
               r.floor_ns ? fmt::format("{:.2f}x", r.pctx_ns / *r.floor_ns) : "-",
               targets[i] ? targets[i]->text : "-", met[i] ? (*met[i] ? "yes" : "NO") : "-"});
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
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      nlohmann::json s;
      s["name"] = r.name;
      s["pctx_ns"] = r.pctx_ns;
      s["kernel_ns"] = or_null(r.kernel_ns);
      s["floor_ns"] = or_null(r.floor_ns);
      s["speedup"] =
          r.kernel_ns ? nlohmann::json(*r.kernel_ns / r.pctx_ns) : nlohmann::json(nullptr);
      s["note"] = r.note;
      s["target"] = targets[i] ? nlohmann::json(targets[i]->text) : nlohmann::json(nullptr);
      s["target_met"] = met[i] ? nlohmann::json(*met[i]) : nlohmann::json(nullptr);
      report["summary"].push_back(std::move(s));
    }
    std::ofstream out(o.json);
    out << report.dump(2) << "\n";
    out.close();
    if (!out)
      die(kCommand,
          fmt::format("--json {}: writing it failed ({})", o.json, base::errno_text(errno)));
    fmt::print("\nwrote {}\n", o.json);
  }
  if (!o.plot.empty()) {
    write_plot(bench::switch_curve(reporter.ns()), o.plot, !reporter.errors().empty());
    fmt::print("wrote {}\n", o.plot);
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bench", "pctx's fast paths beside the kernel doing the same work, and the floors");
  auto o = std::make_shared<BenchOptions>();
  cmd->add_flag("--quick", o->quick, "shorter runs, three repetitions (about 30 s)");
  cmd->add_option("--json", o->json, "write Google Benchmark's report plus a summary here")
      ->check(not_empty("give a file name, e.g. --json bench.json"));
  cmd->add_option("--plot", o->plot, "draw the switch cost against events per task (PNG)")
      ->check(not_empty("give a file name, e.g. --plot switch.png"));
  cmd->add_option("--filter", o->filter, "only the benchmarks matching this regex")
      ->check(not_empty("give a regex, e.g. --filter read_local, or leave --filter out"));
  cmd->add_option("--repetitions", o->repetitions,
                  "repetitions per benchmark, 1 to 1000 (fastest is used; default 3 with "
                  "--quick, else 5)")
      ->check(integer_between(1, 1000, "a number of repetitions", "--repetitions 3"));
  cmd->footer(
      "Examples:\n"
      "  pctx bench --quick\n"
      "  pctx bench --quick --filter 'switch_tsc|kernel_switch' --plot switch.png\n"
      "  pctx bench --json bench.json --repetitions 3");
  cmd->callback([o] { run(*o); });
}

}  // namespace pctx::tools

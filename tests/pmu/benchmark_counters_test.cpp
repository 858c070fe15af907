// pctx::BenchmarkCounters: per-iteration counters from the kernel in Google Benchmark's JSON
// report. The benchmark faults in exactly four fresh pages per iteration, so the
// page-faults counter must read four per iteration.
#include <sys/mman.h>
#include <unistd.h>

#include <benchmark/benchmark.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "pctx/benchmark.hpp"

namespace {

constexpr int kPages = 4;

void fault_four_pages(benchmark::State& state) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  pctx::BenchmarkCounters counters(state, "task-clock,page-faults");
  for (auto _ : state) {
    void* p =
        mmap(nullptr, kPages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < kPages; ++i) static_cast<volatile char*>(p)[i * page] = 1;
    munmap(p, kPages * page);
  }
}

void unknown_event(benchmark::State& state) {
  pctx::BenchmarkCounters counters(state, "no-such-event");
  for (auto _ : state) {
  }
}

nlohmann::json run_benchmarks(const char* filter) {
  std::string filter_flag = std::string("--benchmark_filter=") + filter;
  std::string min_time = "--benchmark_min_time=0.05";
  char arg0[] = "benchmark_counters_test";
  char* argv[] = {arg0, filter_flag.data(), min_time.data(), nullptr};
  int argc = 3;
  benchmark::Initialize(&argc, argv);
  std::ostringstream out, err;
  benchmark::JSONReporter reporter;
  reporter.SetOutputStream(&out);
  reporter.SetErrorStream(&err);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  return nlohmann::json::parse(out.str());
}

TEST(BenchmarkCounters, PerIterationCountersAppearInTheJsonReport) {
  benchmark::RegisterBenchmark("fault_four_pages", fault_four_pages);
  const auto report = run_benchmarks("fault_four_pages");
  ASSERT_EQ(report["benchmarks"].size(), 1u) << report.dump(2);
  const auto& b = report["benchmarks"][0];
  ASSERT_TRUE(b.contains("page-faults")) << b.dump(2);
  ASSERT_TRUE(b.contains("task-clock")) << b.dump(2);
#if defined(__SANITIZE_THREAD__)
  // TSan maps its shadow of each fresh page lazily, which faults too.
  EXPECT_GE(b["page-faults"].get<double>(), kPages - 0.5) << "per iteration";
  EXPECT_LT(b["page-faults"].get<double>(), 100) << "per iteration, not in total";
#else
  EXPECT_NEAR(b["page-faults"].get<double>(), kPages, 0.5) << "per iteration, not in total";
#endif
  // task-clock is in ns: a few µs per iteration for 4 faults, an mmap and a munmap.
  EXPECT_GT(b["task-clock"].get<double>(), 100.0);
  EXPECT_LT(b["task-clock"].get<double>(), 1e6);
}

TEST(BenchmarkCounters, AnUnknownEventSkipsTheBenchmarkWithTheReason) {
  benchmark::RegisterBenchmark("unknown_event", unknown_event);
  const auto report = run_benchmarks("unknown_event");
  ASSERT_EQ(report["benchmarks"].size(), 1u);
  const auto& b = report["benchmarks"][0];
  ASSERT_TRUE(b.contains("error_message")) << b.dump(2);
  EXPECT_NE(b["error_message"].get<std::string>().find("no-such-event"), std::string::npos);
}

}  // namespace

// pctx::BenchmarkCounters: per-iteration counters from the kernel in Google Benchmark's JSON
// report. The benchmarks fault in exactly four fresh pages per timed iteration, so the
// page-faults counter must read four per iteration, whatever they do while the timer is
// paused or before the loop.
#include <sys/mman.h>
#include <unistd.h>

#include <benchmark/benchmark.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "pctx/benchmark.hpp"

namespace {

constexpr int kPages = 4;

// Faults in `pages` fresh pages: one page fault each.
void fault_pages(int pages) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  for (int i = 0; i < pages; ++i) static_cast<volatile char*>(p)[i * page] = 1;
  munmap(p, pages * page);
}

void spin_for(std::chrono::microseconds how_long) {
  const auto until = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < until) {
  }
}

void fault_four_pages(benchmark::State& state) {
  pctx::BenchmarkCounters counters(state, "task-clock,page-faults");
  for (auto _ : state) fault_pages(kPages);
}

// Sixteen faults and a millisecond of CPU per iteration under state.PauseTiming(), as a
// benchmark would prepare its input, and a large setup before the loop: none of it timed,
// so none of it may be counted.
constexpr int kPausedPages = 16;
constexpr auto kPausedSpin = std::chrono::microseconds(1000);
constexpr int kIterations = 50;

void faults_while_paused(benchmark::State& state) {
  pctx::BenchmarkCounters counters(state, "task-clock,page-faults");
  fault_pages(1024);
  for (auto _ : state) {
    state.PauseTiming();
    fault_pages(kPausedPages);
    spin_for(kPausedSpin);
    state.ResumeTiming();
    fault_pages(kPages);
  }
}

// The same with the older loop, whose start and end are separate calls.
void faults_while_paused_keep_running(benchmark::State& state) {
  pctx::BenchmarkCounters counters(state, "page-faults");
  fault_pages(1024);
  while (state.KeepRunning()) {
    state.PauseTiming();
    fault_pages(kPausedPages);
    state.ResumeTiming();
    fault_pages(kPages);
  }
}

// By hand: counters.pause() stops the counters and leaves the timer running.
void faults_under_counters_pause(benchmark::State& state) {
  pctx::BenchmarkCounters counters(state, "page-faults");
  for (auto _ : state) {
    counters.pause();
    fault_pages(kPausedPages);
    counters.resume();
    fault_pages(kPages);
  }
}

void events_from_the_environment(benchmark::State& state) {
  pctx::BenchmarkCounters counters(state);
  for (auto _ : state) fault_pages(kPages);
}

void empty_spec_means_the_environment(benchmark::State& state) {
  pctx::BenchmarkCounters counters(state, "");
  for (auto _ : state) fault_pages(kPages);
}

// The same event with different modifiers, and one event twice.
void distinct_names(benchmark::State& state) {
  pctx::BenchmarkCounters counters(state, "{task-clock}:u,{task-clock}:k,page-faults,page-faults");
  EXPECT_EQ(counters.names(), (std::vector<std::string>{"task-clock:u", "task-clock:k",
                                                        "page-faults", "page-faults#2"}));
  for (auto _ : state) fault_pages(kPages);
}

void unknown_event(benchmark::State& state) {
  pctx::BenchmarkCounters counters(state, "no-such-event");
  for (auto _ : state) {
  }
}

nlohmann::json run_benchmarks(const std::string& filter) {
  std::string filter_flag = "--benchmark_filter=" + filter;
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

// Fifty iterations, the only benchmark in the report. Registered once, so that the tests
// also pass when one process runs them all.
nlohmann::json run_one(const char* name, benchmark::internal::Function* fn) {
  static std::set<std::string> registered;
  if (registered.insert(name).second)
    benchmark::RegisterBenchmark(name, fn)->Iterations(kIterations);
  const auto report = run_benchmarks(std::string("^") + name + "/");
  EXPECT_EQ(report["benchmarks"].size(), 1u) << report.dump(2);
  return report["benchmarks"].empty() ? nlohmann::json::object() : report["benchmarks"][0];
}

// The four faults of a timed iteration, and no more.
void expect_timed_faults(const nlohmann::json& benchmark, const char* name = "page-faults") {
  ASSERT_TRUE(benchmark.contains(name)) << name << " in " << benchmark.dump(2);
  const double faults = benchmark[name].get<double>();
#if defined(__SANITIZE_THREAD__)
  // TSan maps its shadow of each fresh page lazily, which faults too: five faults a page
  // here. Counted across the pauses, the paused benchmarks would read over 200.
  EXPECT_GE(faults, kPages - 0.5) << name << " per iteration";
  EXPECT_LE(faults, 8 * kPages) << name << " per iteration, timed part only";
#else
  EXPECT_NEAR(faults, kPages, 0.5) << name << " per iteration, timed part only";
#endif
}

TEST(BenchmarkCounters, TheHooksOfThisHeaderSeeTheTimer) {
  EXPECT_TRUE(pctx::BenchmarkCounters::observes_timing());
}

TEST(BenchmarkCounters, NothingIsCountedWhileTimingIsPausedOrBeforeTheLoop) {
  const auto b = run_one("faults_while_paused", faults_while_paused);
  // Counted across pauses and from the constructor, this would be 4 + 16 + 1024 / 50.
  expect_timed_faults(b);
  // Counted across pauses, this would be more than the 1 ms spin per iteration.
  EXPECT_LT(b["task-clock"].get<double>(), 500e3) << "ns per iteration, timed part only";
  EXPECT_GT(b["task-clock"].get<double>(), 100.0);
}

TEST(BenchmarkCounters, TheKeepRunningLoopIsFollowedToo) {
  expect_timed_faults(
      run_one("faults_while_paused_keep_running", faults_while_paused_keep_running));
}

TEST(BenchmarkCounters, PauseAndResumeByHand) {
  expect_timed_faults(run_one("faults_under_counters_pause", faults_under_counters_pause));
}

TEST(BenchmarkCounters, EventsComeFromTheEnvironmentWhenTheCodeNamesNone) {
  ASSERT_EQ(setenv(pctx::kBenchmarkEventsVariable, "page-faults", 1), 0);
  const auto b = run_one("events_from_the_environment", events_from_the_environment);
  EXPECT_TRUE(b.contains("page-faults")) << b.dump(2);
  EXPECT_FALSE(b.contains("task-clock")) << b.dump(2);
  const auto e = run_one("empty_spec_means_the_environment", empty_spec_means_the_environment);
  EXPECT_TRUE(e.contains("page-faults")) << e.dump(2);
  EXPECT_FALSE(e.contains("task-clock")) << e.dump(2);
}

TEST(BenchmarkCounters, TheCodesSpecWinsOverTheEnvironment) {
  ASSERT_EQ(setenv(pctx::kBenchmarkEventsVariable, "context-switches", 1), 0);
  const auto b = run_one("fault_four_pages", fault_four_pages);
  EXPECT_TRUE(b.contains("page-faults")) << b.dump(2);
  EXPECT_TRUE(b.contains("task-clock")) << b.dump(2);
  EXPECT_FALSE(b.contains("context-switches")) << b.dump(2);
}

TEST(BenchmarkCounters, WithoutTheEnvironmentTheDefaultEventsAreCounted) {
  ASSERT_EQ(unsetenv(pctx::kBenchmarkEventsVariable), 0);
  const auto b = run_one("events_from_the_environment", events_from_the_environment);
  EXPECT_TRUE(b.contains("page-faults")) << b.dump(2);
  EXPECT_TRUE(b.contains("task-clock")) << b.dump(2);
}

TEST(BenchmarkCounters, ABadSpecInTheEnvironmentIsBlamedOnIt) {
  ASSERT_EQ(setenv(pctx::kBenchmarkEventsVariable, "no-such-event", 1), 0);
  const auto b = run_one("events_from_the_environment", events_from_the_environment);
  ASSERT_TRUE(b.contains("error_message")) << b.dump(2);
  const auto message = b["error_message"].get<std::string>();
  EXPECT_NE(message.find("PCTX_BENCHMARK_EVENTS='no-such-event'"), std::string::npos) << message;
}

TEST(BenchmarkCounters, DistinctEventsKeepDistinctNames) {
  const auto b = run_one("distinct_names", distinct_names);
  for (const char* name : {"task-clock:u", "task-clock:k", "page-faults", "page-faults#2"}) {
    EXPECT_TRUE(b.contains(name)) << name << " in " << b.dump(2);
  }
  EXPECT_FALSE(b.contains("task-clock")) << b.dump(2);
  // Both copies of page-faults count the same faults.
  expect_timed_faults(b, "page-faults");
  expect_timed_faults(b, "page-faults#2");
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

// `perf stat`'s conventions for `pctx run`: rows of counts with units and derived metrics,
// printed as perf prints them for people (right-aligned counts with thousands separators,
// `# metric`, percent running), as `perf stat -x SEP` CSV, and as `perf stat -j` event
// objects (with pctx's own fields beside perf's keys).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pctx::tools {

struct StatRow {
  std::string scope;      // perf's first CSV column: "CPU0", a task as "name-id"; "" none
  std::string event;      // as written in the spec
  std::string canonical;  // the catalog's name, for metrics: "task-clock", "cycles"
  std::string unit;       // "msec" for the clocks
  double scale = 1.0;     // a count times this is in `unit`
  uint64_t count = 0;
  uint64_t enabled = 0;            // ns
  uint64_t running = 0;            // ns
  std::optional<double> variance;  // -r: the relative spread of the mean, in percent
  std::optional<double> interval;  // -I: seconds since the start at the interval's end
  double metric_value = 0;
  std::string metric_unit;  // empty when the row has no derived metric

  bool counted() const { return running > 0; }
  double percent_running() const;
  // The count scaled for multiplexing (count * enabled / running), in `unit`.
  double value() const;
};

// Derived metrics as perf computes them, within each scope (and interval): the clocks as
// "CPUs utilized" over the wall time, cycles and tsc as GHz and other counts as a rate
// per second of the scope's task-clock, instructions as "insn per cycle".
void add_metrics(std::vector<StatRow>& rows, double wall_seconds);

// perf's shown value: "1,234,567" for counts, "999.52" for the clocks, "<not counted>".
std::string format_value(const StatRow& row, bool separators);

void print_stat_table(std::FILE* out, const std::vector<StatRow>& rows);
// One CSV line per row in perf stat -x's columns: [interval,][scope,]value,unit,event,
// [variance%,]runtime,percent,metric-value,metric-unit.
void print_stat_csv(std::FILE* out, const std::vector<StatRow>& rows, const std::string& sep);
// perf stat -j's keys ("counter-value", "unit", "event", "event-runtime", "pcnt-running",
// "metric-value", "metric-unit", "variance", "interval") and pctx's ("count",
// "time_enabled", "time_running", "scaled", "percent_running").
nlohmann::json stat_json(const StatRow& row);

}  // namespace pctx::tools

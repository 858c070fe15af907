#include "tools/stat_output.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>

namespace pctx::tools {

namespace {

std::string with_separators(uint64_t v) {
  std::string digits = fmt::format("{}", v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

bool is_clock(const std::string& name) {
  return name == "task-clock" || name == "cpu-clock";
}

// A rate per second in perf's words: "K/sec", "M/sec", "G/sec".
void set_rate(StatRow& row, double per_second) {
  if (per_second >= 1e9) {
    row.metric_value = per_second / 1e9;
    row.metric_unit = "G/sec";
  } else if (per_second >= 1e6) {
    row.metric_value = per_second / 1e6;
    row.metric_unit = "M/sec";
  } else if (per_second >= 1e3) {
    row.metric_value = per_second / 1e3;
    row.metric_unit = "K/sec";
  } else {
    row.metric_value = per_second;
    row.metric_unit = "/sec";
  }
}

}  // namespace

double StatRow::percent_running() const {
  return enabled == 0 ? 0.0 : 100.0 * static_cast<double>(running) / static_cast<double>(enabled);
}

double StatRow::value() const {
  if (running == 0) return 0.0;
  const double scaled =
      static_cast<double>(count) * static_cast<double>(enabled) / static_cast<double>(running);
  return scaled * scale;
}

void add_metrics(std::vector<StatRow>& rows, double wall_seconds) {
  // The scope's (and interval's) task-clock in seconds, and its cycles, for the ratios.
  using Key = std::pair<std::string, double>;
  std::map<Key, double> task_seconds, cycles;
  auto key = [](const StatRow& r) { return Key{r.scope, r.interval.value_or(-1)}; };
  for (const auto& r : rows) {
    if (!r.counted()) continue;
    if (r.canonical == "task-clock") task_seconds[key(r)] = r.value() / 1e3;  // msec -> s
    if (r.canonical == "cycles" || r.canonical == "cpu-cycles") cycles[key(r)] = r.value();
  }
  for (auto& r : rows) {
    r.metric_unit.clear();
    if (!r.counted()) continue;
    const auto ts = task_seconds.find(key(r));
    if (is_clock(r.canonical)) {
      if (wall_seconds > 0) {
        r.metric_value = r.value() / 1e3 / wall_seconds;
        r.metric_unit = "CPUs utilized";
      }
    } else if (r.canonical == "instructions" && cycles.count(key(r)) && cycles[key(r)] > 0) {
      r.metric_value = r.value() / cycles[key(r)];
      r.metric_unit = "insn per cycle";
    } else if ((r.canonical == "cycles" || r.canonical == "cpu-cycles" || r.canonical == "tsc") &&
               ts != task_seconds.end() && ts->second > 0) {
      r.metric_value = r.value() / ts->second / 1e9;
      r.metric_unit = "GHz";
    } else if (ts != task_seconds.end() && ts->second > 0 && r.unit.empty()) {
      set_rate(r, r.value() / ts->second);
    }
  }
}

std::string format_value(const StatRow& row, bool separators) {
  if (!row.counted()) return "<not counted>";
  if (!row.unit.empty() || row.scale != 1.0) return fmt::format("{:.2f}", row.value());
  const auto v = static_cast<uint64_t>(std::llround(row.value()));
  return separators ? with_separators(v) : fmt::format("{}", v);
}

void print_stat_table(std::FILE* out, const std::vector<StatRow>& rows) {
  std::string scope = "\x01";
  for (const auto& r : rows) {
    if (r.scope != scope && !r.interval) {
      scope = r.scope;
      if (!scope.empty()) fmt::print(out, "\n {}:\n", scope);
    }
    std::string line;
    if (r.interval) line += fmt::format("{:>15.9f} {:<12} ", *r.interval, r.scope);
    line += fmt::format("{:>18} {:<5}{:<28}", format_value(r, true), r.unit, r.event);
    if (!r.metric_unit.empty()) {
      line += fmt::format(" # {:>8.3f} {:<16}", r.metric_value, r.metric_unit);
    } else {
      line += fmt::format("   {:>8} {:<16}", "", "");
    }
    if (r.variance) line += fmt::format(" ( +-{:>6.2f}% )", *r.variance);
    if (r.counted() && r.percent_running() < 99.995) {
      line += fmt::format(" ({:.2f}%)", r.percent_running());
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print(out, "{}\n", line);
  }
}

void print_stat_csv(std::FILE* out, const std::vector<StatRow>& rows, const std::string& sep) {
  for (const auto& r : rows) {
    std::string line;
    if (r.interval) line += fmt::format("{:.9f}{}", *r.interval, sep);
    if (!r.scope.empty()) line += r.scope + sep;
    line.append(format_value(r, false)).append(sep).append(r.unit).append(sep);
    line.append(r.event).append(sep);
    if (r.variance) line += fmt::format("{:.2f}%{}", *r.variance, sep);
    line += fmt::format("{}{}{:.2f}{}", r.running, sep, r.percent_running(), sep);
    if (!r.metric_unit.empty()) {
      line += fmt::format("{:.3f}{}{}", r.metric_value, sep, r.metric_unit);
    } else {
      line += sep;
    }
    fmt::print(out, "{}\n", line);
  }
}

nlohmann::json stat_json(const StatRow& r) {
  nlohmann::json j;
  if (r.interval) j["interval"] = *r.interval;
  if (!r.scope.empty()) j["scope"] = r.scope;
  j["counter-value"] = r.counted() ? fmt::format("{:.6f}", r.value()) : "<not counted>";
  j["unit"] = r.unit;
  j["event"] = r.event;
  if (r.variance) j["variance"] = *r.variance;
  j["event-runtime"] = r.running;
  j["pcnt-running"] = std::round(r.percent_running() * 100) / 100;
  if (!r.metric_unit.empty()) {
    j["metric-value"] = r.metric_value;
    j["metric-unit"] = r.metric_unit;
  }
  j["count"] = r.count;
  j["time_enabled"] = r.enabled;
  j["time_running"] = r.running;
  if (r.counted()) {
    j["scaled"] = static_cast<double>(r.count) * static_cast<double>(r.enabled) /
                  static_cast<double>(r.running);
  } else {
    j["scaled"] = nullptr;
  }
  j["percent_running"] = r.percent_running();
  return j;
}

}  // namespace pctx::tools

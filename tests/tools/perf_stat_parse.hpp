// A reader of `perf stat`'s machine output, written against perf's own (tests/tools/data/,
// recorded from perf 6.1 on this machine) and used unchanged on `pctx run`'s: the CSV of
// `perf stat -x SEP` (with or without -I's time column, -A's CPU or --per-thread's task
// column, and -r's variance) and the event objects of `perf stat -j`, found anywhere in a
// sequence of JSON values (perf prints one per line; pctx nests them in its document).
#pragma once

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace pctx::cli_test {

struct PerfStatRow {
  std::optional<double> interval;  // -I: seconds
  std::string scope;               // -A's "CPU0", --per-thread's "comm-pid"; "" without
  std::string value;               // as printed: "0.54", "49", "<not counted>"
  std::string unit;                // "msec" or ""
  std::string event;
  std::optional<double> variance;  // -r: percent
  uint64_t runtime = 0;            // ns the event counted
  double percent_running = 0;
  std::optional<double> metric_value;
  std::string metric_unit;

  bool counted() const { return value.rfind("<not", 0) != 0; }
  double number() const { return std::strtod(value.c_str(), nullptr); }
};

namespace internal {

inline std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

inline bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return *end == '\0';
}

inline bool is_value(const std::string& s) {
  return is_number(s) || s == "<not counted>" || s == "<not supported>";
}

inline bool is_unit(const std::string& s) {
  for (char c : s) {
    if (!std::isalpha(static_cast<unsigned char>(c)) && c != '/') return false;
  }
  return true;
}

inline std::vector<std::string> split(const std::string& line, const std::string& sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t at = line.find(sep, start);
    out.push_back(trim(line.substr(start, at == std::string::npos ? at : at - start)));
    if (at == std::string::npos) return out;
    start = at + sep.size();
  }
}

inline void collect(const nlohmann::json& j, std::vector<PerfStatRow>& out) {
  if (j.is_array()) {
    for (const auto& e : j) collect(e, out);
    return;
  }
  if (!j.is_object()) return;
  if (!j.contains("counter-value")) {
    for (const auto& [k, v] : j.items()) collect(v, out);
    return;
  }
  PerfStatRow r;
  if (j.contains("interval")) r.interval = j["interval"].get<double>();
  for (const char* key : {"cpu", "thread", "scope"}) {
    if (j.contains(key)) r.scope = j[key].get<std::string>();
  }
  r.value = j["counter-value"].get<std::string>();
  r.unit = j["unit"].get<std::string>();
  r.event = j["event"].get<std::string>();
  if (j.contains("variance")) r.variance = j["variance"].get<double>();
  r.runtime = j["event-runtime"].get<uint64_t>();
  r.percent_running = j["pcnt-running"].get<double>();
  if (j.contains("metric-value")) r.metric_value = j["metric-value"].get<double>();
  if (j.contains("metric-unit")) r.metric_unit = j["metric-unit"].get<std::string>();
  out.push_back(std::move(r));
}

}  // namespace internal

// perf stat -x SEP output, one row per line; lines that are not rows (perf's comments,
// empty lines) are skipped. A line whose value/unit/event columns cannot be found throws.
inline std::vector<PerfStatRow> parse_perf_stat_csv(const std::string& text,
                                                    const std::string& sep = ",") {
  using namespace internal;
  std::vector<PerfStatRow> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    const auto f = split(line, sep);
    // The value column is the first that holds a value followed by a unit and an event
    // name; what comes before it is the time (-I) and the scope (-A, --per-thread).
    size_t v = 0;
    while (v + 2 < f.size() &&
           !(is_value(f[v]) && is_unit(f[v + 1]) && !f[v + 2].empty() && !is_number(f[v + 2]))) {
      ++v;
    }
    if (v + 2 >= f.size() || v > 2) throw std::runtime_error("not a perf stat row: " + line);
    PerfStatRow r;
    size_t i = 0;
    if (v - i > 0 && is_number(f[i])) r.interval = std::strtod(f[i++].c_str(), nullptr);
    if (v - i > 0) r.scope = f[i++];
    r.value = f[v];
    r.unit = f[v + 1];
    r.event = f[v + 2];
    size_t k = v + 3;
    if (k < f.size() && !f[k].empty() && f[k].back() == '%') {
      r.variance = std::strtod(f[k++].c_str(), nullptr);
    }
    if (k + 1 >= f.size()) throw std::runtime_error("no runtime and percent in: " + line);
    r.runtime = std::strtoull(f[k].c_str(), nullptr, 10);
    r.percent_running = std::strtod(f[k + 1].c_str(), nullptr);
    if (k + 2 < f.size() && !f[k + 2].empty())
      r.metric_value = std::strtod(f[k + 2].c_str(), nullptr);
    if (k + 3 < f.size()) r.metric_unit = f[k + 3];
    rows.push_back(std::move(r));
  }
  return rows;
}

// perf stat -j output: every event object in a sequence of JSON values.
inline std::vector<PerfStatRow> parse_perf_stat_json(const std::string& text) {
  std::vector<PerfStatRow> rows;
  std::istringstream in(text);
  while (in >> std::ws, in.peek() != EOF) {
    nlohmann::json j;
    in >> j;
    internal::collect(j, rows);
  }
  return rows;
}

}  // namespace pctx::cli_test

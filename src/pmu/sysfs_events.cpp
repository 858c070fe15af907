#include "pctx/pmu/sysfs_events.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pmu/sysfs_format.hpp"

namespace pctx::pmu {

namespace fs = std::filesystem;

namespace {

std::string read_trimmed(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool has_suffix(const std::string& s, std::string_view suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> dir_names(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (!has_suffix(n, ".unit") && !has_suffix(n, ".scale") && !has_suffix(n, ".snapshot") &&
        !has_suffix(n, ".per-pkg")) {
      out.push_back(n);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Applies `key[=value]` terms to the attr; aliases (events/NAME) expand to their own terms.
class TermEncoder {
 public:
  TermEncoder(fs::path dir, std::string pmu) : dir_(std::move(dir)), pmu_(std::move(pmu)) {}

  base::Status apply(const PmuTerm& t, SysfsEncoding& out, int depth = 0) {
    const std::string what = fmt::format("{}/{}/", pmu_, t.key);
    if (t.key == "config" || t.key == "config1" || t.key == "config2") {
      if (!t.value)
        return base::make_error(-EINVAL, fmt::format("'{}' needs a value: {}=0x...", t.key, t.key));
      auto v = parse_term_value(t.key, *t.value);
      if (!v) return v.error();
      *config_word(out.attr, t.key == "config" ? 0 : t.key == "config1" ? 1 : 2) = *v;
      return base::Ok{};
    }
    std::error_code ec;
    if (!t.value && depth == 0 && fs::is_regular_file(dir_ / "events" / t.key, ec)) {
      std::stringstream terms(read_trimmed(dir_ / "events" / t.key));
      std::string item;
      while (std::getline(terms, item, ',')) {
        const size_t eq = item.find('=');
        PmuTerm sub{item.substr(0, eq), std::nullopt};
        if (eq != std::string::npos) sub.value = item.substr(eq + 1);
        if (auto st = apply(sub, out, depth + 1); !st) return st;
      }
      if (auto u = read_trimmed(dir_ / "events" / (t.key + ".unit")); !u.empty()) out.unit = u;
      if (auto s = read_trimmed(dir_ / "events" / (t.key + ".scale")); !s.empty()) {
        out.scale = std::strtod(s.c_str(), nullptr);
      }
      return base::Ok{};
    }
    if (!fs::is_regular_file(dir_ / "format" / t.key, ec)) {
      return base::make_error(
          -ENOENT,
          fmt::format("PMU '{}' has no event or format term '{}'; its events: {}; its terms: "
                      "{} (`pctx list {}/`)",
                      pmu_, t.key, fmt::join(dir_names(dir_ / "events"), ", "),
                      fmt::join(dir_names(dir_ / "format"), ", "), pmu_));
    }
    auto ranges = parse_format(read_trimmed(dir_ / "format" / t.key), what);
    if (!ranges) return ranges.error();
    uint64_t v = 1;
    if (t.value) {
      auto parsed = parse_term_value(t.key, *t.value);
      if (!parsed) return parsed.error();
      v = *parsed;
    }
    // The field's bits take the value's, set or clear: a later term overrides an earlier
    // one (perf's rule), as `event=0xc0,event=0x3c` or an alias followed by its own field.
    const int width = set_field(out.attr, *ranges, v);
    if (width < 64 && (v >> width) != 0) {
      return base::make_error(
          -EINVAL, fmt::format("'{}={}' does not fit the {} bits of {}'s '{}' field", t.key,
                               *t.value, width, pmu_, t.key));
    }
    return base::Ok{};
  }

 private:
  fs::path dir_;
  std::string pmu_;
};

}  // namespace

std::vector<SysfsEvent> sysfs_events(const std::string& root) {
  std::vector<SysfsEvent> out;
  std::error_code ec;
  for (const auto& pmu : fs::directory_iterator(root, ec)) {
    const std::string pmu_name = pmu.path().filename().string();
    for (const auto& name : dir_names(pmu.path() / "events")) {
      SysfsEvent e;
      e.pmu = pmu_name;
      e.name = name;
      e.terms = read_trimmed(pmu.path() / "events" / name);
      e.unit = read_trimmed(pmu.path() / "events" / (name + ".unit"));
      if (auto s = read_trimmed(pmu.path() / "events" / (name + ".scale")); !s.empty()) {
        e.scale = std::strtod(s.c_str(), nullptr);
      }
      out.push_back(std::move(e));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.pmu, a.name) < std::tie(b.pmu, b.name);
  });
  return out;
}

base::Result<SysfsEncoding> encode_sysfs_event(const EventTerm& term, const std::string& root) {
  const fs::path dir = fs::path(root) / term.pmu;
  uint32_t type = 0;
  std::ifstream in(dir / "type");
  if (!(in >> type)) {
    std::vector<std::string> pmus;
    std::error_code ec;
    for (const auto& p : fs::directory_iterator(root, ec)) {
      pmus.push_back(p.path().filename().string());
    }
    std::sort(pmus.begin(), pmus.end());
    return base::make_error(
        -ENOENT, fmt::format("the kernel has no PMU '{}' (in '{}'); its PMUs: {}", term.pmu,
                             term.text, fmt::join(pmus, ", ")));
  }
  SysfsEncoding out;
  out.attr.size = sizeof(perf_event_attr);
  out.attr.type = type;
  TermEncoder encoder(dir, term.pmu);
  for (const auto& t : term.pmu_terms) {
    if (auto st = encoder.apply(t, out); !st) return st.error();
  }
  return out;
}

}  // namespace pctx::pmu

// Fuzzes the CPU-list parser, pctx::cpu::CpuSet::parse, which reads --cpus and the
// kernel's sysfs lists. The input is one list, or two separated by the first ';' (which no
// list contains), so that the set operations meet sets of every shape. Beyond not
// crashing: an error is -EINVAL with a message; a parsed set holds CPUs below kMaxCpus,
// and its accessors agree with each other; printed and parsed again it is the same set,
// printed the same way; and union, intersection and difference obey their algebra.
#include <cerrno>
#include <string>

#include "fuzz_check.hpp"
#include "pctx/cpu/cpu_set.hpp"

namespace {

using pctx::cpu::CpuSet;
using pctx::fuzz::check;

// Parses one list into `out` and checks what must hold of it; false when the list was
// refused.
bool parse_and_check(std::string_view text, CpuSet& out) {
  auto parsed = CpuSet::parse(text);
  if (!parsed) {
    pctx::fuzz::check_error(parsed.error(), -EINVAL, "bad CPU list '");
    return false;
  }
  const CpuSet& s = *parsed;
  const auto cpus = s.cpus();
  for (size_t i = 0; i < cpus.size(); ++i) {
    check(cpus[i] >= 0 && cpus[i] < CpuSet::kMaxCpus, "a parsed CPU is below kMaxCpus");
    check(i == 0 || cpus[i - 1] < cpus[i], "cpus() lists each CPU once, in ascending order");
    check(s.test(cpus[i]), "test() holds for every listed CPU");
  }
  check(s.count() == static_cast<int>(cpus.size()) && s.empty() == cpus.empty(),
        "count() and empty() agree with cpus()");
  check(s.first() == (cpus.empty() ? -1 : cpus.front()) &&
            s.last() == (cpus.empty() ? -1 : cpus.back()),
        "first() and last() are the lowest and highest CPUs, -1 when empty");
  const std::string printed = s.to_string();
  auto again = CpuSet::parse(printed);
  check(again && *again == s, "a set printed and parsed again is the same set");
  check(again->to_string() == printed, "a printed set prints the same once reparsed");
  CpuSet emptied = s;
  for (int c : cpus) emptied.reset(c);
  check(emptied.empty() && emptied == CpuSet(), "resetting every CPU empties the set");
  out = s;
  return true;
}

void check_algebra(const CpuSet& a, const CpuSet& b) {
  check((a | a) == a && (a & a) == a && (a - a).empty(), "union and intersection are idempotent");
  check((a | b) == (b | a) && (a & b) == (b & a), "union and intersection commute");
  check((a | b).count() == a.count() + b.count() - (a & b).count(),
        "|a union b| = |a| + |b| - |a intersection b|");
  check(((a - b) | (a & b)) == a && ((a - b) & b).empty(),
        "a minus b and a intersection b split a, and a minus b misses b");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = pctx::fuzz::as_text(data, size);
  const size_t split = text.find(';');
  CpuSet a, b;
  const bool a_ok = parse_and_check(text.substr(0, split), a);
  if (split == std::string_view::npos) {
    if (a_ok) check_algebra(a, a);
    return 0;
  }
  if (parse_and_check(text.substr(split + 1), b) && a_ok) check_algebra(a, b);
  return 0;
}

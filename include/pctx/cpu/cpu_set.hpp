// A set of CPU numbers that parses and prints like the kernel's CPU lists ("0-3,7").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pctx/base/result.hpp"

namespace pctx::cpu {

class CpuSet {
 public:
  // CONFIG_NR_CPUS tops out at 8192 on x86-64; a larger number is a typo.
  static constexpr int kMaxCpus = 8192;

  CpuSet() = default;
  static CpuSet of(std::initializer_list<int> cpus);

  // "0-3,7", "0,2-4", "" (empty), as the kernel prints CPU lists. Ranges may also have a
  // stride, pctx's own shorthand: "0-7:2" is 0,2,4,6. (The kernel's bitmap_parselist writes
  // groups differently, "0-7:2/4" for 0,1,4,5, which pctx does not take.) Errors are -EINVAL
  // and name the bad part.
  static base::Result<CpuSet> parse(std::string_view text);

  void set(int cpu);
  void reset(int cpu);
  bool test(int cpu) const;
  int count() const;
  bool empty() const { return count() == 0; }
  int first() const;  // -1 when empty
  int last() const;   // -1 when empty
  std::vector<int> cpus() const;

  std::string to_string() const;  // kernel format, "" when empty

  CpuSet operator&(const CpuSet& o) const;
  CpuSet operator|(const CpuSet& o) const;
  CpuSet operator-(const CpuSet& o) const;
  bool operator==(const CpuSet& o) const;

 private:
  std::vector<uint64_t> words_;
};

}  // namespace pctx::cpu

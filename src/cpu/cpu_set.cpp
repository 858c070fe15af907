#include "pctx/cpu/cpu_set.hpp"

#include <bit>
#include <cctype>
#include <cerrno>

#include <fmt/format.h>

namespace pctx::cpu {

CpuSet CpuSet::of(std::initializer_list<int> cpus) {
  CpuSet s;
  for (int c : cpus) s.set(c);
  return s;
}

void CpuSet::set(int cpu) {
  const size_t w = static_cast<size_t>(cpu) / 64;
  if (words_.size() <= w) words_.resize(w + 1, 0);
  words_[w] |= uint64_t{1} << (cpu % 64);
}

void CpuSet::reset(int cpu) {
  const size_t w = static_cast<size_t>(cpu) / 64;
  if (w < words_.size()) words_[w] &= ~(uint64_t{1} << (cpu % 64));
}

bool CpuSet::test(int cpu) const {
  if (cpu < 0) return false;
  const size_t w = static_cast<size_t>(cpu) / 64;
  return w < words_.size() && (words_[w] >> (cpu % 64) & 1);
}

int CpuSet::count() const {
  int n = 0;
  for (uint64_t w : words_) n += std::popcount(w);
  return n;
}

int CpuSet::first() const {
  for (size_t i = 0; i < words_.size(); ++i) {
    if (words_[i] != 0) return static_cast<int>(i * 64) + std::countr_zero(words_[i]);
  }
  return -1;
}

int CpuSet::last() const {
  for (size_t i = words_.size(); i-- > 0;) {
    if (words_[i] != 0) return static_cast<int>(i * 64) + 63 - std::countl_zero(words_[i]);
  }
  return -1;
}

std::vector<int> CpuSet::cpus() const {
  std::vector<int> out;
  for (size_t i = 0; i < words_.size(); ++i) {
    for (uint64_t w = words_[i]; w != 0; w &= w - 1) {
      out.push_back(static_cast<int>(i * 64) + std::countr_zero(w));
    }
  }
  return out;
}

std::string CpuSet::to_string() const {
  std::string out;
  const auto list = cpus();
  for (size_t i = 0; i < list.size();) {
    size_t j = i;
    while (j + 1 < list.size() && list[j + 1] == list[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", list[i]) : fmt::format("{}-{}", list[i], list[j]);
    i = j + 1;
  }
  return out;
}

namespace {

base::Error bad(std::string_view text, std::string_view why) {
  return base::make_error(-EINVAL, fmt::format("bad CPU list '{}': {}; write CPUs like the kernel "
                                               "does, e.g. 0-3,7",
                                               text, why));
}

// Reads a decimal number at `pos`, advancing it. -1 when there is none or it is too big.
int read_number(std::string_view s, size_t& pos) {
  if (pos >= s.size() || !std::isdigit(static_cast<unsigned char>(s[pos]))) return -1;
  long v = 0;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
    v = v * 10 + (s[pos++] - '0');
    if (v >= CpuSet::kMaxCpus) return -2;
  }
  return static_cast<int>(v);
}

}  // namespace

base::Result<CpuSet> CpuSet::parse(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  CpuSet out;
  if (s.empty()) return out;
  size_t pos = 0;
  while (true) {
    const size_t start = pos;
    const int lo = read_number(s, pos);
    if (lo == -2) return bad(text, fmt::format("CPU number too large (at most {})", kMaxCpus - 1));
    if (lo < 0) {
      return bad(text, pos < s.size() ? fmt::format("unexpected '{}'", s[pos]) : "missing CPU");
    }
    int hi = lo, stride = 1;
    if (pos < s.size() && s[pos] == '-') {
      ++pos;
      hi = read_number(s, pos);
      if (hi == -2)
        return bad(text, fmt::format("CPU number too large (at most {})", kMaxCpus - 1));
      if (hi < 0) return bad(text, "a range needs an end, as in 0-3");
      if (hi < lo) {
        return bad(text, fmt::format("range '{}' runs backwards", s.substr(start, pos - start)));
      }
      if (pos < s.size() && s[pos] == ':') {
        ++pos;
        stride = read_number(s, pos);
        if (stride <= 0) return bad(text, "a stride must be a positive number, as in 0-7:2");
      }
    }
    for (int c = lo; c <= hi; c += stride) out.set(c);
    if (pos == s.size()) return out;
    if (s[pos] != ',') return bad(text, fmt::format("unexpected '{}'", s[pos]));
    ++pos;
  }
}

CpuSet CpuSet::operator&(const CpuSet& o) const {
  CpuSet r;
  r.words_.resize(std::min(words_.size(), o.words_.size()));
  for (size_t i = 0; i < r.words_.size(); ++i) r.words_[i] = words_[i] & o.words_[i];
  return r;
}

CpuSet CpuSet::operator|(const CpuSet& o) const {
  CpuSet r = words_.size() >= o.words_.size() ? *this : o;
  const CpuSet& small = words_.size() >= o.words_.size() ? o : *this;
  for (size_t i = 0; i < small.words_.size(); ++i) r.words_[i] |= small.words_[i];
  return r;
}

CpuSet CpuSet::operator-(const CpuSet& o) const {
  CpuSet r = *this;
  for (size_t i = 0; i < std::min(r.words_.size(), o.words_.size()); ++i) {
    r.words_[i] &= ~o.words_[i];
  }
  return r;
}

bool CpuSet::operator==(const CpuSet& o) const {
  return cpus() == o.cpus();
}

}  // namespace pctx::cpu

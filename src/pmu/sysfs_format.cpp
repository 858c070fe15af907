#include "pmu/sysfs_format.hpp"

#include <cerrno>
#include <charconv>
#include <optional>
#include <string_view>

#include <fmt/format.h>

namespace pctx::pmu {

namespace {

// A bit number as the kernel writes one, decimal without leading zeros, from 0 to 63; it
// advances `pos` past the digits. Anything else is a format pctx does not understand, not
// one to guess at: sscanf's "%d" took "1=" for 1 and wrapped 4294967296 to 0.
std::optional<int> read_bit(std::string_view s, size_t& pos) {
  const size_t start = pos;
  int bit = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && bit <= 63) {
    bit = bit * 10 + (s[pos++] - '0');
  }
  const size_t digits = pos - start;
  if (digits == 0 || (digits > 1 && s[start] == '0') || bit > 63) return std::nullopt;
  return bit;
}

// The digits of a value in `base`, all of them, into a 64-bit number.
std::optional<uint64_t> read_digits(std::string_view digits, int base) {
  uint64_t v = 0;
  const char* end = digits.data() + digits.size();
  const auto [ptr, ec] = std::from_chars(digits.data(), end, v, base);
  if (digits.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

}  // namespace

// word:RANGE[,RANGE...], RANGE being N or N-M with N <= M, as the kernel's format files are.
base::Result<std::vector<BitRange>> parse_format(const std::string& text, const std::string& what) {
  const auto not_understood = [&] {
    return base::make_error(-EINVAL,
                            fmt::format("{}: the kernel's format '{}' is not understood (pctx "
                                        "reads config, config1 or config2 and bits 0 to 63, "
                                        "as in config1:0-7,32-35)",
                                        what, text));
  };
  const size_t colon = text.find(':');
  const std::string_view word = std::string_view(text).substr(0, colon);
  const int w = word == "config" ? 0 : word == "config1" ? 1 : word == "config2" ? 2 : -1;
  if (colon == std::string::npos || w < 0) return not_understood();
  const std::string_view ranges = std::string_view(text).substr(colon + 1);
  std::vector<BitRange> out;
  size_t pos = 0;
  while (true) {
    const auto low = read_bit(ranges, pos);
    if (!low) return not_understood();
    BitRange r{w, *low, *low};
    if (pos < ranges.size() && ranges[pos] == '-') {
      const auto high = read_bit(ranges, ++pos);
      if (!high || *high < *low) return not_understood();
      r.high = *high;
    }
    out.push_back(r);
    if (pos == ranges.size()) return out;
    if (ranges[pos++] != ',') return not_understood();
  }
}

// Decimal or 0x hexadecimal, as perf reads them: "010" is ten, not octal eight; no sign,
// no blanks (strtoull skipped a '\v' and took "\v-1" for 2^64 - 1).
base::Result<uint64_t> parse_term_value(const std::string& key, const std::string& text) {
  const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  const auto v = read_digits(std::string_view(text).substr(hex ? 2 : 0), hex ? 16 : 10);
  if (!v) {
    return base::make_error(-EINVAL,
                            fmt::format("'{}={}': the value must be a number, decimal or 0x "
                                        "hexadecimal, at most 64 bits",
                                        key, text));
  }
  return *v;
}

__u64* config_word(perf_event_attr& attr, int word) {
  return word == 0 ? &attr.config : word == 1 ? &attr.config1 : &attr.config2;
}

int set_field(perf_event_attr& attr, const std::vector<BitRange>& field, uint64_t value) {
  int width = 0;
  for (const auto& r : field) {
    for (int bit = r.low; bit <= r.high; ++bit, ++width) {
      const __u64 mask = __u64{1} << bit;
      if (width < 64 && ((value >> width) & 1)) {
        *config_word(attr, r.word) |= mask;
      } else {
        *config_word(attr, r.word) &= ~mask;
      }
    }
  }
  return width;
}

}  // namespace pctx::pmu

// Fuzzes the sysfs term syntax of kernel-PMU events (`cpu/event=0x3c,umask=0x1/`): the
// format a PMU gives each field (parse_format over format/FIELD's text, `config1:0-7`)
// and the value a user or an events/ alias gives it (parse_term_value), then the field
// filled (set_field). The input is a format's text, a newline, and a value's text. Beyond
// not crashing: errors are -EINVAL and name their culprit; an accepted format is written
// as the kernel writes it, word:N-M,..., with bits 0 to 63; an accepted value is written
// in decimal or 0x hexadecimal and prints back as written; and a value that fits a field
// reads back from the field's bits, every other bit left as it was.
#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "fuzz_check.hpp"
#include "pmu/sysfs_format.hpp"

namespace {

using namespace pctx::pmu;
using pctx::fuzz::check;

void check_format_text(const std::string& text, const std::vector<BitRange>& ranges) {
  std::string_view items = std::string_view(text).substr(text.find(':') + 1);
  for (const BitRange& r : ranges) {
    check(r.word >= 0 && r.word <= 2 && r.word == ranges[0].word, "a format fills one config word");
    check(0 <= r.low && r.low <= r.high && r.high <= 63,
          "a format's bits are 0 to 63, low to high");
    const size_t comma = items.find(',');
    const std::string_view item = items.substr(0, comma);
    items.remove_prefix(comma == std::string_view::npos ? items.size() : comma + 1);
    check(item == fmt::format("{}-{}", r.low, r.high) ||
              (r.low == r.high && item == fmt::format("{}", r.low)),
          "an accepted format is written as the kernel writes it: word:N-M,...");
  }
  check(items.empty(), "an accepted format has one range per item");
}

void check_value_text(const std::string& text, uint64_t value) {
  const bool hex = text.starts_with("0x") || text.starts_with("0X");
  std::string digits = hex ? text.substr(2) : text;
  while (digits.size() > 1 && digits[0] == '0') digits.erase(0, 1);
  const std::string printed = hex ? fmt::format("{:x}", value) : fmt::format("{}", value);
  std::string lower = digits;
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
  check(printed == lower, "an accepted value is decimal or 0x hexadecimal, and prints back so");
}

// Fills the field from every starting state that matters (all bits clear, all set) and
// checks the value reads back from the field and nothing else moved.
void check_field(const std::vector<BitRange>& field, uint64_t value) {
  __u64 masks[3] = {0, 0, 0};
  for (const auto& r : field) {
    for (int bit = r.low; bit <= r.high; ++bit) {
      if (masks[r.word] >> bit & 1) return;  // overlapping ranges: no kernel writes them
      masks[r.word] |= __u64{1} << bit;
    }
  }
  for (const __u64 start : {__u64{0}, ~__u64{0}}) {
    perf_event_attr attr{};
    attr.config = attr.config1 = attr.config2 = start;
    const int width = set_field(attr, field, value);
    uint64_t read = 0;
    int shift = 0;
    for (const auto& r : field) {
      for (int bit = r.low; bit <= r.high; ++bit, ++shift) {
        if (shift < 64) read |= ((*config_word(attr, r.word) >> bit) & 1) << shift;
      }
    }
    check(width == shift, "set_field returns the field's width");
    const bool fits = width >= 64 || (value >> width) == 0;
    check(!fits || read == value, "a value that fits its field reads back from the field's bits");
    for (int w = 0; w < 3; ++w) {
      check((*config_word(attr, w) & ~masks[w]) == (start & ~masks[w]),
            "filling a field leaves every other bit as it was");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = pctx::fuzz::as_text(data, size);
  const size_t newline = text.find('\n');
  const std::string format(text.substr(0, newline));
  const std::string value_text(newline == std::string_view::npos ? "" : text.substr(newline + 1));

  const auto field = parse_format(format, "cpu/f/");
  if (!field) pctx::fuzz::check_error(field.error(), -EINVAL, "cpu/f/: ");
  if (field) check_format_text(format, *field);

  const auto value = parse_term_value("f", value_text);
  if (!value) pctx::fuzz::check_error(value.error(), -EINVAL, "'f=");
  if (value) check_value_text(value_text, *value);

  if (field && value) check_field(*field, *value);
  return 0;
}

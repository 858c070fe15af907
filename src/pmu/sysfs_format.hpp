// The text of a kernel PMU's format files and of term values, apart from sysfs, so that
// tests and the fuzzer can give it any text. A format (format/FIELD: `config1:0-7,32-35`)
// says which bits of which config word a field fills; a value (`umask=0x3`) is what a user
// or an events/ alias puts in a field.
#pragma once

#include <linux/perf_event.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pctx/base/result.hpp"

namespace pctx::pmu {

// One bit range of a format: `config1:8-15` fills bits 8..15 of config1.
struct BitRange {
  int word = 0;  // 0: config, 1: config1, 2: config2
  int low = 0, high = 0;
};

// A format file's text; errors (-EINVAL) begin with `what`, the field as the user wrote it.
base::Result<std::vector<BitRange>> parse_format(const std::string& text, const std::string& what);

// A term's value, decimal or 0x hexadecimal; errors (-EINVAL) quote `key=text`.
base::Result<uint64_t> parse_term_value(const std::string& key, const std::string& text);

__u64* config_word(perf_event_attr& attr, int word);

// Fills the field's bits with the value's, lowest bits first, each set or cleared, and
// returns the field's width in bits: the value fits when it has no bit at or above it.
int set_field(perf_event_attr& attr, const std::vector<BitRange>& field, uint64_t value);

}  // namespace pctx::pmu

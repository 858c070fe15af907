// The hotplug journal's text apart from its file: HotplugJournal reads and writes the file
// through these, and tests and the fuzzer call them on strings.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace pctx::cpu {

using JournalEntries = std::map<int, long>;  // CPU -> the pid of the process that took it down

// One "CPU PID" line per entry, blanks around and between allowed; a later line for a CPU
// wins. A damaged line (not two decimal numbers, a CPU outside 0 to CpuSet::kMaxCpus - 1,
// a pid below 1) is skipped, and dropped at the next write: it costs only itself, never
// the lines after it.
JournalEntries parse_journal(std::string_view text);

// "CPU PID\n" per entry, by CPU.
std::string format_journal(const JournalEntries& entries);

}  // namespace pctx::cpu

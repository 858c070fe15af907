// Fuzzes the hotplug journal's reader, parse_journal (HotplugJournal reads its file
// through it), and its writer, format_journal. The journal outlives crashed processes and
// `pctx hotplug restore` acts as root on what it says, so damage to the file must cost at
// most the damaged lines. Beyond not crashing: every entry read is a CPU below kMaxCpus
// taken down by a positive pid; entries the writer writes, as many as the input's bytes
// make, read back the same; and a line the writer writes, appended to any text, reads back.
#include <string>

#include "cpu/journal_text.hpp"
#include "fuzz_check.hpp"
#include "pctx/cpu/cpu_set.hpp"

namespace {

using namespace pctx::cpu;
using pctx::fuzz::check;

// Entries made of the input's bytes, four per entry, so that the writer sees every CPU
// and pid shape, independently of what the reader accepts.
JournalEntries entries_of(const uint8_t* data, size_t size) {
  JournalEntries entries;
  for (size_t i = 0; i + 4 <= size; i += 4) {
    const int cpu = (data[i] << 8 | data[i + 1]) % CpuSet::kMaxCpus;
    entries[cpu] = 1 + (data[i + 2] << 8 | data[i + 3]);
  }
  return entries;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = pctx::fuzz::as_text(data, size);
  const JournalEntries read = parse_journal(text);
  for (const auto& [cpu, pid] : read) {
    check(cpu >= 0 && cpu < CpuSet::kMaxCpus, "a journaled CPU is below kMaxCpus");
    check(pid > 0, "a journaled CPU was taken down by a positive pid");
  }
  check(parse_journal(format_journal(read)) == read, "what was read, written, reads the same");

  const JournalEntries made = entries_of(data, size);
  check(parse_journal(format_journal(made)) == made, "what the writer writes reads back the same");

  // The entry the writer's own line gives wins over anything before it for its CPU.
  const int cpu = static_cast<int>(size % CpuSet::kMaxCpus);
  const long pid = 4242 + static_cast<long>(size);
  std::string appended(text);
  if (!appended.empty() && appended.back() != '\n') appended += '\n';
  appended += format_journal({{cpu, pid}});
  const JournalEntries after = parse_journal(appended);
  const auto it = after.find(cpu);
  check(it != after.end() && it->second == pid,
        "a line the writer writes reads back after any text");
  return 0;
}

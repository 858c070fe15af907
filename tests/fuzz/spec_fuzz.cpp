// Fuzzes the event-spec parser, pctx::pmu::parse_spec, which reads what users type after
// -e. Beyond not crashing: an error is -EINVAL and points, with its column and a caret,
// into the spec; a parsed spec has groups, each with events, each with a name that begins
// its text, found in the spec at its column; and the spec written back from the parse
// (each event's text, the braces, the group modifiers) parses to the same events.
#include <cerrno>
#include <string>

#include "fuzz_check.hpp"
#include "pctx/pmu/spec.hpp"

namespace {

using pctx::fuzz::check;
using namespace pctx::pmu;

constexpr std::string_view kErrorPrefix = "bad event spec at column ";

void check_spec_error(std::string_view spec, const pctx::base::Error& error) {
  pctx::fuzz::check_error(error, -EINVAL, kErrorPrefix);
  size_t column = 0;
  for (size_t i = kErrorPrefix.size(); i < error.message.size() && column <= spec.size() + 1; ++i) {
    const char c = error.message[i];
    if (c < '0' || c > '9') break;
    column = column * 10 + static_cast<size_t>(c - '0');
  }
  check(column >= 1 && column <= spec.size() + 1,
        "an error's column is in the spec, or just past its end");
  check(error.message.find('^') != std::string::npos, "an error shows a caret under the culprit");
}

void check_event(std::string_view spec, const EventTerm& e) {
  check(!e.name.empty(), "an event has a name");
  check(e.column >= 1 && e.column <= spec.size() && spec.substr(e.column - 1).starts_with(e.text),
        "an event's text is in the spec at its column");
  check(e.text.starts_with(e.name), "an event's name begins its text");
  check(e.modifiers.precise >= 0 && e.modifiers.precise <= 3, "at most three 'p' modifiers");
  check(!e.raw || e.name[0] == 'r', "a raw code is written rNNNN");
  if (e.pmu.empty()) {
    check(e.pmu_terms.empty(), "only a kernel-PMU event has terms");
    return;
  }
  check(!e.raw && !e.pmu_terms.empty() && e.name.starts_with(e.pmu + "/") && e.name.ends_with("/"),
        "a kernel-PMU event is named pmu/terms/ and has at least one term");
  for (const auto& t : e.pmu_terms) {
    check(!t.key.empty() && (!t.value || !t.value->empty()),
          "a term has a key, and a value if '='");
  }
}

// The spec as its parse says it was written: each event's text, braces around the groups
// that had them, and a group's modifiers after its '}'.
std::string write_back(const ParsedSpec& spec) {
  std::string out;
  for (const auto& g : spec.groups) {
    if (!out.empty()) out += ',';
    if (g.braced) out += '{';
    for (size_t i = 0; i < g.events.size(); ++i) out += (i > 0 ? "," : "") + g.events[i].text;
    if (g.braced) out += '}';
    if (!g.modifier_text.empty()) out += ':' + g.modifier_text;
  }
  return out;
}

bool same_event(const EventTerm& a, const EventTerm& b) {
  if (a.text != b.text || a.name != b.name || a.raw != b.raw || a.pmu != b.pmu ||
      a.pmu_terms.size() != b.pmu_terms.size()) {
    return false;
  }
  for (size_t i = 0; i < a.pmu_terms.size(); ++i) {
    if (a.pmu_terms[i].key != b.pmu_terms[i].key || a.pmu_terms[i].value != b.pmu_terms[i].value) {
      return false;
    }
  }
  const Modifiers &m = a.modifiers, &n = b.modifiers;
  return m.user == n.user && m.kernel == n.kernel && m.hv == n.hv && m.precise == n.precise;
}

bool same_spec(const ParsedSpec& a, const ParsedSpec& b) {
  if (a.groups.size() != b.groups.size()) return false;
  for (size_t g = 0; g < a.groups.size(); ++g) {
    const GroupTerm &x = a.groups[g], &y = b.groups[g];
    if (x.braced != y.braced || x.modifier_text != y.modifier_text ||
        x.events.size() != y.events.size()) {
      return false;
    }
    for (size_t e = 0; e < x.events.size(); ++e) {
      if (!same_event(x.events[e], y.events[e])) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = pctx::fuzz::as_text(data, size);
  const auto parsed = parse_spec(text);
  if (!parsed) {
    check_spec_error(text, parsed.error());
    return 0;
  }
  check(!parsed->groups.empty(), "a parsed spec has at least one group");
  size_t events = 0;
  for (const auto& g : parsed->groups) {
    check(!g.events.empty(), "a group has at least one event");
    check(g.braced || (g.events.size() == 1 && g.modifier_text.empty()),
          "an unbraced group is one event, without group modifiers");
    for (const auto& e : g.events) check_event(text, e);
    events += g.events.size();
  }
  check(parsed->event_count() == events, "event_count() counts every group's events");
  const auto again = parse_spec(write_back(*parsed));
  check(again && same_spec(*parsed, *again), "a spec written back from its parse parses the same");
  return 0;
}

// The one event catalog: perf's software events by name and alias, pctx's tsc, kernel PMUs
// in sysfs, and what list_events says is usable on this machine (which opens events, so
// these are kernel tests).
#include "pctx/pmu/catalog.hpp"

#include <linux/perf_event.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>

#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/software_events.hpp"
#include "pctx/pmu/spec.hpp"

namespace pctx::pmu {
namespace {

// The one event of a spec, as the parser makes it.
EventTerm term_of(const std::string& spec) {
  auto parsed = parse_spec(spec);
  EXPECT_TRUE(parsed) << spec << ": " << parsed.error().message;
  if (!parsed || parsed->event_count() != 1) return {};
  return parsed->groups[0].events[0];
}

base::Result<ResolvedEvent> resolve(const std::string& spec) {
  return resolve_event(term_of(spec));
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool msr_present() {
  return std::filesystem::exists("/sys/bus/event_source/devices/msr");
}

TEST(SoftwareCatalog, EveryNameAndAliasResolvesToItsSoftwareEvent) {
  ASSERT_FALSE(software_events().empty());
  for (const auto& e : software_events()) {
    std::vector<std::string> spellings = {std::string(e.name), upper(e.name)};
    if (!e.alias.empty()) {
      spellings.emplace_back(e.alias);
      spellings.push_back(upper(e.alias));
    }
    for (const auto& s : spellings) {
      auto r = resolve(s);
      ASSERT_TRUE(r) << s << ": " << r.error().message;
      EXPECT_EQ(r->source, EventSource::kSoftware) << s;
      EXPECT_EQ(r->encoded.attr.type, static_cast<uint32_t>(PERF_TYPE_SOFTWARE)) << s;
      EXPECT_EQ(r->encoded.attr.config, e.config) << s;
      EXPECT_EQ(r->name, e.name) << s << " does not resolve to the canonical name";
      EXPECT_EQ(r->encoded.canonical, e.name) << s;
      EXPECT_EQ(r->encoded.text, s) << "the text is kept as written";
      EXPECT_EQ(r->unit, e.unit) << s;
      EXPECT_DOUBLE_EQ(r->scale, e.scale) << s;
      EXPECT_EQ(find_software_event(s), &e) << s;
    }
  }
}

TEST(SoftwareCatalog, PerfsAliasesAndUnits) {
  EXPECT_EQ(resolve("cs")->name, "context-switches");
  EXPECT_EQ(resolve("faults")->name, "page-faults");
  EXPECT_EQ(resolve("migrations")->name, "cpu-migrations");
  EXPECT_EQ(resolve("task-clock")->encoded.attr.config, uint64_t{PERF_COUNT_SW_TASK_CLOCK});
  EXPECT_EQ(resolve("task-clock")->unit, "msec");
  EXPECT_DOUBLE_EQ(resolve("cpu-clock")->scale, 1e-6);
  EXPECT_EQ(resolve("cs")->unit, "");
  EXPECT_EQ(find_software_event("c"), nullptr);
  EXPECT_EQ(find_software_event(""), nullptr) << "an empty name matched an empty alias";
}

TEST(SoftwareCatalog, PrivilegeModifiersSetTheExcludeBits) {
  auto u = resolve("task-clock:u");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->encoded.attr.exclude_user, 0u);
  EXPECT_EQ(u->encoded.attr.exclude_kernel, 1u);
  EXPECT_EQ(u->encoded.attr.exclude_hv, 1u);
  EXPECT_EQ(u->name, "task-clock");
  EXPECT_EQ(u->encoded.text, "task-clock:u");

  auto k = resolve("cs:k");
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->encoded.attr.exclude_user, 1u);
  EXPECT_EQ(k->encoded.attr.exclude_kernel, 0u);
  EXPECT_EQ(k->encoded.attr.exclude_hv, 1u);
  EXPECT_EQ(k->name, "context-switches");

  // Without a privilege letter every level is counted.
  auto all = resolve("page-faults");
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->encoded.attr.exclude_user, 0u);
  EXPECT_EQ(all->encoded.attr.exclude_kernel, 0u);
  EXPECT_EQ(all->encoded.attr.exclude_hv, 0u);
}

TEST(Catalog, TscIsPctxsOwnAndTakesNoModifiers) {
  auto r = resolve("tsc");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->source, EventSource::kTsc);
  EXPECT_EQ(r->name, "tsc");
  // Any case, as the software events' names.
  auto upper = resolve("TSC");
  ASSERT_TRUE(upper) << upper.error().message;
  EXPECT_EQ(upper->source, EventSource::kTsc);
  for (const char* spec : {"tsc:u", "tsc:k", "tsc:p"}) {
    auto bad = resolve(spec);
    ASSERT_FALSE(bad) << spec << " resolved";
    EXPECT_EQ(bad.error().code, -EINVAL) << spec;
    EXPECT_NE(bad.error().message.find("tsc takes no modifiers"), std::string::npos)
        << bad.error().message;
  }
}

TEST(Catalog, AnUnknownNameSuggestsTheCloseOnes) {
  auto r = resolve("tcs");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, -ENOENT);
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("unknown event 'tcs'"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean"), std::string::npos) << m;
  const std::string suggestions = m.substr(m.find("did you mean"));
  EXPECT_NE(suggestions.find("cs"), std::string::npos) << m;
  EXPECT_NE(suggestions.find("tsc"), std::string::npos) << m;
}

TEST(Catalog, KnownNamesHoldTscAndEverySoftwareNameAndAlias) {
  const auto& names = known_event_names();
  auto has = [&](std::string_view n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  EXPECT_TRUE(has("tsc"));
  for (const auto& e : software_events()) {
    EXPECT_TRUE(has(e.name)) << e.name;
    if (!e.alias.empty()) {
      EXPECT_TRUE(has(e.alias)) << e.alias;
    }
  }
  EXPECT_EQ(software_event_names().size(), software_events().size());
}

TEST(Catalog, MsrTscIsAKernelPmuEvent) {
  if (!msr_present()) GTEST_SKIP() << "no msr PMU in /sys/bus/event_source/devices";
  auto r = resolve("msr/tsc/");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->source, EventSource::kKernelPmu);
  EXPECT_EQ(r->name, "msr/tsc/");
  EXPECT_NE(r->encoded.attr.type, static_cast<uint32_t>(PERF_TYPE_SOFTWARE));
  EXPECT_EQ(r->encoded.kernel_pmu(), "msr");
}

TEST(Catalog, AnUnknownKernelPmuIsRefusedWithThePmus) {
  auto r = resolve("nosuchpmu/tsc/");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, -ENOENT);
  EXPECT_NE(r.error().message.find("its PMUs: "), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("software"), std::string::npos) << r.error().message;
}

TEST(Catalog, ListHasTscAndEverySoftwareEventUsableHere) {
  ListOptions o;
  o.hardware_pmu = probe_capabilities().hardware_pmu;
  const auto events = list_events(o);
  auto find = [&](std::string_view name) -> const EventDescription* {
    for (const auto& d : events) {
      if (d.name == name) return &d;
    }
    return nullptr;
  };
  const EventDescription* tsc = find("tsc");
  ASSERT_NE(tsc, nullptr);
  EXPECT_TRUE(tsc->usable);
  EXPECT_EQ(tsc->source, EventSource::kTsc);
  for (const auto& e : software_events()) {
    const EventDescription* d = find(e.name);
    ASSERT_NE(d, nullptr) << e.name << " is not listed";
    EXPECT_TRUE(d->usable) << e.name << ": " << d->note;
    EXPECT_EQ(d->source, EventSource::kSoftware) << e.name;
    EXPECT_EQ(d->unit, e.unit) << e.name;
    if (!e.alias.empty()) {
      EXPECT_NE(std::find(d->aliases.begin(), d->aliases.end(), e.alias), d->aliases.end())
          << e.name << " is listed without its alias " << e.alias;
    }
  }
  for (const auto& d : events) EXPECT_TRUE(d.usable) << d.name << " listed without --all";
}

TEST(Catalog, ThePatternMatchesAliasesToo) {
  ListOptions o;
  o.pattern = "cs";
  const auto events = list_events(o);
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const auto& d) {
    return d.name == "context-switches";
  })) << "the alias 'cs' did not match";
}

TEST(Catalog, WithAllEveryUnusableEventSaysWhy) {
  ListOptions o;
  o.hardware_pmu = probe_capabilities().hardware_pmu;
  o.include_absent = true;
  const auto events = list_events(o);
  size_t hardware = 0, unusable = 0;
  for (const auto& d : events) {
    if (d.hardware) ++hardware;
    if (!d.usable) {
      ++unusable;
      EXPECT_FALSE(d.note.empty()) << d.name << " is unusable and the list does not say why";
      EXPECT_TRUE(d.modifiers.empty()) << d.name;
    }
    if (d.hardware && !o.hardware_pmu) {
      EXPECT_FALSE(d.usable) << d.name;
    }
  }
  if (!o.hardware_pmu) {
    EXPECT_GT(hardware, 0u) << "--all lists no hardware event";
    EXPECT_GT(unusable, 0u);
  }
}

}  // namespace
}  // namespace pctx::pmu

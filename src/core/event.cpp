#include "core/event.hpp"

#include <atomic>

#include "core/context.hpp"

namespace pctx::core {

namespace {
std::atomic<long> g_events{0};
std::atomic<int> g_next_id{1};
}  // namespace

const char* to_string(EventState s) {
  switch (s) {
    case EventState::kDead:
      return "dead";
    case EventState::kExit:
      return "exit";
    case EventState::kError:
      return "error";
    case EventState::kOff:
      return "off";
    case EventState::kInactive:
      return "inactive";
    case EventState::kActive:
      return "active";
  }
  return "?";
}

Event* Event::create(const EventAttr& attr, Event* leader) {
  // The leader's list grows first: if memory runs out, it throws before anything is made.
  if (leader != nullptr) leader->siblings.reserve(leader->siblings.size() + 1);
  auto* e = new Event();
  internal::assert_unlinked(e);  // new: its creator's alone
  e->attr = attr;
  e->config = attr.config;  // the driver's copy; install changes only attr.cpu
  e->id = g_next_id.fetch_add(1);
  e->state = attr.disabled ? EventState::kOff : EventState::kInactive;
  if (leader != nullptr) {
    e->leader = leader;
    leader->siblings.push_back(e);  // the sibling's first reference is its leader's
  }
  g_events.fetch_add(1);
  return e;
}

Event::~Event() {
  g_events.fetch_sub(1);
}

void Event::put() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // A leader releases its siblings; one kept alive by another reference stands alone.
  for (Event* s : siblings) {
    s->leader = s;
    s->put();
  }
  delete this;
}

long Event::alive() {
  return g_events.load();
}

void get_event(Event* event) {
  event->get();
}

void put_event(Event* event) {
  event->put();
}

int event_id(const Event* event) {
  return event->id;
}

}  // namespace pctx::core

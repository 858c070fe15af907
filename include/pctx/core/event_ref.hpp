// Events as their users hold them: an opaque core::Event*, made by PerfCore::create_event
// and released with put_event. Everything else about an event is asked of the core (read,
// read_group, enable, install, ...), which knows the locks that guard it; the event's body
// is the core's own (src/core/event.hpp).
#pragma once

namespace pctx::core {

class Event;

// Reference counting, libperf style: a leader is created with one reference, the
// caller's; a sibling's first reference is its leader's (callers only borrow it, or take
// their own with get_event to keep it longer). The last put_event frees the event, and a
// leader's last one releases its siblings' first references.
void get_event(Event* event);
void put_event(Event* event);

// A number that names the event in messages, unique in the process.
int event_id(const Event* event);

}  // namespace pctx::core

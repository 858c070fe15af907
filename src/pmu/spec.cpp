#include "pctx/pmu/spec.hpp"

#include <cctype>
#include <cerrno>

#include <fmt/format.h>

namespace pctx::pmu {

namespace {

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
         c == ':' || c == '=';
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n';
}

bool is_modifier_letter(char c) {
  return c == 'u' || c == 'k' || c == 'h' || c == 'p';
}

// Recursive descent over a spec. Every error names the column and shows it with a caret.
class Parser {
 public:
  explicit Parser(std::string_view spec) : spec_(spec) {}

  base::Result<ParsedSpec> parse() {
    ParsedSpec out;
    skip_space();
    if (at_end()) return fail(0, "empty event spec; give at least one event, e.g. task-clock");
    while (true) {
      skip_space();
      if (peek() == '{') {
        auto group = parse_group();
        if (!group) return group.error();
        out.groups.push_back(std::move(*group));
      } else if (peek() == '}') {
        return fail(pos_, "'}' without a matching '{'");
      } else {
        auto event = parse_event();
        if (!event) return event.error();
        out.groups.push_back(GroupTerm{{std::move(*event)}, false, {}});
      }
      skip_space();
      if (at_end()) return out;
      if (peek() == '}') return fail(pos_, "'}' without a matching '{'");
      if (peek() != ',') return fail(pos_, "expected ',' between events");
      ++pos_;
    }
  }

 private:
  base::Result<GroupTerm> parse_group() {
    const size_t open = pos_++;
    GroupTerm group{{}, true, {}};
    skip_space();
    if (peek() == '}') return fail(pos_, "empty group '{}'; put at least one event inside");
    while (true) {
      skip_space();
      if (at_end()) return fail(open, "unclosed group: '{' has no matching '}'");
      if (peek() == '{') return fail(pos_, "nested group; groups cannot contain groups");
      auto event = parse_event();
      if (!event) return event.error();
      group.events.push_back(std::move(*event));
      skip_space();
      if (at_end()) return fail(open, "unclosed group: '{' has no matching '}'");
      if (peek() == '}') break;
      if (peek() != ',') return fail(pos_, "expected ',' or '}' in group");
      ++pos_;
    }
    ++pos_;  // the '}'
    if (peek() == ':') {
      const size_t at = ++pos_;
      while (!at_end() && is_name_char(peek())) ++pos_;
      std::string_view text = spec_.substr(at, pos_ - at);
      if (text.empty()) return fail(at, "missing modifier after ':'");
      auto mods = parse_modifier_text(text, at);
      if (!mods) return mods.error();
      if (!mods->has_value()) {
        return fail(at, fmt::format("bad group modifier '{}'; use u, k, h and p", text));
      }
      for (auto& e : group.events) merge(e.modifiers, **mods);
      group.modifier_text = std::string(text);
    }
    return group;
  }

  base::Result<EventTerm> parse_event() {
    const size_t start = pos_;
    if (auto slash = pmu_form_slash(); slash != std::string_view::npos) {
      return parse_pmu_event(start, slash);
    }
    while (!at_end() && !is_space(peek()) && peek() != ',' && peek() != '{' && peek() != '}') {
      if (!is_name_char(peek())) {
        const unsigned char c = static_cast<unsigned char>(peek());
        std::string shown = std::isprint(c) ? fmt::format("'{}'", static_cast<char>(c))
                                            : fmt::format("byte 0x{:02x}", c);
        return fail(pos_, fmt::format("invalid character {} in event name", shown));
      }
      ++pos_;
    }
    std::string_view text = spec_.substr(start, pos_ - start);
    if (text.empty()) return fail(start, "empty event; remove the extra ',' or name an event");
    EventTerm term;
    term.text = std::string(text);
    term.column = start + 1;

    // Split off a trailing modifier component, never the second colon of a "::".
    std::string_view name = text;
    const size_t colon = text.rfind(':');
    if (colon != std::string_view::npos && !(colon > 0 && text[colon - 1] == ':')) {
      std::string_view suffix = text.substr(colon + 1);
      if (suffix.empty()) return fail(start + colon + 1, "missing modifier after ':'");
      auto mods = parse_modifier_text(suffix, start + colon + 1);
      if (!mods) return mods.error();
      if (mods->has_value()) {
        if (colon == 0) return fail(start, "missing event name before ':'");
        term.modifiers = **mods;
        name = text.substr(0, colon);
      }
    }
    const size_t sep = name.find("::");
    if (sep == 0) return fail(start, "missing PMU name before '::'");
    if (sep != std::string_view::npos && sep + 2 == name.size()) {
      return fail(start + sep + 2, "missing event name after '::'");
    }
    auto raw = parse_raw(name, start);
    if (!raw) return raw.error();
    term.raw = *raw;
    term.name = std::string(name);
    return term;
  }

  // The position of the first '/' when the event is written `pmu/.../`, else npos.
  size_t pmu_form_slash() const {
    size_t i = pos_;
    while (i < spec_.size() && (std::isalnum(static_cast<unsigned char>(spec_[i])) ||
                                spec_[i] == '_' || spec_[i] == '-' || spec_[i] == '.')) {
      ++i;
    }
    return i > pos_ && i < spec_.size() && spec_[i] == '/' ? i : std::string_view::npos;
  }

  // `pmu/term,term=value,.../` and optional modifiers, `u` or `:u`, after the last slash.
  base::Result<EventTerm> parse_pmu_event(size_t start, size_t slash) {
    EventTerm term;
    term.column = start + 1;
    term.pmu = std::string(spec_.substr(start, slash - start));
    pos_ = slash + 1;
    while (true) {
      const size_t at = pos_;
      while (!at_end() && peek() != ',' && peek() != '/' && peek() != '=' && !is_space(peek()) &&
             peek() != '{' && peek() != '}') {
        ++pos_;
      }
      std::string key(spec_.substr(at, pos_ - at));
      if (at_end() || is_space(peek()) || peek() == '{' || peek() == '}') {
        return fail(slash, fmt::format("unclosed '{}/': end the terms with '/', e.g. {}/event/",
                                       term.pmu, term.pmu));
      }
      if (key.empty()) {
        if (peek() == '/' && term.pmu_terms.empty()) {
          return fail(at, fmt::format("no terms in '{}//'; name an event, e.g. `pctx list {}/`",
                                      term.pmu, term.pmu));
        }
        return fail(at, "empty term; write term or term=value between the slashes");
      }
      PmuTerm t{key, std::nullopt};
      if (peek() == '=') {
        const size_t v = ++pos_;
        while (!at_end() && peek() != ',' && peek() != '/' && !is_space(peek()) && peek() != '{' &&
               peek() != '}') {
          ++pos_;
        }
        if (pos_ == v) return fail(v, fmt::format("missing value after '{}='", key));
        t.value = std::string(spec_.substr(v, pos_ - v));
      }
      term.pmu_terms.push_back(std::move(t));
      if (peek() == '/') break;
      if (peek() != ',') return fail(pos_, "expected ',' or '/' after a term");
      ++pos_;
    }
    ++pos_;  // the closing '/'
    term.name = std::string(spec_.substr(start, pos_ - start));
    const bool colon = peek() == ':';
    if (colon) ++pos_;
    const size_t mods_at = pos_;
    while (!at_end() && std::isalpha(static_cast<unsigned char>(peek()))) ++pos_;
    std::string_view mods = spec_.substr(mods_at, pos_ - mods_at);
    if (!mods.empty()) {
      auto m = parse_modifier_text(mods, mods_at);
      if (!m) return m.error();
      if (!m->has_value()) {
        return fail(mods_at, fmt::format("bad modifier '{}'; use u, k, h and p", mods));
      }
      term.modifiers = **m;
    } else if (colon) {
      return fail(pos_, "missing modifier after ':'");
    }
    if (!at_end() && !is_space(peek()) && peek() != ',' && peek() != '}') {
      return fail(pos_, "expected ',' after an event");
    }
    term.text = std::string(spec_.substr(start, pos_ - start));
    return term;
  }

  // rNNNN (or r0xNNNN): a raw code. Anything else starting with 'r' is a name.
  base::Result<std::optional<uint64_t>> parse_raw(std::string_view name, size_t at) {
    if (name.size() < 2 || name[0] != 'r') return std::optional<uint64_t>{};
    std::string_view digits = name.substr(1);
    const bool prefixed = digits.size() >= 2 && digits[0] == '0' && digits[1] == 'x';
    if (prefixed) digits.remove_prefix(2);
    for (char c : digits) {
      if (!std::isxdigit(static_cast<unsigned char>(c))) return std::optional<uint64_t>{};
    }
    if (digits.empty()) return fail(at, "raw code 'r0x' has no hex digits");
    while (digits.size() > 1 && digits[0] == '0') digits.remove_prefix(1);
    if (digits.size() > 16) return fail(at, "raw code too large: at most 16 hex digits (64 bits)");
    uint64_t value = 0;
    for (char c : digits) {
      value = value * 16 + static_cast<uint64_t>(std::isdigit(static_cast<unsigned char>(c))
                                                     ? c - '0'
                                                     : std::tolower(c) - 'a' + 10);
    }
    return std::optional<uint64_t>{value};
  }

  // The outer base::Result is an error for bad modifiers; an empty optional means "not modifiers".
  base::Result<std::optional<Modifiers>> parse_modifier_text(std::string_view text, size_t at) {
    for (char c : text) {
      if (!is_modifier_letter(c)) return std::optional<Modifiers>{};
    }
    Modifiers m;
    for (size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      bool* flag = c == 'u' ? &m.user : c == 'k' ? &m.kernel : c == 'h' ? &m.hv : nullptr;
      if (flag != nullptr) {
        if (*flag) return fail(at + i, fmt::format("duplicate modifier '{}'", c));
        *flag = true;
      } else if (++m.precise > 3) {
        return fail(at + i, "too many 'p' modifiers: at most 3 ('ppp')");
      }
    }
    return std::optional<Modifiers>{m};
  }

  // Group modifiers apply where the event did not say otherwise.
  static void merge(Modifiers& event, const Modifiers& group) {
    if (!event.restricts_privilege()) {
      event.user = group.user;
      event.kernel = group.kernel;
      event.hv = group.hv;
    }
    if (event.precise == 0) event.precise = group.precise;
  }

  base::Error fail(size_t column0, std::string_view what) const {
    return base::make_error(
        -EINVAL, fmt::format("bad event spec at column {}: {}\n  {}\n  {}^", column0 + 1, what,
                             spec_, std::string(column0, ' ')));
  }

  bool at_end() const { return pos_ >= spec_.size(); }
  char peek() const { return at_end() ? '\0' : spec_[pos_]; }
  void skip_space() {
    while (!at_end() && is_space(peek())) ++pos_;
  }

  std::string_view spec_;
  size_t pos_ = 0;
};

}  // namespace

size_t ParsedSpec::event_count() const {
  size_t n = 0;
  for (const auto& g : groups) n += g.events.size();
  return n;
}

base::Result<ParsedSpec> parse_spec(std::string_view spec) {
  return Parser(spec).parse();
}

}  // namespace pctx::pmu

// What the fuzz targets share: property checks that stop the run where one fails, and the
// input as text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "pctx/base/result.hpp"

namespace pctx::fuzz {

// A violated property is a bug like a crash: the trap makes libFuzzer save the input and
// stop. The message names the property, which the trap's stack alone does not.
inline void check(bool ok, const char* property) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", property);
    __builtin_trap();
  }
}

// Every parse error in pctx is a negative errno with a message that starts by saying what
// was being parsed.
inline void check_error(const base::Error& error, int code, std::string_view prefix) {
  check(error.code == code, "a parse error has the documented negative errno");
  check(error.message.size() > prefix.size() && error.message.rfind(prefix, 0) == 0,
        "a parse error's message says what was being parsed, and more");
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return size == 0 ? std::string_view()
                   : std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace pctx::fuzz

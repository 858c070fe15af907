// The text of an errno value, for error messages, from any thread.
#pragma once

#include <cstring>  // strerrordesc_np: a GNU extension, declared under _GNU_SOURCE
#include <string>

namespace pctx::base {

// "No such file or directory" for ENOENT. std::strerror may hand back a buffer that a call
// on another thread overwrites (glibc does so for unknown values); glibc's strerrordesc_np
// returns static text, so this is safe on the CPU threads and the user's threads alike.
inline std::string errno_text(int errnum) {
  if (const char* text = strerrordesc_np(errnum)) return text;
  return "Unknown error " + std::to_string(errnum);
}

}  // namespace pctx::base

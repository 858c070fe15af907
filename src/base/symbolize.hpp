// Names the function a return address lies in, for the lock validator's reports: from the
// module's own symbol table where the file has one (it names static functions and those
// in anonymous namespaces too, which no dynamic symbol table exports), else from the
// dynamic symbols (dladdr), else the module and the offset in it, for addr2line.
// Allocates and reads files: for report time only.
#pragma once

#include <string>

namespace pctx::base::lock_validator::internal {

// "function+0xoff (module)", or "(module+0xoff)" when nothing names it.
std::string symbolize(const void* pc);

}  // namespace pctx::base::lock_validator::internal

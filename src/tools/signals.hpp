// Handlers for the signals that end a command early (Ctrl-C, SIGTERM, SIGHUP), installed
// for the length of a run and put back after it. A handler that cannot be installed is an
// error: the run would otherwise end on that signal without its counts or its report.
#pragma once

#include <csignal>

#include <span>

#include "pctx/base/result.hpp"

namespace pctx::tools {

// Installs `action` for each of `signals`, saving the actions they had in `previous` (in
// the same order). On a refusal, puts back those it changed and says which signal failed.
base::Status install_handlers(std::span<const int> signals, const struct sigaction& action,
                              struct sigaction* previous);

// Puts back the actions install_handlers saved.
void restore_handlers(std::span<const int> signals, const struct sigaction* previous);

}  // namespace pctx::tools

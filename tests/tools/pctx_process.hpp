// Runs the pctx binary as a user would, for the CLI tests: the arguments exactly as given
// (no shell, so '' and '{tsc' reach pctx as they are), stdout and stderr captured apart, and
// a hang bound after which the process is killed and the run reported as hung. Also as an
// unprivileged user, from a copy that user can reach wherever the checkout is.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace pctx::cli_test {

struct PctxResult {
  int exit_code = -1;  // -1 when a signal ended it
  int signal = 0;      // the signal that ended it, 0 if it exited
  bool hung = false;   // it outlived the bound and was killed
  std::string out, err;
};

// A signal sent to pctx once it has run this long, as a user's Ctrl-C.
struct SignalAfter {
  int signal = 0;  // 0: none
  std::chrono::milliseconds after{0};
};

// Which binary runs, with which environment (empty: the test's own), as which user.
struct Launch {
  std::string binary = PCTX_BINARY;
  std::vector<std::string> env;
  uid_t uid = 0;  // with drop: the user (and group) the child becomes before exec
  bool drop = false;
};

// Runs `launch.binary args...`; stdout goes to `stdout_path` instead of a pipe when given
// (e.g. /dev/full). A hung pctx gets SIGTERM (pctx torture restores the CPUs on it), then
// SIGKILL two seconds later.
inline PctxResult run_process(const Launch& launch, const std::vector<std::string>& args,
                              std::chrono::milliseconds bound, const std::string& stdout_path,
                              SignalAfter interrupt) {
  PctxResult r;
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (stdout_path.empty() && pipe2(out_pipe, O_CLOEXEC) != 0) return r;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return r;
  std::vector<std::string> argv_text = {launch.binary};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text = launch.env;  // built before fork: the child may not allocate
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // its own group, so that a kill reaches anything it started
    // Groups first, the user last: once it is not root, the child cannot change groups.
    if (launch.drop && (chdir("/") != 0 || setgroups(0, nullptr) != 0 || setgid(launch.uid) != 0 ||
                        setuid(launch.uid) != 0)) {
      _exit(126);
    }
    const int in = open("/dev/null", O_RDONLY);
    dup2(in, STDIN_FILENO);
    if (stdout_path.empty()) {
      dup2(out_pipe[1], STDOUT_FILENO);
    } else {
      const int out = open(stdout_path.c_str(), O_WRONLY);
      dup2(out, STDOUT_FILENO);
    }
    dup2(err_pipe[1], STDERR_FILENO);
    execve(argv[0], argv.data(), launch.env.empty() ? environ : envp.data());
    _exit(127);
  }
  if (out_pipe[1] >= 0) close(out_pipe[1]);
  close(err_pipe[1]);

  const auto deadline = std::chrono::steady_clock::now() + bound;
  auto left_ms = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  };
  std::vector<pollfd> fds;
  if (out_pipe[0] >= 0) fds.push_back({out_pipe[0], POLLIN, 0});
  fds.push_back({err_pipe[0], POLLIN, 0});
  auto drain = [&](int fd) {
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) (fd == err_pipe[0] ? r.err : r.out).append(buf, static_cast<size_t>(n));
    return n > 0;
  };
  const auto signal_at = std::chrono::steady_clock::now() + interrupt.after;
  bool signalled = interrupt.signal == 0;
  while (!fds.empty() && left_ms() > 0) {
    if (!signalled && std::chrono::steady_clock::now() >= signal_at) {
      kill(pid, interrupt.signal);  // the process only, as a terminal's Ctrl-C reaches pctx
      signalled = true;
    }
    if (poll(fds.data(), fds.size(), signalled ? left_ms() : std::min(left_ms(), 10)) <= 0) {
      continue;
    }
    for (size_t i = 0; i < fds.size();) {
      if (fds[i].revents != 0 && !drain(fds[i].fd)) {
        close(fds[i].fd);
        fds.erase(fds.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }
  int status = 0;
  bool reaped = false;
  while (!reaped && left_ms() > 0) {
    reaped = waitpid(pid, &status, WNOHANG) == pid;
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!reaped) {
    r.hung = true;
    kill(-pid, SIGTERM);
    for (int i = 0; i < 400 && !reaped; ++i) {
      reaped = waitpid(pid, &status, WNOHANG) == pid;
      if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!reaped) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
  }
  for (auto& f : fds) {
    while (drain(f.fd)) {
    }
    close(f.fd);
  }
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

inline PctxResult run_pctx(const std::vector<std::string>& args,
                           std::chrono::milliseconds bound = std::chrono::seconds(5),
                           const std::string& stdout_path = "", SignalAfter interrupt = {}) {
  return run_process(Launch{}, args, bound, stdout_path, interrupt);
}

// pctx run as user nobody (the test must be root), whatever the checkout's permissions. A
// clone under a 0700 home directory is out of nobody's reach, and so are the binary and
// the sanitizer suppressions file that TSAN_OPTIONS names: nobody gets copies in a fresh
// directory under /tmp that anyone may enter, and an environment that names them. The
// directory goes with this object.
class PctxAsNobody {
 public:
  static constexpr uid_t kNobody = 65534;

  PctxAsNobody() {
    namespace fs = std::filesystem;
    char dir[] = "/tmp/pctx-nobody-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      error_ = std::string("mkdtemp in /tmp failed: ") + std::strerror(errno);
      return;
    }
    dir_ = dir;
    const auto everyone = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                          fs::perms::others_read | fs::perms::others_exec;
    std::error_code ec;
    fs::permissions(dir_, everyone, ec);
    launch_.binary = dir_ + "/pctx";
    if (!ec) fs::copy_file(PCTX_BINARY, launch_.binary, ec);
    if (!ec) fs::permissions(launch_.binary, everyone, ec);
    if (ec) {
      error_ = "cannot copy " + std::string(PCTX_BINARY) + " to " + dir_ + ": " + ec.message();
      return;
    }
    launch_.uid = kNobody;
    launch_.drop = true;
    for (char** e = environ; *e != nullptr; ++e) launch_.env.push_back(with_copied_files(*e));
  }
  ~PctxAsNobody() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  PctxAsNobody(const PctxAsNobody&) = delete;
  PctxAsNobody& operator=(const PctxAsNobody&) = delete;

  // Why nobody cannot run pctx here; "" when the copies are in place.
  const std::string& error() const { return error_; }
  PctxResult run(const std::vector<std::string>& args,
                 std::chrono::milliseconds bound = std::chrono::seconds(30)) const {
    return run_process(launch_, args, bound, "", {});
  }

 private:
  // A sanitizer's options (`*SAN_OPTIONS=a=1:suppressions=PATH:...`) with each
  // suppressions file copied into the directory and named there; anything else as it is.
  std::string with_copied_files(std::string var) {
    const std::string key = "suppressions=";
    const size_t eq = var.find('=');
    if (eq == std::string::npos || eq < 8 || var.compare(eq - 8, 8, "_OPTIONS") != 0) return var;
    for (size_t at = var.find(key, eq); at != std::string::npos; at = var.find(key, at + 1)) {
      const size_t from = at + key.size();
      const size_t to = std::min(var.find_first_of(": ", from), var.size());
      const std::string copy = dir_ + "/" + var.substr(0, eq) + "-" + std::to_string(at) + ".supp";
      std::error_code ec;
      std::filesystem::copy_file(var.substr(from, to - from), copy, ec);
      if (!ec) {
        std::filesystem::permissions(copy,
                                     std::filesystem::perms::owner_all |
                                         std::filesystem::perms::group_read |
                                         std::filesystem::perms::others_read,
                                     ec);
      }
      if (ec) error_ = "cannot copy " + var.substr(from, to - from) + ": " + ec.message();
      var.replace(from, to - from, copy);
    }
    return var;
  }

  std::string dir_, error_;
  Launch launch_;
};

// `text` split at '\n', without the empty piece after a final newline.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl == std::string::npos ? nl : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return lines;
}

}  // namespace pctx::cli_test

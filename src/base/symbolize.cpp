#include "base/symbolize.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace pctx::base::lock_validator::internal {

namespace {

struct Module {
  std::string path;
  uintptr_t bias = 0;  // what the symbol values are relative to
  bool found = false;
};

// The loaded object whose segment holds `pc`; the main program has no name of its own.
Module module_of(const void* pc) {
  struct Search {
    uintptr_t pc;
    Module module;
  } search{reinterpret_cast<uintptr_t>(pc), {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
          if (ph.p_type != PT_LOAD || s->pc < start || s->pc >= start + ph.p_memsz) continue;
          const bool main = info->dlpi_name == nullptr || info->dlpi_name[0] == '\0';
          s->module = {main ? "/proc/self/exe" : info->dlpi_name, info->dlpi_addr, true};
          return 1;
        }
        return 0;
      },
      &search);
  return search.module;
}

struct Function {
  uint64_t address;
  uint64_t size;
  std::string name;
};

bool read_at(int fd, void* buffer, size_t size, uint64_t offset) {
  return pread(fd, buffer, size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size);
}

// The functions of a file's .symtab, by address; empty when it has none (stripped).
std::vector<Function> read_functions(const std::string& path) {
  std::vector<Function> out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  ElfW(Ehdr) eh{};
  std::vector<ElfW(Shdr)> sections;
  if (read_at(fd, &eh, sizeof eh, 0) && eh.e_shentsize == sizeof(ElfW(Shdr))) {
    sections.resize(eh.e_shnum);
    if (!read_at(fd, sections.data(), sections.size() * sizeof(ElfW(Shdr)), eh.e_shoff)) {
      sections.clear();
    }
  }
  for (const ElfW(Shdr) & sh : sections) {
    if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= sections.size()) continue;
    const ElfW(Shdr)& strtab = sections[sh.sh_link];
    std::vector<ElfW(Sym)> symbols(sh.sh_size / sizeof(ElfW(Sym)));
    std::string names(strtab.sh_size, '\0');
    if (!read_at(fd, symbols.data(), symbols.size() * sizeof(ElfW(Sym)), sh.sh_offset) ||
        !read_at(fd, names.data(), names.size(), strtab.sh_offset)) {
      break;
    }
    for (const ElfW(Sym) & s : symbols) {
      if (ELF64_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx == SHN_UNDEF || s.st_size == 0 ||
          s.st_name >= names.size()) {
        continue;
      }
      out.push_back({s.st_value, s.st_size, names.c_str() + s.st_name});
    }
  }
  ::close(fd);
  std::sort(out.begin(), out.end(),
            [](const Function& a, const Function& b) { return a.address < b.address; });
  return out;
}

std::string demangle(const char* name) {
  int status = -1;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 ? demangled : name;
  std::free(demangled);
  return out;
}

std::string hex(uint64_t v) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "0x%llx", static_cast<unsigned long long>(v));
  return buffer;
}

}  // namespace

std::string symbolize(const void* pc) {
  static std::mutex mutex;  // the tables are read once per module and kept
  static std::map<std::string, std::vector<Function>> tables;
  const Module m = module_of(pc);
  if (m.found) {
    const uint64_t address = reinterpret_cast<uintptr_t>(pc) - m.bias;
    std::lock_guard lock(mutex);
    auto it = tables.find(m.path);
    if (it == tables.end()) it = tables.emplace(m.path, read_functions(m.path)).first;
    const std::vector<Function>& fns = it->second;
    auto f = std::upper_bound(fns.begin(), fns.end(), address,
                              [](uint64_t a, const Function& fn) { return a < fn.address; });
    if (f != fns.begin() && address < (f - 1)->address + (f - 1)->size) {
      --f;
      return demangle(f->name.c_str()) + "+" + hex(address - f->address);
    }
  }
  Dl_info info{};
  if (dladdr(pc, &info) != 0 && info.dli_sname != nullptr) {
    return demangle(info.dli_sname) + "+" +
           hex(reinterpret_cast<uintptr_t>(pc) - reinterpret_cast<uintptr_t>(info.dli_saddr));
  }
  if (m.found) {
    return "(" + m.path + "+" + hex(reinterpret_cast<uintptr_t>(pc) - m.bias) + ")";
  }
  return "";
}

}  // namespace pctx::base::lock_validator::internal

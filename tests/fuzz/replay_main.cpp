// Replays corpora through a fuzz target without libFuzzer, so that the normal (GCC) test
// build runs every seed and every saved crash as a regression test. Each argument is a
// file or a directory whose files are fed, in name order, to LLVMFuzzerTestOneInput. A
// violated property traps as it does under the fuzzer; no input at all is a failure, so
// that a moved or emptied corpus cannot pass unnoticed.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// The files named by the arguments, directories expanded one level, sorted; false (with a
// message) when an argument is neither a file nor a directory.
bool collect_inputs(int argc, char** argv, std::vector<fs::path>& inputs) {
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    if (fs::is_directory(argv[i], ec)) {
      for (const auto& entry : fs::directory_iterator(argv[i], ec)) {
        if (entry.is_regular_file(ec)) inputs.push_back(entry.path());
      }
    } else if (fs::is_regular_file(argv[i], ec)) {
      inputs.emplace_back(argv[i]);
    } else {
      std::fprintf(stderr, "replay: '%s' is neither a file nor a directory\n", argv[i]);
      return false;
    }
    if (ec) {
      std::fprintf(stderr, "replay: cannot read '%s': %s\n", argv[i], ec.message().c_str());
      return false;
    }
  }
  std::sort(inputs.begin(), inputs.end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  if (!collect_inputs(argc, argv, inputs)) return 2;
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs; usage: %s CORPUS_DIR|FILE...\n", argv[0]);
    return 2;
  }
  for (const auto& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.is_open() || in.bad()) {
      std::fprintf(stderr, "replay: cannot read '%s'\n", path.c_str());
      return 2;
    }
    // Named first, so that the input that traps is the last one printed.
    std::printf("replay: %s\n", path.filename().c_str());
    std::fflush(stdout);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replay: %zu inputs, every property held\n", inputs.size());
  return 0;
}

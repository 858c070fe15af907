#!/usr/bin/env bash
# Installs the Debian packages pctx needs to build, test and benchmark, when any are
# missing. Idempotent: a machine that has everything runs no apt-get at all.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  clang
  libpfm4-dev libhwloc-dev liburcu-dev
  libboost-dev libboost-context-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libfmt-dev nlohmann-json3-dev
  python3-matplotlib
  clang-14 libclang-rt-14-dev llvm-14  # the fuzz preset: clang++-14, libFuzzer, llvm-symbolizer
  clang-tidy-14  # scripts/tidy.sh: run-clang-tidy-14 and the checks of .clang-tidy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: must run as root to install packages (try: sudo $0)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"

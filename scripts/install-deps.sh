#!/usr/bin/env bash
# Installs what flow needs to build, test and benchmark, from Debian packages.
# Idempotent: installs only what is missing. Run as root (or with sudo).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  antlr4 libantlr4-runtime-dev      # grammar tool 4.7.2 + C++ runtime 4.9
  llvm-14-dev                       # LLVM Support: SourceMgr, cl, JSON, ADT
  libfmt-dev libboost-graph-dev libgtest-dev libgmock-dev libsqlite3-dev
  libjemalloc-dev                   # allocator of the executables (faster than glibc's here)
  python3                           # bench generators
  python3-sklearn                   # the example ML pipeline (/usr/bin/python3 with numpy, scikit-learn)
)
optional=(hyperfine clang libclang-rt-14-dev)  # benchmarks, fuzzing
missing=()
for p in "${packages[@]}" "${optional[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

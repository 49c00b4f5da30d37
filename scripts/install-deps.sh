#!/usr/bin/env bash
# Installs what hlrr needs to build and test, from Debian 12's own packages. Run as root.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libunicorn-dev libcapstone-dev
  capnproto libcapnp-dev libzstd-dev libxxhash-dev
  libboost-dev libcli11-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  gdb lldb binutils
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

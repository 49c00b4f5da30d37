#!/usr/bin/env bash
# Installs Debian's QEMU (TCG) for bench/run's QEMU rows only: neither the build nor the tests
# need it, so scripts/install-deps.sh leaves it out. Run as root.
set -euo pipefail
if ! command -v qemu-system-x86_64 >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends qemu-system-x86 ||
    { apt-get update -q && apt-get install -y -q --no-install-recommends qemu-system-x86; }
fi
qemu-system-x86_64 --version | head -1

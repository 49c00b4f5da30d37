#!/usr/bin/env bash
# Installs what hlrr needs to build and test, from Debian 12's own packages. Run as root.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libunicorn-dev libcapstone-dev
  libmimalloc-dev  # Unicorn 2.0.1 mallocs on every guest store: see CMakeLists.txt
  capnproto libcapnp-dev libzstd-dev libxxhash-dev
  libboost-dev libcli11-dev
  libdw-dev  # source lines and files from guest DWARF (hltrace diff, --embed-sources)
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  gdb lldb binutils
  musl-dev musl-tools  # the C library of LIBC guests (guest/runtime/libc)
  liblua5.4-dev zlib1g-dev libexpat1-dev  # the real guests' results, computed natively by the tests
  iproute2  # the listen tests bring up loopback in a network namespace of their own
  # What lldb 22 (below) links against beyond lldb 14's own libraries.
  libcurl4 libedit2 libffi8 libipt2 libpython3.11 libxml2 libz3-4 python3
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
updated=false
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  updated=true
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# lldb 22 (reverse execution: `process continue --reverse`), beside lldb 14: Debian's lldb-22
# package conflicts with lldb, so its packages (bookworm-security) are unpacked into a private
# folder and run through a wrapper that finds their libraries. The tests look for it there.
lldb22_dir=/opt/hlrr-lldb-22
lldb22_packages=(lldb-22 liblldb-22 libllvm22 libclang-cpp22 python3-lldb-22)
installed=$("$lldb22_dir/bin/lldb-22" --version 2>/dev/null || true)
if [[ $installed != *"lldb version 22"* ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  download() { (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "${lldb22_packages[@]}"); }
  if ! download; then
    $updated || apt-get update -q
    download
  fi
  mkdir -p "$work/unpacked/bin"
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/unpacked/root"; done
  cat >"$work/unpacked/bin/lldb-22" <<'WRAPPER'
#!/bin/sh
# lldb 22 unpacked by hlrr's scripts/install-deps.sh; its libraries are beside it.
root=$(dirname "$(readlink -f "$0")")/../root
LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  exec "$root/usr/lib/llvm-22/bin/lldb" "$@"
WRAPPER
  chmod 755 "$work/unpacked/bin/lldb-22"
  if LD_LIBRARY_PATH="$work/unpacked/root/usr/lib/x86_64-linux-gnu" \
    ldd "$work/unpacked/root/usr/lib/llvm-22/bin/lldb" | grep "not found"; then
    echo "install-deps: lldb 22 lacks the libraries above" >&2
    exit 1
  fi
  rm -rf "$lldb22_dir"
  mv "$work/unpacked" "$lldb22_dir"
  "$lldb22_dir/bin/lldb-22" --version
fi

#!/usr/bin/env bash
# Fetches the Debian source packages that hlrr builds as real guests (guest/real/), unpacked
# into a cache that outlives build folders; never into the repository. Prints the cache folder.
#   scripts/fetch-guest-sources.sh [CACHE]    (default: $HLRR_SOURCES_CACHE or ~/.cache/hlrr-sources)
# Needs a bookworm deb-src line; adds one (as root) when apt has none.
set -euo pipefail
packages=(lua5.4 zlib expat)
cache=${1:-${HLRR_SOURCES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hlrr-sources}}
mkdir -p "$cache"
missing=()
for p in "${packages[@]}"; do
  [[ -f "$cache/$p.done" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  if ! grep -rqs "^Types:.*deb-src\|^deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" >/etc/apt/sources.list.d/hlrr-deb-src.sources
    apt-get update -q >&2
  fi
  for p in "${missing[@]}"; do
    work=$(mktemp -d "$cache/.fetch-XXXXXX")
    if ! (cd "$work" && apt-get source -q -o APT::Sandbox::User=root "$p" >&2); then
      apt-get update -q >&2
      (cd "$work" && apt-get source -q -o APT::Sandbox::User=root "$p" >&2)
    fi
    dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)
    rm -rf "${cache:?}/$p"
    mv "$dir" "$cache/$p"
    rm -rf "$work"
    touch "$cache/$p.done"
  done
fi
echo "$cache"

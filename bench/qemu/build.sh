#!/usr/bin/env bash
# Builds the QEMU side of bench/run: compute.c and chatty.c, unchanged, as multiboot kernels
# with the guest SDK's flags and the profile hlrr's bench uses for each: compute at -O2
# (compute_release.elf), chatty at -O0 -g3 (chatty.elf).
#   bash bench/qemu/build.sh OUT_DIR   -> OUT_DIR/compute.bin, OUT_DIR/chatty.bin
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
out=$1
mkdir -p "$out"
flags=(-ffreestanding -nostdlib -static -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only
  -fno-stack-protector -fno-omit-frame-pointer -fcf-protection=none -Wall -Wextra -Werror
  -I "$root/guest/include" -I "$root/guest/runtime")
for guest in compute chatty; do
  profile=(-O0 -g3)
  [[ $guest == compute ]] && profile=(-O2 -g)
  gcc "${flags[@]}" "${profile[@]}" -no-pie -Wl,-T,"$here/kernel.ld" -Wl,--build-id=none -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments \
    -o "$out/$guest.elf" "$here/boot.S" "$here/runtime.c" "$root/guest/runtime/format.c" \
    "$root/guest/runtime/memory.c" "$root/guest/examples/$guest.c"
  objcopy -O binary "$out/$guest.elf" "$out/$guest.bin"
done

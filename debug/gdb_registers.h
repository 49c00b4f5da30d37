// The one conversion between the vCPU's RegisterFile and gdb's register numbering
// (rsp/registers.h: core, sse, segments, fs_base/gs_base), used by every rsp::Target over a
// vCPU: LiveTarget and replay's ReplayTarget.
#pragma once

#include "rsp/registers.h"
#include "vmm/register_file.h"

namespace hlrr::debug {

using vmm::RegisterFile;

// st0..st7 are ST(0)..ST(7), stack-relative, as in RegisterFile; fstat carries TOP and ftag is
// the full tag word (by physical register), as gdb's i386 x87 feature defines them. fop is the
// 11-bit opcode; fioff/fooff are the low and fiseg/foseg the high 32 bits of fip/fdp (amd64
// gdb's reading of FXSAVE64, which has no selectors).
void to_gdb(const RegisterFile& regs, rsp::RegisterFile& out);

// Overwrites the fields of `regs` that gdb's registers carry; the rest (control registers)
// keep their values.
void from_gdb(const rsp::RegisterFile& in, RegisterFile& regs);

}  // namespace hlrr::debug

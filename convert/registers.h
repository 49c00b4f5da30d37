// The register file's three forms and the conversions between them, all derived from the one
// table (convert/register_table.h): vmm::RegisterFile (the vCPU's), trace::Registers (the
// trace's) and rsp::RegisterFile (gdb's `g` layout, rsp/registers.h). Pure functions.
#pragma once

#include "rsp/registers.h"
#include "trace_format/registers.h"
#include "vmm/register_file.h"

namespace hlrr::convert {

// Every field, exactly: from_trace(to_trace(r)) == r.
trace::Registers to_trace(const vmm::RegisterFile& regs);
vmm::RegisterFile from_trace(const trace::Registers& regs);

// st0..st7 are ST(0)..ST(7), stack-relative, as in RegisterFile; fstat carries TOP and ftag is
// the full tag word (by physical register), as gdb's i386 x87 feature defines them. fop is the
// 11-bit opcode; fioff/fooff are the low and fiseg/foseg the high 32 bits of fip/fdp (amd64
// gdb's reading of FXSAVE64, which has no selectors). eflags is 32 bits wide. Control
// registers are not in gdb's layout.
void to_gdb(const vmm::RegisterFile& regs, rsp::RegisterFile& out);

// Overwrites the fields of `regs` that gdb's registers carry; the rest (control registers)
// keep their values.
void from_gdb(const rsp::RegisterFile& in, vmm::RegisterFile& regs);

}  // namespace hlrr::convert

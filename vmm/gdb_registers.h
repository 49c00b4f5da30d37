// The vCPU's register file in gdb's x86-64 numbering (rsp/registers.h), both ways: what the
// live and the replay debug targets serve.
#pragma once

#include "rsp/registers.h"
#include "vmm/register_file.h"

namespace hlrr::vmm {

void to_gdb_registers(const RegisterFile& r, rsp::RegisterFile& out);
// Sets every field of `r` that gdb's register file holds (control registers stay as they are).
void from_gdb_registers(const rsp::RegisterFile& in, RegisterFile& r);

}  // namespace hlrr::vmm

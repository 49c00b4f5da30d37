// Conversions from the VMM's vocabulary (values, host writes, exits) to the trace's records;
// register files are convert/registers.h's. Pure functions over value types: no sandbox, no I/O.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "trace_format/records.h"
#include "vmm/fault.h"
#include "vmm/guest_memory.h"
#include "vmm/value.h"
#include "vmm/vcpu_exit.h"

namespace hlrr::convert {

trace::Value to_trace(const vmm::Value& value);
std::vector<trace::MemoryWrite> to_trace(std::span<const vmm::HostWrite> writes);
trace::NondetKind to_trace(vmm::NondetInstruction kind);
// The record of a non-deterministic instruction's result (ExitObserver::on_nondet): rdtsc holds
// one value, the others a second (rdtscp's TSC_AUX, rdrand/rdseed's carry flag).
trace::NondetResult to_trace_nondet(vmm::NondetInstruction kind, uint64_t instruction_count,
                                    uint64_t rip, uint64_t value, uint64_t extra);

// The trace exit for a vCPU exit that ends or continues a call: kind, port/size/data, fault
// details. nullopt for exits that only pause the vCPU for a debugger (kDebug,
// kInstructionLimit) and for kNondet: those are no events of the guest's execution. kStopped
// maps to kTimeout (the caller decides whether the stop was a timeout). Sequence, registers,
// host writes and instruction count are the caller's to fill in.
std::optional<trace::Exit> to_trace_exit(const vmm::VcpuExit& exit);

}  // namespace hlrr::convert

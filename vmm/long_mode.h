// Long-mode set-up shared by both backends: identity-mapped page tables, GDT with a 64-bit TSS,
// an IDT whose exception stubs exit to the host, and the initial register file. Written into
// guest memory at the fixed addresses of guest/include/hl_abi.h, so both backends run the
// guest in exactly the same memory image.
#pragma once

#include <cstdint>

#include "base/expected.h"
#include "vmm/guest_memory.h"
#include "vmm/register_file.h"

namespace hlrr::vmm {

// Selectors of the GDT built by write_descriptor_tables().
inline constexpr uint16_t kCodeSelector = 0x08;
inline constexpr uint16_t kDataSelector = 0x10;
inline constexpr uint16_t kTssSelector = 0x18;
inline constexpr uint16_t kGdtLimit = 0x27;         // null, code, data, 16-byte TSS descriptor
inline constexpr uint16_t kIdtLimit = 32 * 16 - 1;  // the 32 exception vectors
inline constexpr uint16_t kTssLimit = 0x67;

// Page-table entry bits. Accessed/dirty are pre-set so the CPU never writes page tables, which
// keeps guest memory byte-identical between KVM and the software vCPU.
inline constexpr uint64_t kPtePresent = 1ull << 0;
inline constexpr uint64_t kPteWritable = 1ull << 1;
inline constexpr uint64_t kPteAccessed = 1ull << 5;
inline constexpr uint64_t kPteDirty = 1ull << 6;
inline constexpr uint64_t kPteLarge = 1ull << 7;

// Identity-maps the first 4 GiB (2 MiB pages; 4 KiB pages in the first 2 MiB so that the null
// page and the stack guard page are not present). Addresses inside the map but beyond guest
// memory reach the VMM as out-of-bounds accesses.
base::Status write_page_tables(GuestMemory& memory);

// True if [address, address + size) touches a page those tables leave not present (the null page,
// the stack guard page). They exist in host memory, but the guest cannot access them, so neither
// does a debugger, live or replayed (`print *p` with p = NULL: cannot access memory).
bool unmapped_in_guest(uint64_t address, uint64_t size);

// GDT (flat 64-bit code, data, TSS), TSS (IST1 = exception stack), IDT for vectors 0-31, and
// one stub per vector that saves RAX/RDX, puts the vector in AL and `out`s it to
// HL_PORT_EXCEPTION. The stack a stub leaves is described by ExceptionFrame.
base::Status write_descriptor_tables(GuestMemory& memory);

// What an exception stub leaves on the IST stack (lowest address first) when it exits.
struct ExceptionFrame {
  uint64_t saved_rdx;
  uint64_t saved_rax;
  uint64_t error_code;  // 0 for vectors without one (the stub pushes it)
  uint64_t rip;
  uint64_t cs;
  uint64_t rflags;
  uint64_t rsp;
  uint64_t ss;
};

// True for the vectors where the CPU pushes an error code.
bool vector_has_error_code(uint8_t vector);

// The register file a guest starts with: RIP at `entry`, RSP at the stack top, flat segments,
// paging control state for KVM (the software vCPU ignores CR0.PG), x87/SSE defaults.
RegisterFile initial_registers(uint64_t entry);

}  // namespace hlrr::vmm

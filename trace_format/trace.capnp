# hlrr trace records (format 1.1). See docs/trace-format.md for the file layout around them.
#
# Each chunk of a trace file is one zstd frame; decompressed it is a sequence of capnp messages in
# the standard stream framing (`capnp decode trace.capnp Record` reads them), each with a `Record`
# root. The chunk index at the end of the file is one `TraceIndex` message (not compressed).
#
# Evolution rules (Cap'n Proto's, plus rr's): ordinals are given in the order fields were added and
# are never changed or reused; a field that is no longer written is renamed `obsoleteFoo` and kept;
# new fields must have a default meaning "not recorded". A change old readers cannot read correctly
# bumps the format major version (trace_format/file_layout.h), any other addition the minor one.
# Unless stated otherwise, addresses are guest-physical (= guest-virtual: the guest is identity
# mapped) and every count starts at 0.

@0xa03f735059cc25eb;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("hlrr::trace::schema");

# The full register file. Every field is always written; x87/SSE state is recorded even for guests
# built with -mgeneral-regs-only (it then stays at its initial values).
struct Registers {
  rax @0 :UInt64;
  rbx @1 :UInt64;
  rcx @2 :UInt64;
  rdx @3 :UInt64;
  rsi @4 :UInt64;
  rdi @5 :UInt64;
  rbp @6 :UInt64;
  rsp @7 :UInt64;
  r8 @8 :UInt64;
  r9 @9 :UInt64;
  r10 @10 :UInt64;
  r11 @11 :UInt64;
  r12 @12 :UInt64;
  r13 @13 :UInt64;
  r14 @14 :UInt64;
  r15 @15 :UInt64;
  rip @16 :UInt64;
  rflags @17 :UInt64;
  # Segment selectors (the visible 16 bits only).
  cs @18 :UInt16;
  ss @19 :UInt16;
  ds @20 :UInt16;
  es @21 :UInt16;
  fs @22 :UInt16;
  gs @23 :UInt16;
  fsBase @24 :UInt64;
  gsBase @25 :UInt64;
  # Control registers as the recording backend reported them: they legitimately differ between
  # backends (DESIGN.md), so replay never compares them.
  cr0 @26 :UInt64;
  cr2 @27 :UInt64;
  cr3 @28 :UInt64;
  cr4 @29 :UInt64;
  efer @30 :UInt64;
  # x87 control/status/tag words (ftw in the full 16-bit form) and the SSE control/status register.
  fcw @31 :UInt16;
  fsw @32 :UInt16;
  ftw @33 :UInt16;
  mxcsr @34 :UInt32;
  # Exactly 16 entries of exactly 16 bytes each (little-endian, xmm0 first).
  xmm @35 :List(Data);
  # Exactly 8 entries of exactly 10 bytes each (80-bit values, st0 first = the top of the stack).
  st @36 :List(Data);
  # (1.3) The last x87 non-control instruction: its 11-bit opcode, its address and its memory
  # operand's address (FXSAVE64's FOP, FIP, FDP). 0 in traces written before 1.3.
  fop @37 :UInt16;
  fip @38 :UInt64;
  fdp @39 :UInt64;
}

# The register file as a difference from the previous exit's register file in the same chunk.
# Bit i of `mask` set = field i changed; `values` holds the new values of the set bits, in
# increasing bit order. Field numbering (the `Registers` ordinals): 0-17 rax..rflags, 18-23
# cs..gs, 24-25 fsBase/gsBase, 26-30 cr0,cr2,cr3,cr4,efer, 31-34 fcw,fsw,ftw,mxcsr take one word
# each; 35-50 xmm0..xmm15 and 51-58 st0..st7 take two words each (low 8 bytes, then the high 8
# bytes; for st the high word holds bytes 8-9 in its low 16 bits, the rest zero).
# Constraint: the first exit of each chunk always has full registers, so a chunk decodes alone.
struct RegistersDelta {
  mask @0 :UInt64;
  values @1 :List(UInt64);
  # (1.3) fop, fip, fdp (bits 0-2) in the same way, apart so that a 1.2 reader, which rejects
  # mask bits past 58, ignores them.
  x87Mask @2 :UInt8;
  x87Values @3 :List(UInt64);
}

# One run of bytes the host wrote into guest memory.
struct MemoryWrite {
  address @0 :UInt64;
  bytes @1 :Data;
}

# One 4 KiB page of guest memory. Constraint: `address` is 4096-aligned, `bytes` is 4096 bytes.
struct Page {
  address @0 :UInt64;
  bytes @1 :Data;
}

# (1.5) A page of guest memory by its checksum only: XXH3-64 (libxxhash, seed 0) of its 4096
# bytes. Constraint: address 4096-aligned.
struct PageDigest {
  address @0 :UInt64;
  checksum @1 :UInt64;
}

struct KeyValue {
  key @0 :Text;
  value @1 :Text;
}

struct SandboxConfig {
  memorySize @0 :UInt64;     # bytes of guest memory
  timeoutMs @1 :UInt64;      # per-call timeout in milliseconds; 0 = none
  extra @2 :List(KeyValue);  # any other setting, by name; unknown keys are kept, not interpreted
}

struct CpuidLeaf {
  function @0 :UInt32;  # eax on input
  index @1 :UInt32;     # ecx on input (0 for leaves without subleaves)
  eax @2 :UInt32;
  ebx @3 :UInt32;
  ecx @4 :UInt32;
  edx @5 :UInt32;
}

struct CpuModel {
  vendor @0 :Text;           # e.g. "GenuineIntel"
  cpuid @1 :List(CpuidLeaf); # the canonical table both backends answered cpuid from
}

struct MemoryRegion {
  address @0 :UInt64;
  size @1 :UInt64;
  name @2 :Text;
  permissions @3 :UInt8;  # bit 0 read, bit 1 write, bit 2 execute
}

# The first record of every trace, alone in chunk 0: everything needed to rebuild the guest.
struct Setup {
  elf @0 :Data;                      # the guest ELF file, byte for byte
  guestName @1 :Text;
  config @2 :SandboxConfig;
  backend @3 :Text;                  # "unicorn" or "kvm"
  cpu @4 :CpuModel;
  memoryLayout @5 :List(MemoryRegion);
  initialRegisters @6 :Registers;
  initialMemory @7 :List(Page);      # the non-zero pages after the ELF is loaded; others are zero
  hlrrVersion @8 :Text;              # version of the hlrr that recorded
  startTimeNs @9 :Int64;             # recording start, nanoseconds since the Unix epoch (UTC)
  sources @10 :List(SourceFile);     # (1.4) the guest's source files, when recorded with them
}

# (1.4) A source file named by the guest ELF's DWARF line tables, stored so that a debugger on
# another machine shows source lines (`hlrun --record --embed-sources`).
struct SourceFile {
  path @0 :Text;     # absolute, as the line table names it (joined with DW_AT_comp_dir)
  content @1 :Data;
}

enum ExitKind {
  portOut @0;
  portIn @1;
  halt @2;
  exception @3;
  outOfBounds @4;    # an access outside guest memory
  timeout @5;        # stopped by the host between exits (timeout or stop request)
  debug @6;          # a debug trap (breakpoint, single step)
  shutdown @7;       # triple fault
  internalError @8;  # the backend failed
}

struct Fault {
  vector @0 :UInt8;      # exception vector (14 = #PF, ...); 0 when not an exception
  errorCode @1 :UInt64;
  address @2 :UInt64;    # faulting address (cr2 for #PF, the access for outOfBounds)
  message @3 :Text;
}

# One VM exit. Constraint: `sequence` is 0 for the first exit and increases by one per exit.
struct Exit {
  sequence @0 :UInt64;
  kind @1 :ExitKind;
  port @2 :UInt16;          # port for portIn/portOut, else 0
  accessSize @3 :UInt8;     # 1, 2 or 4 for port accesses, else 0
  data @4 :UInt32;          # value written for portOut, else 0
  instructionCount @5 :UInt64;  # instructions retired since the start; 0 = unknown (KVM).
                                # Non-zero counts never decrease along the trace.
  inValue @6 :UInt32;       # value returned to the guest for portIn, else 0
  registers :union {
    full @7 :Registers;
    delta @8 :RegistersDelta;
  }
  hostWrites @9 :List(MemoryWrite);  # the host's writes into guest memory while handling it, in order
  fault @10 :Fault;                  # null unless the exit is a fault
}

struct Value {
  union {
    i64 @0 :Int64;
    text @1 :Text;
    bytes @2 :Data;
    none @3 :Void;  # added in 1.1: no value (a guest function returning void)
  }
}

# A guest function call starts (the host is about to run the guest's dispatcher).
# The guest's initialisation is recorded as a call named "" with no arguments.
struct CallStart {
  function @0 :Text;
  args @1 :List(Value);
  # Added in 1.1 (null/empty in 1.0 traces = not recorded): the register file the vCPU starts the
  # call with, and the host's writes into guest memory that placed the call (name, arguments),
  # in order. Replay applies the writes, then sets the registers, then runs.
  registers @2 :Registers;
  hostWrites @3 :List(MemoryWrite);
}

# A guest function call ended.
struct CallEnd {
  union {
    result @0 :Value;
    error @1 :Text;
  }
}

enum NondetKind {
  rdtsc @0;    # values: [tsc]
  rdtscp @1;   # values: [tsc, tsc_aux]
  rdrand @2;   # values: [value, cf]
  rdseed @3;   # values: [value, cf]
}

# A nondeterministic instruction's result, supplied by the software vCPU.
struct NondetResult {
  instructionCount @0 :UInt64;  # count at the instruction
  rip @1 :UInt64;
  kind @2 :NondetKind;
  values @3 :List(UInt64);
}

# Pages dirtied since the previous MemoryDelta (or since Setup for the first one), each either
# with its contents (`pages`) or, by default since 1.5, only its checksum (`pageDigests`): enough
# for replay to check memory, ~16 bytes a page. Constraint: no page is listed twice, in either.
struct MemoryDelta {
  exitSequence @0 :UInt64;      # sequence number of the exit this delta was taken at
  instructionCount @1 :UInt64;  # 0 = unknown
  pages @2 :List(Page);
  pageDigests @3 :List(PageDigest);  # (1.5) a 1.4 reader ignores them: it checks no memory
}

enum EndKind {
  unknown @0;     # no End record: the recorder was killed or crashed (never written)
  completed @1;
  guestFault @2;
  timeout @3;
}

# The last record of a trace that ended cleanly.
struct End {
  kind @0 :EndKind;
  message @1 :Text;  # the fault or timeout message; empty when completed
  endTimeNs @2 :Int64;  # added in 1.1: when recording ended, ns since the Unix epoch; 0 = unknown
}

# Added in 1.2: bytes a debugger wrote into guest memory while the guest was paused between two
# exits, to apply when replay reaches `instructionCount` (after the instructions before it, before
# the next). Software vCPU recordings only: KVM has no instruction count, and its recorder refuses
# such writes. Older readers skip it (and their replay then diverges where it took effect).
struct DebuggerWrite {
  instructionCount @0 :UInt64;
  writes @1 :List(MemoryWrite);
}

struct Record {
  union {
    setup @0 :Setup;
    exit @1 :Exit;
    callStart @2 :CallStart;
    callEnd @3 :CallEnd;
    nondet @4 :NondetResult;
    memoryDelta @5 :MemoryDelta;
    end @6 :End;
    debuggerWrite @7 :DebuggerWrite;  # 1.2
  }
}

# Where a chunk is and what it holds. Constraint: chunks are listed in file order; `firstExit`
# of chunk i+1 = firstExit + exitCount of chunk i.
struct ChunkInfo {
  offset @0 :UInt64;                 # file offset of the chunk header
  firstExit @1 :UInt64;              # sequence of its first exit (the next exit's if it has none)
  firstInstructionCount @2 :UInt64;  # instruction count of its first exit; 0 = none/unknown
  exitCount @3 :UInt32;
  recordCount @4 :UInt32;
}

struct TraceIndex {
  chunks @0 :List(ChunkInfo);
}

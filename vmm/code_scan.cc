#include "vmm/code_scan.h"

#include <capstone/capstone.h>

#include <cstring>

#include "base/check.h"

namespace hlrr::vmm {

const char* to_string(SiteKind kind) {
  switch (kind) {
    case SiteKind::kOut:
      return "out";
    case SiteKind::kIn:
      return "in";
    case SiteKind::kStringIo:
      return "string I/O";
    case SiteKind::kHlt:
      return "hlt";
    case SiteKind::kRdtsc:
      return "rdtsc";
    case SiteKind::kRdtscp:
      return "rdtscp";
    case SiteKind::kRdrand:
      return "rdrand";
    case SiteKind::kRdseed:
      return "rdseed";
    case SiteKind::kCpuid:
      return "cpuid";
    case SiteKind::kSyscall:
      return "syscall";
  }
  return "?";
}

namespace {

bool classify(unsigned id, SiteKind& kind) {
  switch (id) {
    case X86_INS_OUT:
      kind = SiteKind::kOut;
      return true;
    case X86_INS_IN:
      kind = SiteKind::kIn;
      return true;
    case X86_INS_INSB:
    case X86_INS_INSW:
    case X86_INS_INSD:
    case X86_INS_OUTSB:
    case X86_INS_OUTSW:
    case X86_INS_OUTSD:
      kind = SiteKind::kStringIo;
      return true;
    case X86_INS_HLT:
      kind = SiteKind::kHlt;
      return true;
    case X86_INS_RDTSC:
      kind = SiteKind::kRdtsc;
      return true;
    case X86_INS_RDTSCP:
      kind = SiteKind::kRdtscp;
      return true;
    case X86_INS_RDRAND:
      kind = SiteKind::kRdrand;
      return true;
    case X86_INS_RDSEED:
      kind = SiteKind::kRdseed;
      return true;
    case X86_INS_CPUID:
      kind = SiteKind::kCpuid;
      return true;
    case X86_INS_SYSCALL:
      kind = SiteKind::kSyscall;
      return true;
    default:
      return false;
  }
}

// Fills port and size from the operands of `in`/`out`.
void decode_io(const cs_insn& insn, InstructionSite& site) {
  const cs_x86& x86 = insn.detail->x86;
  for (uint8_t i = 0; i < x86.op_count; ++i) {
    const cs_x86_op& op = x86.operands[i];
    if (op.type == X86_OP_IMM) {
      site.port = static_cast<uint16_t>(op.imm);
    } else if (op.type == X86_OP_REG && op.reg == X86_REG_DX) {
      site.port_in_dx = true;
    } else if (op.type == X86_OP_REG) {
      site.size = op.size;  // AL / AX / EAX
    }
  }
}

// The encoding-order number of a general register of any width (eax, r10w, rsi ...), or -1.
int8_t gpr_number(unsigned reg) {
  static const unsigned kByNumber[16][3] = {
      {X86_REG_AX, X86_REG_EAX, X86_REG_RAX},    {X86_REG_CX, X86_REG_ECX, X86_REG_RCX},
      {X86_REG_DX, X86_REG_EDX, X86_REG_RDX},    {X86_REG_BX, X86_REG_EBX, X86_REG_RBX},
      {X86_REG_SP, X86_REG_ESP, X86_REG_RSP},    {X86_REG_BP, X86_REG_EBP, X86_REG_RBP},
      {X86_REG_SI, X86_REG_ESI, X86_REG_RSI},    {X86_REG_DI, X86_REG_EDI, X86_REG_RDI},
      {X86_REG_R8W, X86_REG_R8D, X86_REG_R8},    {X86_REG_R9W, X86_REG_R9D, X86_REG_R9},
      {X86_REG_R10W, X86_REG_R10D, X86_REG_R10}, {X86_REG_R11W, X86_REG_R11D, X86_REG_R11},
      {X86_REG_R12W, X86_REG_R12D, X86_REG_R12}, {X86_REG_R13W, X86_REG_R13D, X86_REG_R13},
      {X86_REG_R14W, X86_REG_R14D, X86_REG_R14}, {X86_REG_R15W, X86_REG_R15D, X86_REG_R15}};
  for (int8_t n = 0; n < 16; ++n) {
    for (unsigned r : kByNumber[n]) {
      if (r == reg) return n;
    }
  }
  return -1;
}

// From the decoded text, which Capstone formats anyway: x87 mnemonics all start with 'f'
// (fld, fxsave, fnstcw ...); MMX/SSE/AVX operands are mm*, xmm*, ymm*; plus MXCSR accesses.
bool touches_fpu(const cs_insn& insn) {
  return insn.mnemonic[0] == 'f' || std::strstr(insn.op_str, "mm") != nullptr ||
         std::strstr(insn.mnemonic, "mxcsr") != nullptr ||
         std::strncmp(insn.mnemonic, "xsave", 5) == 0 ||
         std::strncmp(insn.mnemonic, "xrstor", 6) == 0 || std::strcmp(insn.mnemonic, "emms") == 0;
}

}  // namespace

std::vector<InstructionSite> scan_code(std::span<const CodeRange> ranges, bool* uses_fpu) {
  std::vector<InstructionSite> sites;
  if (uses_fpu) *uses_fpu = false;
  // The sweep decodes every instruction without operand details (several times faster); the
  // few instructions of interest are decoded again with details.
  csh sweep, detail;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &sweep) != CS_ERR_OK) return sites;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &detail) != CS_ERR_OK) {
    cs_close(&sweep);
    return sites;
  }
  cs_option(detail, CS_OPT_DETAIL, CS_OPT_ON);
  cs_insn* insn = cs_malloc(sweep);
  cs_insn* full = cs_malloc(detail);
  for (const CodeRange& range : ranges) {
    const uint8_t* code = range.bytes.data();
    size_t remaining = range.bytes.size();
    uint64_t address = range.address;
    while (remaining > 0) {
      const uint8_t* at = code;
      if (!cs_disasm_iter(sweep, &code, &remaining, &address, insn)) {
        // Not an instruction (padding or data): resynchronise one byte on.
        ++code;
        --remaining;
        ++address;
        continue;
      }
      if (uses_fpu && !*uses_fpu && touches_fpu(*insn)) *uses_fpu = true;
      SiteKind kind;
      if (!classify(insn->id, kind)) continue;
      const uint8_t* again = at;
      size_t size = insn->size;
      uint64_t where = insn->address;
      HLRR_CHECK(cs_disasm_iter(detail, &again, &size, &where, full));
      InstructionSite site;
      site.address = full->address;
      site.length = static_cast<uint8_t>(full->size);
      site.kind = kind;
      site.text = std::string(full->mnemonic) + " " + full->op_str;
      if (kind == SiteKind::kOut || kind == SiteKind::kIn) decode_io(*full, site);
      if (kind == SiteKind::kRdrand || kind == SiteKind::kRdseed) {
        const cs_x86_op& dest = full->detail->x86.operands[0];
        site.size = dest.size;
        if (dest.type == X86_OP_REG) site.gpr = gpr_number(dest.reg);
      }
      sites.push_back(std::move(site));
    }
  }
  cs_free(insn, 1);
  cs_free(full, 1);
  cs_close(&sweep);
  cs_close(&detail);
  return sites;
}

}  // namespace hlrr::vmm

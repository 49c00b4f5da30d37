#include "vmm/code_scan.h"

#include <capstone/capstone.h>

namespace hlrr::vmm {

const char* to_string(SiteKind kind) {
  switch (kind) {
    case SiteKind::kOut: return "out";
    case SiteKind::kIn: return "in";
    case SiteKind::kStringIo: return "string I/O";
    case SiteKind::kHlt: return "hlt";
    case SiteKind::kRdtsc: return "rdtsc";
    case SiteKind::kRdtscp: return "rdtscp";
    case SiteKind::kRdrand: return "rdrand";
    case SiteKind::kRdseed: return "rdseed";
  }
  return "?";
}

namespace {

bool classify(unsigned id, SiteKind& kind) {
  switch (id) {
    case X86_INS_OUT: kind = SiteKind::kOut; return true;
    case X86_INS_IN: kind = SiteKind::kIn; return true;
    case X86_INS_INSB: case X86_INS_INSW: case X86_INS_INSD:
    case X86_INS_OUTSB: case X86_INS_OUTSW: case X86_INS_OUTSD:
      kind = SiteKind::kStringIo; return true;
    case X86_INS_HLT: kind = SiteKind::kHlt; return true;
    case X86_INS_RDTSC: kind = SiteKind::kRdtsc; return true;
    case X86_INS_RDTSCP: kind = SiteKind::kRdtscp; return true;
    case X86_INS_RDRAND: kind = SiteKind::kRdrand; return true;
    case X86_INS_RDSEED: kind = SiteKind::kRdseed; return true;
    default: return false;
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

}  // namespace

std::vector<InstructionSite> scan_code(std::span<const CodeRange> ranges) {
  std::vector<InstructionSite> sites;
  csh handle;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) return sites;
  cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON);
  cs_insn* insn = cs_malloc(handle);
  for (const CodeRange& range : ranges) {
    const uint8_t* code = range.bytes.data();
    size_t remaining = range.bytes.size();
    uint64_t address = range.address;
    while (remaining > 0) {
      if (!cs_disasm_iter(handle, &code, &remaining, &address, insn)) {
        // Not an instruction (padding or data): resynchronise one byte on.
        ++code;
        --remaining;
        ++address;
        continue;
      }
      SiteKind kind;
      if (!classify(insn->id, kind)) continue;
      InstructionSite site;
      site.address = insn->address;
      site.length = static_cast<uint8_t>(insn->size);
      site.kind = kind;
      site.text = std::string(insn->mnemonic) + " " + insn->op_str;
      if (kind == SiteKind::kOut || kind == SiteKind::kIn) decode_io(*insn, site);
      if (kind == SiteKind::kRdrand || kind == SiteKind::kRdseed) {
        site.size = insn->detail->x86.operands[0].size;
      }
      sites.push_back(std::move(site));
    }
  }
  cs_free(insn, 1);
  cs_close(&handle);
  return sites;
}

}  // namespace hlrr::vmm

#include "vmm/block_counter.h"

#include <capstone/capstone.h>

#include <algorithm>

#include "base/check.h"

namespace hlrr::vmm {
namespace {

// The instructions the code scan makes sites of and the software vCPU stops before (cpuid runs
// natively: its answers are the CPU model's everywhere). nullptr for any other.
const char* special_name(unsigned id) {
  switch (id) {
    case X86_INS_IN:
      return "in";
    case X86_INS_OUT:
      return "out";
    case X86_INS_INSB:
    case X86_INS_INSW:
    case X86_INS_INSD:
      return "ins";
    case X86_INS_OUTSB:
    case X86_INS_OUTSW:
    case X86_INS_OUTSD:
      return "outs";
    case X86_INS_HLT:
      return "hlt";
    case X86_INS_RDTSC:
      return "rdtsc";
    case X86_INS_RDTSCP:
      return "rdtscp";
    case X86_INS_RDRAND:
      return "rdrand";
    case X86_INS_RDSEED:
      return "rdseed";
    case X86_INS_SYSCALL:  // served by hlrr where scanned (libc guests); Unicorn skips it
      return "syscall";
    default:
      return nullptr;
  }
}

}  // namespace

uint64_t BlockCounter::Block::index_of(uint64_t rip) const {
  if (rip < address) return length();
  const uint64_t offset = rip - address;
  auto it = std::lower_bound(offsets.begin(), offsets.end(), offset);
  if (it == offsets.end() || *it != offset) return length();
  return static_cast<uint64_t>(it - offsets.begin());
}

const BlockCounter::Block& BlockCounter::find_or_decode(uint64_t address, uint32_t size) {
  auto it = blocks_.find(address);
  if (it != blocks_.end() && it->second.size == size) return it->second;
  // A block's size changes only if its code did (or Unicorn translated it differently).
  Block block = decode(address, size);
  if (it != blocks_.end()) {
    // Nothing points at it: enter() clears current_ before looking up.
    it->second = std::move(block);
    return it->second;
  }
  return blocks_.emplace(address, std::move(block)).first->second;
}

BlockCounter::~BlockCounter() {
  if (capstone_ != 0) {
    csh handle = capstone_;
    cs_close(&handle);
  }
}

BlockCounter::Block BlockCounter::decode(uint64_t address, uint32_t size) const {
  Block block{.address = address, .size = size, .offsets = {}};
  if (address >= memory_.size() || size > memory_.size() - address) {
    // Not guest memory (Unicorn would have faulted first): count it as one instruction.
    block.offsets.push_back(0);
    block.instructions = 1;
    return block;
  }
  if (capstone_ == 0) {
    csh opened;
    HLRR_CHECK(cs_open(CS_ARCH_X86, CS_MODE_64, &opened) == CS_ERR_OK);
    capstone_ = opened;
  }
  const csh handle = capstone_;
  const uint8_t* code = memory_.data() + address;
  size_t left = size;
  uint64_t pc = address;
  cs_insn* insn = cs_malloc(handle);
  while (left > 0 && cs_disasm_iter(handle, &code, &left, &pc, insn)) {
    if (const char* name = special_name(insn->id)) {
      block.specials.push_back({static_cast<uint32_t>(block.offsets.size()), name});
    }
    block.offsets.push_back(static_cast<uint32_t>(insn->address - address));
  }
  cs_free(insn, 1);
  // Capstone refused an encoding Unicorn executed: count the rest as one instruction, so the
  // count still advances (and the index of any later RIP is the block's end).
  if (left > 0) block.offsets.push_back(static_cast<uint32_t>(size - left));
  if (block.offsets.empty()) block.offsets.push_back(0);
  block.instructions = block.offsets.size();
  return block;
}

}  // namespace hlrr::vmm

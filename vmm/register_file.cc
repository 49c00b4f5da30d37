#include "vmm/register_file.h"

#include <cstdio>
#include <cstring>

namespace hlrr::vmm {
namespace {

struct Field64 {
  const char* name;
  uint64_t RegisterFile::*member;
};

constexpr Field64 kFields64[] = {
    {"rax", &RegisterFile::rax},         {"rbx", &RegisterFile::rbx},
    {"rcx", &RegisterFile::rcx},         {"rdx", &RegisterFile::rdx},
    {"rsi", &RegisterFile::rsi},         {"rdi", &RegisterFile::rdi},
    {"rbp", &RegisterFile::rbp},         {"rsp", &RegisterFile::rsp},
    {"r8", &RegisterFile::r8},           {"r9", &RegisterFile::r9},
    {"r10", &RegisterFile::r10},         {"r11", &RegisterFile::r11},
    {"r12", &RegisterFile::r12},         {"r13", &RegisterFile::r13},
    {"r14", &RegisterFile::r14},         {"r15", &RegisterFile::r15},
    {"rip", &RegisterFile::rip},         {"fs_base", &RegisterFile::fs_base},
    {"gs_base", &RegisterFile::gs_base},
};

struct Field16 {
  const char* name;
  uint16_t RegisterFile::*member;
};

constexpr Field16 kFields16[] = {
    {"cs", &RegisterFile::cs},   {"ss", &RegisterFile::ss},   {"ds", &RegisterFile::ds},
    {"es", &RegisterFile::es},   {"fs", &RegisterFile::fs},   {"gs", &RegisterFile::gs},
    {"fcw", &RegisterFile::fcw}, {"fsw", &RegisterFile::fsw}, {"ftw", &RegisterFile::ftw},
};

std::string describe(const char* name, uint64_t a, uint64_t b) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s: 0x%llx != 0x%llx", name, static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

}  // namespace

std::optional<std::string> first_difference(const RegisterFile& a, const RegisterFile& b,
                                            uint64_t rflags_mask, bool x87_last) {
  for (const auto& f : kFields64) {
    if (a.*f.member != b.*f.member) return describe(f.name, a.*f.member, b.*f.member);
  }
  if ((a.rflags & rflags_mask) != (b.rflags & rflags_mask)) {
    return describe("rflags", a.rflags, b.rflags);
  }
  for (const auto& f : kFields16) {
    if (a.*f.member != b.*f.member) return describe(f.name, a.*f.member, b.*f.member);
  }
  if (a.mxcsr != b.mxcsr) return describe("mxcsr", a.mxcsr, b.mxcsr);
  if (x87_last && a.fop != b.fop) return describe("fop", a.fop, b.fop);
  if (x87_last && a.fip != b.fip) return describe("fip", a.fip, b.fip);
  if (x87_last && a.fdp != b.fdp) return describe("fdp", a.fdp, b.fdp);
  for (int i = 0; i < 16; ++i) {
    if (a.xmm[i] != b.xmm[i]) return "xmm" + std::to_string(i) + " differs";
  }
  for (int i = 0; i < 8; ++i) {
    if (a.st[i] != b.st[i]) return "st" + std::to_string(i) + " differs";
  }
  return std::nullopt;
}

}  // namespace hlrr::vmm

#include "rsp/target.h"

#include <algorithm>

namespace hlrr::rsp {

base::Status Target::read_register(int regno, std::span<uint8_t> out) {
  if (regno < 0 || regno >= kRegisterCount) return base::fail("no such register");
  const RegisterDesc& desc = registers()[regno];
  if (out.size() != desc.bitsize / 8u) return base::fail("wrong register size");
  RegisterFile file{};
  base::Status status = read_registers(file);
  if (!status) return status;
  std::copy_n(file.begin() + desc.offset, out.size(), out.begin());
  return {};
}

base::Status Target::write_register(int regno, std::span<const uint8_t> value) {
  if (regno < 0 || regno >= kRegisterCount) return base::fail("no such register");
  const RegisterDesc& desc = registers()[regno];
  if (value.size() != desc.bitsize / 8u) return base::fail("wrong register size");
  RegisterFile file{};
  base::Status status = read_registers(file);
  if (!status) return status;
  std::copy(value.begin(), value.end(), file.begin() + desc.offset);
  return write_registers(file);
}

bool Target::supports_breakpoint(BreakpointKind) const {
  return true;
}

}  // namespace hlrr::rsp

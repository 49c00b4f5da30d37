#include "convert/registers.h"

#include <cstring>
#include <type_traits>

#include "base/check.h"
#include "convert/register_table.h"

namespace hlrr::convert {
namespace {

// Where register `regno` starts in the `g` layout, checking it holds `bytes`.
uint8_t* gdb_slot(rsp::RegisterFile& file, int regno, std::size_t bytes) {
  const rsp::RegisterDesc& desc = rsp::registers()[regno];
  HLRR_CHECK(desc.bitsize == bytes * 8);
  return file.data() + desc.offset;
}

const uint8_t* gdb_slot(const rsp::RegisterFile& file, int regno, std::size_t bytes) {
  return gdb_slot(const_cast<rsp::RegisterFile&>(file), regno, bytes);
}

template <typename T>
void put(rsp::RegisterFile& out, const RegisterField<T>& field, const T& value) {
  if constexpr (std::is_integral_v<T>) {
    if (field.form == GdbForm::kInteger) {
      rsp::set_register(out, field.gdb, value);
    } else if (field.form == GdbForm::kSplit) {
      rsp::set_register(out, field.gdb, static_cast<uint64_t>(value) >> 32);
      rsp::set_register(out, field.gdb + 1, value & 0xFFFFFFFF);
    }
  } else {
    if (field.form != GdbForm::kArray) return;
    for (std::size_t i = 0; i < value.size(); ++i) {
      std::memcpy(gdb_slot(out, field.gdb + static_cast<int>(i), value[i].size()), value[i].data(),
                  value[i].size());
    }
  }
}

template <typename T>
void take(const rsp::RegisterFile& in, const RegisterField<T>& field, T& value) {
  if constexpr (std::is_integral_v<T>) {
    const auto half = [&](int regno) { return rsp::get_register(in, regno) & 0xFFFFFFFF; };
    if (field.form == GdbForm::kInteger) {
      value = static_cast<T>(rsp::get_register(in, field.gdb) & field.gdb_mask);
    } else if (field.form == GdbForm::kSplit) {
      value = static_cast<T>((half(field.gdb) << 32 | half(field.gdb + 1)) & field.gdb_mask);
    }
  } else {
    if (field.form != GdbForm::kArray) return;
    for (std::size_t i = 0; i < value.size(); ++i) {
      std::memcpy(value[i].data(), gdb_slot(in, field.gdb + static_cast<int>(i), value[i].size()),
                  value[i].size());
    }
  }
}

}  // namespace

trace::Registers to_trace(const vmm::RegisterFile& r) {
  trace::Registers t;
  for_each_register_field([&](const auto& f) { t.*f.trace = r.*f.vmm; });
  return t;
}

vmm::RegisterFile from_trace(const trace::Registers& t) {
  vmm::RegisterFile r;
  for_each_register_field([&](const auto& f) { r.*f.vmm = t.*f.trace; });
  return r;
}

void to_gdb(const vmm::RegisterFile& r, rsp::RegisterFile& out) {
  out.fill(0);
  for_each_register_field([&](const auto& f) { put(out, f, r.*f.vmm); });
}

void from_gdb(const rsp::RegisterFile& in, vmm::RegisterFile& r) {
  for_each_register_field([&](const auto& f) { take(in, f, r.*f.vmm); });
}

}  // namespace hlrr::convert

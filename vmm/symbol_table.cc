#include "vmm/symbol_table.h"

#include <algorithm>
#include <cstdio>

namespace hlrr::vmm {

SymbolTable::SymbolTable(std::vector<Symbol> symbols) : symbols_(std::move(symbols)) {
  std::stable_sort(symbols_.begin(), symbols_.end(),
                   [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
}

const Symbol* SymbolTable::find_containing(uint64_t address) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const Symbol& s) { return a < s.address; });
  // Walk back over symbols that start at or below `address`; prefer one whose extent covers it.
  for (auto back = it; back != symbols_.begin();) {
    --back;
    if (back->size != 0 && address < back->address + back->size) return &*back;
    if (back->size == 0 && address - back->address < 0x10000) return &*back;
    if (address - back->address >= 0x10000) break;
  }
  return nullptr;
}

std::string SymbolTable::describe(uint64_t address) const {
  char buf[64];
  const Symbol* s = find_containing(address);
  if (!s) {
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(address));
    return buf;
  }
  if (address == s->address) return s->name;
  std::snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(address - s->address));
  return s->name + buf;
}

std::optional<uint64_t> SymbolTable::address_of(std::string_view name) const {
  for (const auto& s : symbols_) {
    if (s.name == name) return s.address;
  }
  return std::nullopt;
}

}  // namespace hlrr::vmm

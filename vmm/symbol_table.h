// SymbolTable: the guest ELF's symbols, to name addresses in error messages ("in main+0x12")
// and to find functions by name (debugger tests, breakpoints by name).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hlrr::vmm {

struct Symbol {
  std::string name;
  uint64_t address = 0;
  uint64_t size = 0;
  bool is_function = false;
};

class SymbolTable {
 public:
  SymbolTable() = default;
  explicit SymbolTable(std::vector<Symbol> symbols);  // sorts by address

  // The symbol whose [address, address + size) holds `address` (or, for size-0 symbols, the
  // nearest one below it within the same 64 KiB), if any.
  const Symbol* find_containing(uint64_t address) const;
  // "name+0x12", "name", or "0x1234" when no symbol covers it.
  std::string describe(uint64_t address) const;
  std::optional<uint64_t> address_of(std::string_view name) const;
  const std::vector<Symbol>& symbols() const { return symbols_; }

 private:
  std::vector<Symbol> symbols_;
};

}  // namespace hlrr::vmm

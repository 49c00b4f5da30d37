#include "vmm/symbol_table.h"

#include <gtest/gtest.h>

namespace hlrr::vmm {
namespace {

TEST(SymbolTable, DescribesAddressesAsSymbolPlusOffset) {
  SymbolTable table({{"second", 0x100100, 0x20, true},
                     {"first", 0x100000, 0x100, true},
                     {"g_data", 0x102000, 8, false}});
  EXPECT_EQ(table.describe(0x100000), "first");
  EXPECT_EQ(table.describe(0x100012), "first+0x12");
  EXPECT_EQ(table.describe(0x10011f), "second+0x1f");
  EXPECT_EQ(table.describe(0x100120), "0x100120");  // past the end of `second`
  EXPECT_EQ(table.describe(0x50), "0x50");
  EXPECT_EQ(table.address_of("g_data"), 0x102000u);
  EXPECT_EQ(table.address_of("missing"), std::nullopt);
}

}  // namespace
}  // namespace hlrr::vmm

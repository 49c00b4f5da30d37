// The SDK runtime in a guest, as gdb sees it through the guest's DWARF: every guest enters
// through the one runtime/entry.S, and a musl guest carries none of the freestanding pieces
// musl provides (memcpy & co in memory.c, formatting in format.c).
#include <gtest/gtest.h>

#include "tests/integration/guests.h"
#include "tests/support/subprocess.h"

namespace hlrr::testing {
namespace {

// gdb's `info line SYMBOL` for each symbol, one line each.
std::string info_lines(const std::string& guest, const std::vector<std::string>& symbols) {
  std::vector<std::string> argv = {"gdb", "-batch", "-nx"};
  for (const auto& s : symbols) {
    argv.push_back("-ex");
    argv.push_back("info line " + s);
  }
  argv.push_back(guest_path(guest));
  auto r = run_process(argv, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(GuestRuntime, MuslGuestsShareTheOneEntryAndNotTheFreestandingPieces) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  const std::string entry = std::string(HLRR_SOURCE_DIR) + "/guest/runtime/entry.S\"";
  const std::string runtime = std::string(HLRR_SOURCE_DIR) + "/guest/runtime/";
  // The freestanding guest: the SDK's entry, memcpy and formatting.
  std::string out = info_lines("hello", {"_start", "hl_dispatch_entry", "memcpy", "hl_snprintf"});
  EXPECT_NE(out.find(" of \"" + entry + " starts at address 0x100000 <_start>"), std::string::npos)
      << out;
  EXPECT_EQ(count(out, " of \"" + entry + " starts at address 0x"), 2u) << out;
  EXPECT_NE(out.find(" of \"" + runtime + "memory.c\" starts at address 0x"), std::string::npos)
      << out;
  EXPECT_NE(out.find(" of \"" + runtime + "format.c\" starts at address 0x"), std::string::npos)
      << out;
  // The musl guest: the same entry.S for both entry points; memcpy is musl's (no line
  // information: Debian's libc.a has none), hl_snprintf is musl's vsnprintf behind libc/boot.c.
  out = info_lines("libc_demo", {"_start", "hl_dispatch_entry", "memcpy", "hl_snprintf"});
  EXPECT_NE(out.find(" of \"" + entry + " starts at address 0x100000 <_start>"), std::string::npos)
      << out;
  EXPECT_EQ(count(out, " of \"" + entry + " starts at address 0x"), 2u) << out;
  EXPECT_EQ(out.find("libc/entry.S"), std::string::npos) << out;
  EXPECT_NE(out.find("No line number information available for address 0x"), std::string::npos)
      << out;
  EXPECT_EQ(out.find(runtime + "memory.c"), std::string::npos) << out;
  EXPECT_EQ(out.find(runtime + "format.c"), std::string::npos) << out;
  EXPECT_NE(out.find(" of \"" + runtime + "libc/boot.c\" starts at address 0x"), std::string::npos)
      << out;
}

}  // namespace
}  // namespace hlrr::testing

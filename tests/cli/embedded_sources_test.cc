// extract_sources writes a recording's sources under a directory at their absolute paths, and
// refuses a path from the trace that would leave it.
#include "cli/embedded_sources.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace hlrr::cli {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ExtractSources : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static trace::SourceFile source(const std::string& path, const std::string& text) {
    return {path, std::vector<uint8_t>(text.begin(), text.end())};
  }
  std::string dir_ = [] {
    char d[] = "/tmp/hlrr-sources-XXXXXX";
    return std::string(mkdtemp(d));
  }();
};

TEST_F(ExtractSources, EachFileLandsAtItsAbsolutePathUnderTheDirectory) {
  trace::Setup setup;
  setup.sources = {source("/src/app/main.c", "int main;\n"), source("/usr/include/x.h", "#x\n")};
  auto n = extract_sources(setup, dir_ + "/out");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(slurp(dir_ + "/out/src/app/main.c"), "int main;\n");
  EXPECT_EQ(slurp(dir_ + "/out/usr/include/x.h"), "#x\n");
}

TEST_F(ExtractSources, PathsThatWouldLeaveTheDirectoryAreRefused) {
  for (const std::string bad : {"/src/../../../etc/evil", "relative/x.c", "", "/a/.."}) {
    trace::Setup setup;
    setup.sources = {source(bad, "x")};
    auto n = extract_sources(setup, dir_ + "/out");
    ASSERT_FALSE(n) << bad;
    EXPECT_NE(n.error().message.find("not an absolute path without `..`"), std::string::npos)
        << n.error().message;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/etc/evil"));
  EXPECT_FALSE(std::filesystem::exists("/etc/evil"));
}

}  // namespace
}  // namespace hlrr::cli

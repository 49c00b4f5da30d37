// hlrun's call sessions: the call list from --call groups and a calls file.
#include "cli/call_session.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace hlrr::cli {
namespace {

std::vector<CallSpec> lines(const std::string& text) {
  std::istringstream in(text);
  auto calls = parse_call_lines(in, "calls.txt");
  EXPECT_TRUE(calls.has_value()) << calls.error().message;
  return calls ? *calls : std::vector<CallSpec>{};
}

std::string error_of(const std::string& text) {
  std::istringstream in(text);
  auto calls = parse_call_lines(in, "calls.txt");
  return calls ? "" : calls.error().message;
}

TEST(CallSession, OneCallALineWithTypedArguments) {
  const auto calls = lines(
      "add_sample 10\n"
      "\n"
      "# a comment\n"
      "  greet \"two words\" s:42 b:0aff -7\t0x10\r\n"
      "mean\n");
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].function, "add_sample");
  EXPECT_EQ(calls[0].args, (std::vector<vmm::Value>{int64_t{10}}));
  EXPECT_EQ(calls[0].text, "add_sample 10");
  EXPECT_EQ(calls[1].function, "greet");
  EXPECT_EQ(calls[1].args,
            (std::vector<vmm::Value>{std::string("two words"), std::string("42"),
                                     vmm::Bytes{0x0a, 0xff}, int64_t{-7}, int64_t{16}}));
  EXPECT_EQ(calls[2].function, "mean");
  EXPECT_TRUE(calls[2].args.empty());
}

TEST(CallSession, QuotesHoldBlanksAndEscapes) {
  const auto calls = lines("greet \"say \\\"hi\\\" \\\\ now\" \"\"\n");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].args,
            (std::vector<vmm::Value>{std::string("say \"hi\" \\ now"), std::string("")}));
}

TEST(CallSession, ErrorsNameTheFileAndLine) {
  EXPECT_EQ(error_of("mean\ngreet \"open\n"), "calls.txt:2: unterminated quote");
  EXPECT_EQ(error_of("mean\n\nf b:abc\n"),
            "calls.txt:3: byte argument 'b:abc' has an odd number of hex digits");
  EXPECT_EQ(error_of("\"\" 1\n"), "calls.txt:1: a call needs a function name");
}

TEST(CallSession, GatherTakesTheCallOptionsInOrderThenTheFile) {
  auto calls = gather_calls({{"add_sample", "1"}, {"add_sample", "2"}}, "");
  ASSERT_TRUE(calls.has_value());
  ASSERT_EQ(calls->size(), 2u);
  EXPECT_EQ((*calls)[1].args, (std::vector<vmm::Value>{int64_t{2}}));

  calls = gather_calls({}, "");  // nothing: main
  ASSERT_TRUE(calls.has_value());
  ASSERT_EQ(calls->size(), 1u);
  EXPECT_EQ((*calls)[0].function, "main");

  const std::string path = ::testing::TempDir() + "/hlrr-calls.txt";
  {
    std::ofstream f(path);
    f << "mean\nsample_count\n";
  }
  calls = gather_calls({{"reset"}}, path);
  ASSERT_TRUE(calls.has_value()) << calls.error().message;
  ASSERT_EQ(calls->size(), 3u);
  EXPECT_EQ((*calls)[0].function, "reset");
  EXPECT_EQ((*calls)[1].function, "mean");
  EXPECT_EQ((*calls)[2].function, "sample_count");
  std::remove(path.c_str());

  calls = gather_calls({}, "/nonexistent/calls.txt");
  ASSERT_FALSE(calls.has_value());
  EXPECT_EQ(calls.error().message, "--calls: cannot open '/nonexistent/calls.txt'");
}

}  // namespace
}  // namespace hlrr::cli

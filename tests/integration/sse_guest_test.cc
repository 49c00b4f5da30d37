// SSE on by default: a guest built with the SDK's default flags computes in floating point,
// and hlrun picks a backend that can execute it without being told.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "hl_abi.h"
#include "tests/integration/guests.h"
#include "tests/support/subprocess.h"
#include "vmm/backend_choice.h"
#include "vmm/elf_image.h"

namespace hlrr::testing {
namespace {

TEST(SseGuest, ComputesAFloatResultWithNoVcpuFlag) {
  auto r = run_hlrun({guest_path("floats"), "--call", "harmonic", "10", "-v"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "result: 2928968\n");  // H(10) = 2.9289682539...
  const vmm::KvmCapability& kvm = vmm::probe_kvm();
  if (!kvm.usable) {
    EXPECT_NE(r.err.find("hlrun: vcpu: unicorn: KVM is not usable here: "), std::string::npos)
        << r.err;
  } else if (!kvm.executes_sse) {
    EXPECT_NE(r.err.find("hlrun: vcpu: unicorn: the guest needs x87/SSE"), std::string::npos)
        << r.err;
  }
  EXPECT_NE(r.err.find("hlrun: vcpu backend: unicorn\n"), std::string::npos) << r.err;
  r = run_hlrun({guest_path("floats"), "--call", "harmonic", "1000", "--vcpu", "unicorn"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "result: 7485470\n");  // H(1000) = 7.4854708605...
}

// Where KVM cannot execute SSE (absent here, or the workplace's kvm_pvm), asking for it with an
// SSE guest is one line and exit status 2, before the guest runs.
TEST(SseGuest, ExplicitKvmThatCannotRunItIsOneLineError) {
  const vmm::KvmCapability& kvm = vmm::probe_kvm();
  if (kvm.usable && kvm.executes_sse) GTEST_SKIP() << "this KVM executes SSE";
  auto r = run_hlrun({guest_path("floats"), "--call", "harmonic", "10", "--vcpu", "kvm"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  const std::string expected =
      kvm.usable ? "hlrun: the guest needs x87/SSE (built with them, or its code uses them) and "
                   "this KVM cannot execute SSE: use --vcpu unicorn, or build the guest "
                   "GENERAL_REGS_ONLY\n"
                 : "hlrun: KVM is not usable here: " + kvm.usable.error().message +
                       " (use --vcpu unicorn)\n";
  EXPECT_EQ(r.err, expected);
}

// hlguest-cc builds with SSE by default (musl) and, with -mgeneral-regs-only, without it on
// the freestanding runtime; the ELF note says which, and both run.
class HlguestCcSse : public ::testing::Test {
 protected:
  void SetUp() override {
    char d[] = "/tmp/hlrr-hlguest-sse-XXXXXX";
    dir_ = mkdtemp(d);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Writes `source` to NAME.c, compiles and links it with `flags`; the ELF's path.
  std::string build(const std::string& name, const std::string& source,
                    std::vector<std::string> flags) {
    std::FILE* f = std::fopen((dir_ + "/" + name + ".c").c_str(), "w");
    EXPECT_TRUE(f);
    std::fputs(source.c_str(), f);
    std::fclose(f);
    const std::string cc = std::string(HLRR_SOURCE_DIR) + "/guest/bin/hlguest-cc";
    std::vector<std::string> compile = {cc, "-c", dir_ + "/" + name + ".c", "-o",
                                        dir_ + "/" + name + ".o"};
    compile.insert(compile.end(), flags.begin(), flags.end());
    auto r = run_process(compile);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> link = {cc, dir_ + "/" + name + ".o", "-o",
                                     dir_ + "/" + name + ".elf"};
    link.insert(link.end(), flags.begin(), flags.end());
    r = run_process(link);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return dir_ + "/" + name + ".elf";
  }
  std::string dir_;
};

TEST_F(HlguestCcSse, SseByDefaultAndGeneralRegsOnlyOnRequest) {
  const std::string sse = build("mean",
                                "#include <stdio.h>\n#include \"hlguest.h\"\n"
                                "static hl_value mean(const hl_value* a, uint32_t n) { (void)n;\n"
                                "  double m = (hl_as_i64(a[0]) + hl_as_i64(a[1])) / 2.0;\n"
                                "  printf(\"%.2f\\n\", m); return hl_i64((int64_t)(m * 100)); }\n"
                                "void hl_main(void) { hl_register(\"mean\", mean, \"ii\"); }\n",
                                {"-O2"});
  auto image = vmm::ElfImage::read_file(sse);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->feature_note(), std::optional<uint32_t>(HL_FEATURE_SSE));
  EXPECT_TRUE(image->needs_sse());
  auto r = run_hlrun({sse, "--call", "mean", "3", "8"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "5.50\nresult: 550\n");

  const std::string general =
      build("sum",
            "#include \"hlguest.h\"\n"
            "static hl_value sum(const hl_value* a, uint32_t n) { (void)n;\n"
            "  hl_printf(\"sum %ld\\n\", hl_as_i64(a[0]) + hl_as_i64(a[1]));\n"
            "  return hl_i64(hl_as_i64(a[0]) + hl_as_i64(a[1])); }\n"
            "void hl_main(void) { hl_register(\"sum\", sum, \"ii\"); }\n",
            {"-O2", "-mgeneral-regs-only"});
  image = vmm::ElfImage::read_file(general);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->feature_note(), std::optional<uint32_t>(0));
  EXPECT_FALSE(image->uses_fpu());
  EXPECT_FALSE(image->needs_sse());
  r = run_hlrun({general, "--call", "sum", "3", "8"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "sum 11\nresult: 11\n");
}

}  // namespace
}  // namespace hlrr::testing

// Helpers for the replay tests: recording a guest call in-process (recorder::record_to) into a
// temporary trace.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "recorder/recorder.h"
#include "trace_format/trace_reader.h"
#include "trace_format/trace_writer.h"
#include "vmm/sandbox.h"
#include "vmm/standard_host_functions.h"

namespace hlrr::testing {

class TempDir {
 public:
  TempDir() {
    char dir[] = "/tmp/hlrr-replay-XXXXXX";
    dir_ = mkdtemp(dir);
  }
  ~TempDir() { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

struct CallSpec {
  std::string function;
  std::vector<vmm::Value> args;
};

// buggy.c's scenario: 16 samples, then add_sample(1000), whose off-by-one store overwrites
// count with 17, then mean().
inline std::vector<CallSpec> buggy_off_by_one_calls() {
  std::vector<CallSpec> calls;
  for (int64_t v = 10; v <= 160; v += 10) calls.push_back({"add_sample", {vmm::Value{v}}});
  calls.push_back({"add_sample", {vmm::Value{int64_t{1000}}}});
  calls.push_back({"mean", {}});
  return calls;
}

// Records the initialisation of `guest` and `calls` into `path` as hlrun --record does. Returns
// false (with a test failure) if the guest can't be loaded or recorded; calls may fault.
inline bool record_guest(const std::string& guest, const std::vector<CallSpec>& calls,
                         const std::string& path, vmm::VcpuKind vcpu = vmm::VcpuKind::kUnicorn,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10),
                         recorder::RecordOptions options = {}) {
  auto image = vmm::ElfImage::read_file(std::string(HLRR_GUEST_DIR) + "/" + guest + ".elf");
  if (!image) {
    ADD_FAILURE() << image.error().message;
    return false;
  }
  vmm::SandboxConfig config;
  config.vcpu = vcpu;
  config.timeout = timeout;
  config.output = [](std::string_view) {};
  vmm::add_standard_host_functions(config.host_functions);
  auto sandbox = vmm::Sandbox::load(std::move(*image), std::move(config));
  if (!sandbox) {
    ADD_FAILURE() << sandbox.error().message;
    return false;
  }
  options.guest_name = guest + ".elf";
  auto rec = recorder::record_to(**sandbox, path, std::move(options));
  if (!rec) {
    ADD_FAILURE() << rec.error().message;
    return false;
  }
  if ((*sandbox)->resume().kind != vmm::RunOutcome::Kind::kReturned) {
    ADD_FAILURE() << guest << ": initialisation failed";
    return false;
  }
  for (const auto& c : calls) {
    if (!(*rec)->active()) break;
    (void)(*sandbox)->call(c.function, c.args);
  }
  auto st = (*rec)->finish();
  if (!st) ADD_FAILURE() << st.error().message;
  return static_cast<bool>(st);
}

// Rewrites `in` into `out`, letting `edit` change records (not Setup/End) and `insert` add records
// after each one.
inline void rewrite(
    const std::string& in, const std::string& out, const std::function<void(trace::Record&)>& edit,
    const std::function<std::vector<trace::Record>(const trace::Record&)>& insert = {}) {
  auto reader = trace::TraceReader::open(in);
  ASSERT_TRUE(reader);
  auto setup = (*reader)->setup();
  ASSERT_TRUE(setup);
  auto writer = trace::TraceWriter::open(out, *setup);
  ASSERT_TRUE(writer) << writer.error().message;
  trace::End end;
  ASSERT_TRUE((*reader)->for_each_record([&](const trace::Record& r) {
    if (std::holds_alternative<trace::Setup>(r)) return true;
    if (auto* e = std::get_if<trace::End>(&r)) {
      end = *e;
      return true;
    }
    trace::Record copy = r;
    edit(copy);
    EXPECT_TRUE((*writer)->append(std::move(copy)));
    if (insert) {
      for (auto& extra : insert(r)) EXPECT_TRUE((*writer)->append(std::move(extra)));
    }
    return true;
  }));
  ASSERT_TRUE((*writer)->finish(end));
}

}  // namespace hlrr::testing

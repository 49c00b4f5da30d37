// The size goal: <= 32 bytes per exit after compression, not counting the host's data.
#include <gtest/gtest.h>

#include "tests/trace_format/trace_test_util.h"
#include "trace_format/trace_reader.h"
#include "trace_format/trace_writer.h"

namespace hlrr::trace {
namespace {

TEST(TraceSize, AtMost32BytesPerExit) {
  testing::TempFile file;
  testing::RecordGenerator gen(21);
  auto writer = TraceWriter::open(file.path(), testing::make_setup());
  ASSERT_TRUE(writer);
  constexpr uint64_t kExits = 100000;
  for (uint64_t i = 0; i < kExits; ++i) {
    Exit exit = gen.next_exit();
    exit.host_writes.clear();  // the host's data is the guest's business, not the format's overhead
    exit.fault.reset();
    exit.kind = ExitKind::kPortOut;
    ASSERT_TRUE((*writer)->append(std::move(exit)));
  }
  ASSERT_TRUE((*writer)->finish(End{EndKind::kCompleted, ""}));
  auto reader = TraceReader::open(file.path());
  ASSERT_TRUE(reader);
  ASSERT_EQ((*reader)->exit_count(), kExits);
  // Everything but the Setup chunk: exits, chunk headers, index, footer.
  const uint64_t exit_bytes = (*reader)->file_size() - (*reader)->chunks()[1].offset;
  const double per_exit = static_cast<double>(exit_bytes) / kExits;
  RecordProperty("bytes_per_exit", std::to_string(per_exit));
  std::printf("bytes per exit: %.2f (%zu chunks)\n", per_exit, (*reader)->chunks().size());
  EXPECT_LE(per_exit, 32.0);
  EXPECT_GT(per_exit, 1.0);  // a real value, not an empty file
}

}  // namespace
}  // namespace hlrr::trace

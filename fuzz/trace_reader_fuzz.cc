// Fuzzes the trace reader with arbitrary bytes as a trace file: open, iterate, random access,
// verify. The first input byte selects reader options, so that the fuzzer also reaches the zstd
// and capnp decoders behind the checksums (which it cannot forge): bit 0 set = checksums off,
// bit 1 set = force a recovery scan. Seeds (small valid traces after that byte) are in
// fuzz/trace_reader_corpus/; copy them to a scratch directory and run, e.g.
//   build-fuzz/fuzz/trace_reader_fuzz /tmp/corpus -max_total_time=60 -max_len=20000
#include <cstddef>
#include <cstdint>
#include <vector>

#include "trace_format/trace_reader.h"
#include "trace_format/verify.h"

using namespace hlrr::trace;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  ReaderOptions options;
  options.verify_checksums = (data[0] & 1) == 0;
  options.force_recovery = (data[0] & 2) != 0;
  auto reader = TraceReader::open_memory(std::vector<uint8_t>(data + 1, data + size), options);
  if (!reader) return 0;
  const TraceReader& r = **reader;
  (void)r.setup();
  (void)r.end();
  uint64_t exits = 0;
  (void)r.for_each_record([&](const Record& record) {
    exits += std::holds_alternative<Exit>(record);
    return true;
  });
  (void)r.exit_at(0);
  (void)r.exit_at(r.exit_count() / 2);
  (void)r.exit_at(r.exit_count() + 1);
  (void)r.exit_at_instruction_count(0);
  (void)r.exit_at_instruction_count(1000);
  (void)r.exit_at_instruction_count(UINT64_MAX);
  (void)verify(r);
  return 0;
}

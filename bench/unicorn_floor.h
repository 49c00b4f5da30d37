// Floors on raw Unicorn: the least any software-vCPU sandbox operation can cost, measured with
// the engine alone, in the same process and run as hlrr's own figures.
#pragma once

#include <cstdint>
#include <vector>

struct uc_struct;

namespace hlrr::bench {

// uc_open + map `memory_size` + write `out; hlt` + run it + uc_close.
void unicorn_lifecycle(uint64_t memory_size);

// A warm engine with `out dx, al; hlt` at a fixed address, stopped before the `out` by a code
// hook as UnicornVcpu does.
class UnicornWarmEngine {
 public:
  UnicornWarmEngine();
  ~UnicornWarmEngine();
  // One uc_emu_start of `out; hlt` (the out performed as a hook stop + skip, then the hlt).
  void call();
  // One exit round trip: resume at `out`, stop before it, skip it.
  void exit_round_trip();

 private:
  uc_struct* uc_ = nullptr;
  std::vector<uint8_t> memory_;
};

// Raw Unicorn on a copy of guest memory: runs from `rip` (RSP = `rsp`) until `hlt`, with no
// hooks at all; or with a counting hook, returning the instructions executed.
double raw_unicorn_seconds(const std::vector<uint8_t>& memory, uint64_t rip, uint64_t rsp);
uint64_t raw_unicorn_instructions(const std::vector<uint8_t>& memory, uint64_t rip, uint64_t rsp);

}  // namespace hlrr::bench

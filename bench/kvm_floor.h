// Floors on bare KVM: what the kernel's KVM API costs by itself, measured with raw ioctls in
// the same process and run as hlrr's KVM figures (this machine's /dev/kvm is nested, so only
// ratios mean anything).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hlrr::bench {

// True if /dev/kvm can be opened.
bool kvm_present();

// Create VM + one memory slot of `memory_size` + vCPU (+ long-mode SREGS), run `out; hlt`
// to the hlt, destroy.
void kvm_lifecycle(uint64_t memory_size);

// A warm long-mode VM with `out dx, al; hlt` and `L: out dx, al; jmp L`.
class KvmWarmVm {
 public:
  explicit KvmWarmVm(uint64_t memory_size);
  ~KvmWarmVm();
  // KVM_SET_REGS + run `out; hlt` to the hlt.
  void call();
  // One `out` exit round trip in a loop of outs.
  void exit_round_trip();
  // Runs a 1M-iteration `dec ecx; jnz` loop (2M instructions) to an exit; returns seconds.
  double register_loop_seconds();

 private:
  int kvm_ = -1, vm_ = -1, vcpu_ = -1;
  void* run_ = nullptr;
  size_t run_size_ = 0;
  uint8_t* memory_ = nullptr;
  uint64_t memory_size_ = 0;
  bool loop_started_ = false;
};

}  // namespace hlrr::bench

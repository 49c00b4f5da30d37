#include "bench/kvm_floor.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "base/check.h"
#include "hl_abi.h"
#include "vmm/guest_memory.h"
#include "vmm/long_mode.h"

namespace hlrr::bench {
namespace {

constexpr uint64_t kCallCode = HL_IMAGE_BASE;         // mov dx, port; out dx, al; hlt
constexpr uint64_t kLoopCode = HL_IMAGE_BASE + 0x40;  // mov dx, port; L: out dx, al; jmp L
constexpr uint8_t kCall[] = {0x66, 0xBA, 0x00, 0x6C, 0xEE, 0xF4};
constexpr uint8_t kLoop[] = {0x66, 0xBA, 0x00, 0x6C, 0xEE, 0xEB, 0xFD};
constexpr uint64_t kSpinCode = HL_IMAGE_BASE + 0x80;  // mov ecx, 1000000; L: dec ecx; jnz L; hlt
constexpr uint8_t kSpin[] = {0xB9, 0x40, 0x42, 0x0F, 0x00, 0xFF, 0xC9, 0x75, 0xFC, 0xF4};

// The long-mode memory image (page tables, GDT, code), built once: a floor measures KVM, not
// the building of tables.
const std::vector<uint8_t>& image(uint64_t size) {
  static std::vector<uint8_t> bytes;
  if (bytes.size() != size) {
    auto memory = vmm::GuestMemory::create(size);
    HLRR_CHECK(memory.has_value());
    HLRR_CHECK(vmm::write_page_tables(*memory).has_value());
    HLRR_CHECK(vmm::write_descriptor_tables(*memory).has_value());
    std::memcpy(memory->host_base() + kCallCode, kCall, sizeof kCall);
    std::memcpy(memory->host_base() + kLoopCode, kLoop, sizeof kLoop);
    std::memcpy(memory->host_base() + kSpinCode, kSpin, sizeof kSpin);
    bytes.assign(memory->host_base(), memory->host_base() + size);
  }
  return bytes;
}

kvm_segment segment(uint16_t selector, uint8_t type, bool code) {
  kvm_segment s{};
  s.limit = 0xFFFFFFFF;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.s = 1;
  s.l = code ? 1 : 0;
  s.db = code ? 0 : 1;
  s.g = 1;
  return s;
}

struct Vm {
  int kvm, vm, vcpu;
  kvm_run* run;
  size_t run_size;
  uint8_t* memory;
};

Vm create(uint64_t size) {
  Vm v{};
  v.kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  HLRR_CHECK(v.kvm >= 0);
  v.vm = ioctl(v.kvm, KVM_CREATE_VM, 0);
  HLRR_CHECK(v.vm >= 0);
  v.memory = static_cast<uint8_t*>(mmap(nullptr, size, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  HLRR_CHECK(v.memory != MAP_FAILED);
  const auto& bytes = image(size);
  // Only the pages that hold something: tables and code (a sandbox copies its image likewise).
  std::memcpy(v.memory, bytes.data(), 0x10000);
  std::memcpy(v.memory + HL_IMAGE_BASE, bytes.data() + HL_IMAGE_BASE, 0x1000);
  kvm_userspace_memory_region region{0, 0, 0, size, reinterpret_cast<uint64_t>(v.memory)};
  HLRR_CHECK(ioctl(v.vm, KVM_SET_USER_MEMORY_REGION, &region) == 0);
  v.vcpu = ioctl(v.vm, KVM_CREATE_VCPU, 0);
  HLRR_CHECK(v.vcpu >= 0);
  v.run_size = static_cast<size_t>(ioctl(v.kvm, KVM_GET_VCPU_MMAP_SIZE, 0));
  v.run = static_cast<kvm_run*>(
      mmap(nullptr, v.run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v.vcpu, 0));
  HLRR_CHECK(v.run != MAP_FAILED);
  kvm_sregs s{};
  HLRR_CHECK(ioctl(v.vcpu, KVM_GET_SREGS, &s) == 0);
  s.cs = segment(vmm::kCodeSelector, 11, true);
  s.ds = s.es = s.fs = s.gs = s.ss = segment(vmm::kDataSelector, 3, false);
  s.gdt.base = HL_GDT_BASE;
  s.gdt.limit = vmm::kGdtLimit;
  const vmm::RegisterFile r = vmm::initial_registers(0);
  s.cr0 = r.cr0;
  s.cr3 = r.cr3;
  s.cr4 = r.cr4;
  s.efer = r.efer;
  HLRR_CHECK(ioctl(v.vcpu, KVM_SET_SREGS, &s) == 0);
  return v;
}

void set_rip(int vcpu, uint64_t rip) {
  kvm_regs regs{};
  regs.rip = rip;
  regs.rsp = HL_STACK_TOP;
  regs.rflags = 2;
  HLRR_CHECK(ioctl(vcpu, KVM_SET_REGS, &regs) == 0);
}

void run_to(int vcpu, kvm_run* run, uint32_t reason) {
  HLRR_CHECK(ioctl(vcpu, KVM_RUN, 0) == 0);
  HLRR_CHECK(run->exit_reason == reason);
}

void destroy(Vm& v, uint64_t size) {
  munmap(v.run, v.run_size);
  close(v.vcpu);
  close(v.vm);
  close(v.kvm);
  munmap(v.memory, size);
}

}  // namespace

bool kvm_present() {
  const int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  close(fd);
  return true;
}

void kvm_lifecycle(uint64_t memory_size) {
  Vm v = create(memory_size);
  set_rip(v.vcpu, kCallCode);
  run_to(v.vcpu, v.run, KVM_EXIT_IO);
  run_to(v.vcpu, v.run, KVM_EXIT_HLT);
  destroy(v, memory_size);
}

KvmWarmVm::KvmWarmVm(uint64_t memory_size) : memory_size_(memory_size) {
  Vm v = create(memory_size);
  kvm_ = v.kvm;
  vm_ = v.vm;
  vcpu_ = v.vcpu;
  run_ = v.run;
  run_size_ = v.run_size;
  memory_ = v.memory;
}

KvmWarmVm::~KvmWarmVm() {
  Vm v{kvm_, vm_, vcpu_, static_cast<kvm_run*>(run_), run_size_, memory_};
  destroy(v, memory_size_);
}

void KvmWarmVm::call() {
  loop_started_ = false;
  set_rip(vcpu_, kCallCode);
  run_to(vcpu_, static_cast<kvm_run*>(run_), KVM_EXIT_IO);
  run_to(vcpu_, static_cast<kvm_run*>(run_), KVM_EXIT_HLT);
}

void KvmWarmVm::exit_round_trip() {
  if (!loop_started_) {
    set_rip(vcpu_, kLoopCode);
    loop_started_ = true;
  }
  run_to(vcpu_, static_cast<kvm_run*>(run_), KVM_EXIT_IO);
}

double KvmWarmVm::register_loop_seconds() {
  loop_started_ = false;
  set_rip(vcpu_, kSpinCode);
  const auto t0 = std::chrono::steady_clock::now();
  run_to(vcpu_, static_cast<kvm_run*>(run_), KVM_EXIT_HLT);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace hlrr::bench

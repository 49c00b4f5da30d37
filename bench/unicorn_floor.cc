#include "bench/unicorn_floor.h"

#include <unicorn/unicorn.h>

#include <chrono>
#include <cstring>

#include "base/check.h"
#include "hl_abi.h"

namespace hlrr::bench {
namespace {

constexpr uint64_t kCode = 0x100000;
constexpr uint64_t kNoUntil = 0x8000000000000000ull;
// mov dx, HL_PORT_HOST_CALL; out dx, al; hlt
constexpr uint8_t kOutHlt[] = {0x66, 0xBA, 0x00, 0x6C, 0xEE, 0xF4};
constexpr uint64_t kOutAddress = kCode + 4;

void stop_hook(uc_engine* uc, uint64_t, uint32_t, void*) {
  uc_emu_stop(uc);
}

uc_engine* open_with(uint8_t* memory, uint64_t size) {
  uc_engine* uc = nullptr;
  HLRR_CHECK(uc_open(UC_ARCH_X86, UC_MODE_64, &uc) == UC_ERR_OK);
  HLRR_CHECK(uc_mem_map_ptr(uc, HL_PAGE_SIZE, HL_STACK_GUARD - HL_PAGE_SIZE, UC_PROT_ALL,
                            memory + HL_PAGE_SIZE) == UC_ERR_OK);
  HLRR_CHECK(uc_mem_map_ptr(uc, HL_STACK_GUARD + HL_PAGE_SIZE, size - HL_STACK_GUARD - HL_PAGE_SIZE,
                            UC_PROT_ALL, memory + HL_STACK_GUARD + HL_PAGE_SIZE) == UC_ERR_OK);
  return uc;
}

}  // namespace

void unicorn_lifecycle(uint64_t memory_size) {
  std::vector<uint8_t> memory(memory_size);
  std::memcpy(memory.data() + kCode, kOutHlt, sizeof kOutHlt);
  uc_engine* uc = open_with(memory.data(), memory_size);
  uc_hook h;
  uc_hook_add(uc, &h, UC_HOOK_CODE, reinterpret_cast<void*>(&stop_hook), nullptr, kOutAddress,
              kOutAddress);
  HLRR_CHECK(uc_emu_start(uc, kCode, kNoUntil, 0, 0) == UC_ERR_OK);
  HLRR_CHECK(uc_emu_start(uc, kOutAddress + 1, kNoUntil, 0, 0) == UC_ERR_OK);
  uc_close(uc);
}

UnicornWarmEngine::UnicornWarmEngine() : memory_(HL_MIN_MEMORY) {
  std::memcpy(memory_.data() + kCode, kOutHlt, sizeof kOutHlt);
  uc_ = open_with(memory_.data(), memory_.size());
  uc_hook h;
  uc_hook_add(uc_, &h, UC_HOOK_CODE, reinterpret_cast<void*>(&stop_hook), nullptr, kOutAddress,
              kOutAddress);
}

UnicornWarmEngine::~UnicornWarmEngine() {
  uc_close(uc_);
}

void UnicornWarmEngine::call() {
  uc_emu_start(uc_, kCode, kNoUntil, 0, 0);
  uc_emu_start(uc_, kOutAddress + 1, kNoUntil, 0, 0);
}

void UnicornWarmEngine::exit_round_trip() {
  uc_emu_start(uc_, kOutAddress, kNoUntil, 0, 0);
}

namespace {

uint64_t g_count = 0;
void count_hook(uc_engine*, uint64_t, uint32_t, void*) {
  ++g_count;
}

uc_engine* prepare(std::vector<uint8_t>& copy, uint64_t rip, uint64_t rsp) {
  uc_engine* uc = open_with(copy.data(), copy.size());
  uc_reg_write(uc, UC_X86_REG_RIP, &rip);
  uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
  return uc;
}

}  // namespace

double raw_unicorn_seconds(const std::vector<uint8_t>& memory, uint64_t rip, uint64_t rsp) {
  std::vector<uint8_t> copy = memory;
  uc_engine* uc = prepare(copy, rip, rsp);
  const auto t0 = std::chrono::steady_clock::now();
  HLRR_CHECK(uc_emu_start(uc, rip, kNoUntil, 0, 0) == UC_ERR_OK);  // ends at the guest's hlt
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uc_close(uc);
  return s;
}

uint64_t raw_unicorn_instructions(const std::vector<uint8_t>& memory, uint64_t rip, uint64_t rsp) {
  std::vector<uint8_t> copy = memory;
  uc_engine* uc = prepare(copy, rip, rsp);
  uc_hook h;
  uc_hook_add(uc, &h, UC_HOOK_CODE, reinterpret_cast<void*>(&count_hook), nullptr, 1, 0);
  g_count = 0;
  HLRR_CHECK(uc_emu_start(uc, rip, kNoUntil, 0, 0) == UC_ERR_OK);
  uc_close(uc);
  return g_count;
}

}  // namespace hlrr::bench

// BlockCounter: exact instruction counts for the software vCPU from per-block counts.
//
// Unicorn's own `count` installs a per-instruction hook (~11x slower, and one-way: see
// docs/vcpu-facts.md). Instead UnicornVcpu reports the start of every translation block
// (UC_HOOK_BLOCK, nearly free); the counter decodes each block once with Capstone, caches it by
// address, and adds its length when the *next* block starts. A run that ends inside a block is
// settled from RIP: the instructions of the block before RIP are counted, the one at RIP is not.
// The definition of "instruction count" every path shares is in docs/replay.md.
//
// Not thread-safe: used on the thread that runs the vCPU, from inside Unicorn's hooks.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace hlrr::vmm {

class BlockCounter {
 public:
  struct Block {
    uint64_t address = 0;
    uint32_t size = 0;
    // Offsets of the block's instructions from `address`, in order.
    std::vector<uint32_t> offsets;
    // Its exit and non-deterministic instructions (in/out/ins/outs, hlt, rdtsc, rdtscp, rdrand,
    // rdseed): index into `offsets` and mnemonic. The vCPU checks them against the loader's
    // code scan, which cannot see code written at run time.
    struct Special {
      uint32_t index = 0;
      const char* name = "";
    };
    std::vector<Special> specials;
    // offsets.size(), kept apart: every block entered reads it (one load instead of two).
    uint64_t instructions = 0;
    uint64_t length() const { return instructions; }
    // Instructions of this block that come before `rip` (its length if `rip` is not one of them).
    uint64_t index_of(uint64_t rip) const;
    uint64_t address_of(uint64_t index) const { return address + offsets[index]; }
  };

  explicit BlockCounter(std::span<const uint8_t> memory) : memory_(memory) {}
  ~BlockCounter();
  BlockCounter(const BlockCounter&) = delete;
  BlockCounter& operator=(const BlockCounter&) = delete;

  // A block starts executing at `address` (`size` bytes): the previous one completed.
  // Returns the block, whose first instruction is number count_at_block_start().
  const Block& enter(uint64_t address, uint32_t size) {
    if (current_) base_ += current_->length();
    current_ = nullptr;
    current_ = &lookup(address, size);
    return *current_;
  }
  uint64_t count_at_block_start() const { return base_; }

  // The run stopped before executing the instruction at `rip`, inside the current block (or
  // right after it): the exact count there. Settles the counter (no block is current).
  uint64_t settle_at(uint64_t rip) {
    if (current_) base_ += current_->index_of(rip);
    current_ = nullptr;
    return base_;
  }
  // The run stopped at the start of the current block, before executing any of it.
  uint64_t settle_before_block() {
    current_ = nullptr;
    return base_;
  }
  // The run stopped between blocks (the current one completed).
  uint64_t settle_after_block() {
    if (current_) base_ += current_->length();
    current_ = nullptr;
    return base_;
  }

  // The count after settling; set it (the counter must be settled).
  uint64_t count() const { return base_; }
  void set_count(uint64_t count) {
    base_ = count;
    current_ = nullptr;
  }
  // One more instruction retired (a `hlt`/`out`/`in` the backend performs itself).
  void add(uint64_t n) { base_ += n; }

  // Guest code changed: drop decoded blocks.
  void forget_blocks() {
    blocks_.clear();
    recent_.fill(nullptr);
    current_ = nullptr;
  }

 private:
  // Every block entered goes through here: a direct-mapped cache of recent blocks answers
  // most without the hash table's modulo and probe (a tenth of a plain run's time in perf).
  const Block& lookup(uint64_t address, uint32_t size) {
    const Block*& slot = recent_[(address ^ (address >> kRecentBits)) & (kRecentSlots - 1)];
    if (slot != nullptr && slot->address == address && slot->size == size) return *slot;
    slot = &find_or_decode(address, size);
    return *slot;
  }
  const Block& find_or_decode(uint64_t address, uint32_t size);
  Block decode(uint64_t address, uint32_t size) const;

  std::span<const uint8_t> memory_;
  // One Capstone handle for the counter's life: opening one costs ~100k host instructions,
  // more than decoding a block (it was a third of a sandbox's creation).
  mutable size_t capstone_ = 0;                 // csh; 0 until the first decode
  std::unordered_map<uint64_t, Block> blocks_;  // nodes: pointers to blocks stay valid
  static constexpr unsigned kRecentBits = 12;
  static constexpr size_t kRecentSlots = size_t{1} << kRecentBits;
  std::array<const Block*, kRecentSlots> recent_{};
  const Block* current_ = nullptr;
  uint64_t base_ = 0;
};

}  // namespace hlrr::vmm

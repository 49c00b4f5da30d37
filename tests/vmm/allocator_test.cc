// Programs that run a vCPU allocate through mimalloc (see the top CMakeLists.txt): Unicorn
// 2.0.1 calls malloc on every guest store, so whose malloc answers is a matter of speed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>

#ifdef HLRR_ALLOCATOR_MIMALLOC
#include <mimalloc.h>
#endif

namespace {

#ifdef HLRR_ALLOCATOR_MIMALLOC
TEST(Allocator, MallocAndNewOfAProgramLinkedWithTheVmmAreMimallocs) {
  void* block = std::malloc(48);  // small, as what Unicorn allocates at every store
  auto object = std::make_unique<int>(7);
  EXPECT_TRUE(mi_is_in_heap_region(block));
  EXPECT_TRUE(mi_is_in_heap_region(object.get()));
  std::free(block);
}
#endif  // sanitizer and fuzz builds keep their runtime's allocator: nothing to check

}  // namespace

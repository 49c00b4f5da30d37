// libFuzzer target for the ELF loader: any bytes as a guest executable. Parsing must either
// refuse with a one-line reason or produce an image whose segments load into guest memory (or
// are refused) without touching anything outside it.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "hl_abi.h"
#include "vmm/elf_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hlrr::vmm;
  auto image = ElfImage::parse(std::vector<uint8_t>(data, data + size));
  if (!image) {
    HLRR_CHECK(!image.error().message.empty());
    HLRR_CHECK(image.error().message.find('\n') == std::string::npos);
    return 0;
  }
  image->symbols().describe(image->entry());
  (void)image->image_end();
  static auto memory = GuestMemory::create(HL_MIN_MEMORY);
  (void)image->load_into(*memory, HL_IMAGE_BASE);
  return 0;
}

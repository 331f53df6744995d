// Large results (a pooling dx of 100 MB, a ResNet activation of 25 MB) would
// be fresh mmap'd memory on every call: NumPy's allocator hands blocks this
// big to glibc, which unmaps them on free, so each call would pay a page fault
// per page and the kernel's zeroing of the whole result before our kernel
// writes it once more, a large share of a memory-bound op's time.
#include "output_buffer.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "workspace.h"

namespace fastcnn {

namespace {

constexpr size_t kHugePage = size_t{1} << 21;

// Never destroyed: arrays may be freed during interpreter exit.
BlockCache& output_cache() {
  static BlockCache* cache = new BlockCache(kOutputCacheMinBytes, size_t{256} << 20);
  return *cache;
}

std::atomic<int64_t> g_fresh_blocks{0}, g_fresh_bytes{0};

}  // namespace

OutputBlock take_output_block(size_t bytes) {
  OutputBlock block{nullptr, 0};
  block.data = output_cache().take(bytes, &block.capacity);
  if (block.data) return block;
  g_fresh_blocks.fetch_add(1, std::memory_order_relaxed);
  g_fresh_bytes.fetch_add(int64_t(bytes), std::memory_order_relaxed);
  // Like NumPy for big arrays: ask for transparent huge pages (one fault per
  // 2 MiB, fewer TLB misses), so whole 2 MiB pages are allocated.
  const bool huge = bytes >= 2 * kHugePage;
  const size_t align = huge ? kHugePage : 64;
  block.capacity = (bytes + align - 1) / align * align;
  block.data = std::aligned_alloc(align, block.capacity);
  if (!block.data) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (huge) madvise(block.data, block.capacity, MADV_HUGEPAGE);
#endif
  return block;
}

void give_output_block(OutputBlock block) { output_cache().give(block.data, block.capacity); }

void set_output_cache_limit(size_t bytes) { output_cache().set_max_bytes(bytes); }
size_t output_cache_limit() { return output_cache().max_bytes(); }
size_t output_cache_bytes() { return output_cache().cached_bytes(); }
int64_t output_fresh_blocks() { return g_fresh_blocks.load(std::memory_order_relaxed); }
int64_t output_fresh_bytes() { return g_fresh_bytes.load(std::memory_order_relaxed); }

}  // namespace fastcnn

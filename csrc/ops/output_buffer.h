// Memory for operator results handed to NumPy, recycled between calls.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastcnn {

// Results of at least this many bytes come from the output cache; smaller
// ones are left to NumPy's allocator, whose heap reuses them anyway.
constexpr size_t kOutputCacheMinBytes = size_t{1} << 20;

struct OutputBlock {
  void* data;
  size_t capacity;  // bytes, for give_output_block
};

// 64-byte aligned memory for `bytes` bytes: a cached block or a new one
// (throws std::bad_alloc).
OutputBlock take_output_block(size_t bytes);

// Returns a block when its array dies (any thread).
void give_output_block(OutputBlock block);

// How many bytes of freed results may be kept (default 256 MiB; 0: none).
void set_output_cache_limit(size_t bytes);
size_t output_cache_limit();
size_t output_cache_bytes();

// Results that needed new memory (no cached block fitted) since start-up:
// a steady training loop adds none.
int64_t output_fresh_blocks();
int64_t output_fresh_bytes();

}  // namespace fastcnn

#include "blocking.h"

#include <algorithm>
#include <cstring>

namespace fastcnn {

BlockingContext make_blocking_context(const CacheSizes& cache, const std::string& isa) {
  (void)isa;  // no ISA has budgets of its own yet
  const int64_t l1 = cache.l1d, l2 = cache.l2;
  BlockingContext b{};
  b.gemm_panels_l1 = l1 * 3 / 4;
  b.gemm_b_block_l2 = l2 / 2;
  b.matmul_a_block_l2 = l2 / 4;
  b.implicit_gemm_tile_group_l1 = l1 / 4;
  b.pointwise_k_chunk_l1 = l1 / 2;
  b.pointwise_results_l2 = l2 / 2;
  b.image_lanes_results_l2 = l2 * 3 / 4;
  // One pass up to a quarter past L1: extra passes over the rows cost more
  // than the weights' L1 misses there.
  b.direct_tile_weights_l1 = l1 + l1 / 4;
  b.direct_tile_pass_l1 = l1 / 2;
  b.direct_tile_all_weights_l2 = l2 / 2;
  b.direct_tile_image_l2 = l2 / 2;
  b.direct_tile_pointwise_image_l2 = l2 / 4;  // a 1x1 walk is short
  b.direct_weight_shared_l2 = l2;
  b.direct_weight_group_l2 = std::min<int64_t>(l2 / 2, int64_t{2} << 20);
  b.direct_weight_pixels_l2 = l2 / 4;
  b.winograd_block_l2 = l2 / 2;
  b.winograd_v_chunk_l2 = l2 / 4;
  b.winograd_v_whole_l2 = l2 * 3 / 4;
  return b;
}

const BlockingContext& blocking() {
  static const BlockingContext avx512 = make_blocking_context(cache_sizes(), "avx512");
  static const BlockingContext avx2 = make_blocking_context(cache_sizes(), "avx2");
  static const BlockingContext generic = make_blocking_context(cache_sizes(), "generic");
  const char* isa = active_kernels().isa;
  return std::strcmp(isa, "avx512") == 0 ? avx512 : (std::strcmp(isa, "avx2") == 0 ? avx2 : generic);
}

}  // namespace fastcnn

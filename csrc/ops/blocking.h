// Every cache budget the drivers block their loops by, in one place (BLIS'
// context): how much of L1 or L2 each kind of block may take. The drivers
// read these fields instead of fractions of the cache sizes of their own,
// so the blocking of a new ISA or CPU is tuned here, field by field.
//
// Budgets are bytes. One context per kernel table (ISA), made from the
// detected caches; `blocking()` is the active table's. docs/algorithms.md
// lists what each budget bounds and the rule that uses it.
#pragma once
#include <cstdint>
#include <string>

#include "cpu.h"

namespace fastcnn {

struct BlockingContext {
  // GEMM driver (gemm_blocking.h): a KC-deep A and B micro-panel pair.
  int64_t gemm_panels_l1;
  // GEMM driver: the packed KC x NC block of B.
  int64_t gemm_b_block_l2;
  // matmul (matmul.cpp): the packed block of A's rows next to B's block.
  int64_t matmul_a_block_l2;
  // Implicit GEMM (implicit_gemm.h): a group of register tiles' results
  // kept for the epilogue.
  int64_t implicit_gemm_tile_group_l1;
  // Pointwise GEMM (conv2d_pointwise.cpp): one k chunk of a B column tile.
  int64_t pointwise_k_chunk_l1;
  // Pointwise GEMM: the results of the images one task keeps.
  int64_t pointwise_results_l2;
  // Image-lanes GEMM (conv2d_image_lanes.cpp): one tile's results.
  int64_t image_lanes_results_l2;
  // Direct tiles (conv2d_direct_tiles.cpp): a block's weights beyond this
  // go in passes over input channels, each pass's weights within the second.
  int64_t direct_tile_weights_l1, direct_tile_pass_l1;
  // Direct tiles: all the weights, split by output channel past this.
  int64_t direct_tile_all_weights_l2;
  // Direct tiles: a padded image taken by the tiles (kxk; 1x1 walks: the
  // smaller budget).
  int64_t direct_tile_image_l2, direct_tile_pointwise_image_l2;
  // Direct weight gradient (conv2d_direct_weight.cpp): dW^T shared by the
  // threads past this; a group of images' dout and input; a channels-last
  // image walked in place.
  int64_t direct_weight_shared_l2, direct_weight_group_l2, direct_weight_pixels_l2;
  // Winograd (conv2d_winograd.cpp): a block of tiles' transforms; one
  // chunk of k of the transformed input (V) when V is split; V unsplit.
  int64_t winograd_block_l2, winograd_v_chunk_l2, winograd_v_whole_l2;
};

// The context of the kernel table for `isa` ("avx512", "avx2", "generic")
// on these caches. The fractions are the same for every ISA today.
BlockingContext make_blocking_context(const CacheSizes& cache, const std::string& isa);

// The active kernel table's context.
const BlockingContext& blocking();

}  // namespace fastcnn

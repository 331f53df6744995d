// Where a GEMM tile's columns go when its final sums are stored straight
// into the output (TileStores, kernels/kernel_table.h) rather than through
// a block buffer that an epilogue copies out.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../kernels/kernel_table.h"

namespace fastcnn {

// Block columns as rows of `row_w` positions, of which the first `grid_w`
// are outputs (the rest are dropped); output (y, x) is `row_step * y + x`
// elements past a tile row's base. Row y of the implicit GEMM's grid, or
// image y of the pointwise GEMM's images side by side.
struct StoreGrid {
  int64_t row_w, grid_w, row_step;
};

// The stores of block columns [column, column + nr) of a block of np
// columns that starts at grid position p_begin. Rows must be at least one
// vector long, so that a vector meets at most one row end.
inline TileStores tile_stores(const StoreGrid& grid, int64_t p_begin, int64_t np, int64_t column, int nr) {
  const int64_t lanes = nr / TileStores::kVectors;
  auto lanes_mask = [](int64_t lo, int64_t hi) {
    return lo < hi ? static_cast<uint32_t>(((uint64_t(1) << hi) - 1) & ~((uint64_t(1) << lo) - 1)) : 0u;
  };
  TileStores to{};
  for (int v = 0; v < TileStores::kVectors; ++v) {
    const int64_t first = column + v * lanes, live = std::min(std::max<int64_t>(np - first, 0), lanes);
    if (live == 0) continue;
    const int64_t p = p_begin + first, y = p / grid.row_w, x = p % grid.row_w;
    if (x < grid.grid_w) {
      to.offset[v][0] = y * grid.row_step + x;
      to.mask[v][0] = lanes_mask(0, std::min(live, grid.grid_w - x));
    }
    const int64_t next_row = grid.row_w - x;  // the lane where row y + 1 starts
    if (next_row < live) {
      to.offset[v][1] = (y + 1) * grid.row_step - next_row;
      to.mask[v][1] = lanes_mask(next_row, std::min(live, next_row + grid.grid_w));
    }
  }
  return to;
}

}  // namespace fastcnn

// Dense matrix product, BLIS's way: blocks of C (mc x nc) are tasks; per
// block, A (mc x kc) is packed into MR-row micro-panels and B (kc x nc) into
// NR-column micro-panels for each depth block of kc, and the microkernel
// runs B micro-panel by B micro-panel (each in L1) over the A block (in L2).
//
// The product is run as C or as C^T = B^T A^T, whichever pads the register
// tile less and packs more of its elements from contiguous runs: a Dense
// layer's 10 outputs are 10 rows of 12 (not 10 columns of 32). Operands are read through strides, so
// the layer's transposed operands (x^T, w^T) are never copied first.
#include "matmul.h"
#include "blocking.h"

#include <algorithm>
#include <vector>

#include "../kernels/pack/panels.h"
#include "cpu.h"
#include "gemm_blocking.h"
#include "grain.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

namespace {

// dst[panel][p][j] = b(p0 + p, j0 + panel*nr + j), zero past `cols`.
template <typename T>
void pack_b_block(MatrixView<const T> b, int64_t p0, int64_t kc, int64_t j0, int64_t cols, int nr, T* __restrict dst) {
  for (int64_t c0 = 0; c0 < cols; c0 += nr, dst += nr * kc) {
    const int64_t live = std::min<int64_t>(nr, cols - c0);
    for (int64_t p = 0; p < kc; ++p) {
      const T* from = b.data + (p0 + p) * b.row + (j0 + c0) * b.col;
      T* to = dst + p * nr;
      if (b.col == 1)
        for (int64_t j = 0; j < live; ++j) to[j] = from[j];
      else
        for (int64_t j = 0; j < live; ++j) to[j] = from[j * b.col];
      for (int64_t j = live; j < nr; ++j) to[j] = T(0);
    }
  }
}

template <typename T>
void matmul_blocks(int64_t m, int64_t n, int64_t k, MatrixView<const T> a, MatrixView<const T> b, MatrixView<T> c) {
  const Kernels<T> kern = with_row_tile(active_kernels().get<T>(), m);
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const GemmBlocking blk = gemm_blocking(mr, nr, sizeof(T), k, n);
  // A block of at most mc_max rows fills about a quarter of L2 next to the
  // B block. Blocks split C evenly, in a multiple of the thread count where
  // there are few (four blocks of 316, 316, 316 and 76 rows left one of two
  // threads waiting a third of a 1024^3 product).
  const int64_t mc_max = std::max<int64_t>(mr, blocking().matmul_a_block_l2 / (blk.kc * int64_t(sizeof(T))) / mr * mr);
  const int64_t threads = num_threads();
  int64_t row_blocks = ceil_div(m, mc_max), col_blocks = ceil_div(n, blk.nc);
  const int64_t row_tiles = ceil_div(m, mr), col_tiles = ceil_div(n, nr);
  while (row_blocks * col_blocks < 4 * threads && (row_blocks * col_blocks) % threads != 0 &&
         (row_blocks < row_tiles || col_blocks < col_tiles)) {
    // split the side whose blocks are longer in register tiles
    if (row_blocks < row_tiles && (col_blocks >= col_tiles || row_tiles * col_blocks >= col_tiles * row_blocks))
      ++row_blocks;
    else
      ++col_blocks;
  }
  const int64_t mc = round_up(ceil_div(m, row_blocks), mr), nc = round_up(ceil_div(n, col_blocks), nr);
  row_blocks = ceil_div(m, mc);
  col_blocks = ceil_div(n, nc);
  const int64_t a_size = round_up(mc * blk.kc, 16), b_size = round_up(blk.kc * nc, 16);
  const int64_t per_thread = a_size + b_size + round_up(mr * nr, 16);
  const int64_t tasks = row_blocks * col_blocks;
  const int nt = threads_for(tasks);
  Workspace<T> scratch(nt * per_thread);

  parallel_for(tasks, nt, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* a_block = scratch.slot(thread, per_thread);
    T* b_block = a_block + a_size;
    T* tile = b_block + b_size;  // edge tiles, and tiles of C not stored row by row
    for (int64_t task = begin; task < end; ++task) {
      const int64_t i0 = task / col_blocks * mc, j0 = task % col_blocks * nc;
      const int64_t rows = std::min(mc, m - i0), cols = std::min(nc, n - j0);
      const int64_t rows_round = round_up(rows, mr), cols_round = round_up(cols, nr);
      if (k == 0)
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j) c.data[(i0 + i) * c.row + (j0 + j) * c.col] = T(0);
      for (int64_t p0 = 0; p0 < k; p0 += blk.kc) {
        const int64_t kc = std::min(blk.kc, k - p0);
        // A row-major A is a transposition into the panels: register blocks
        // (pack_a_panels would copy it element by element).
        if (a.col == 1)
          kern.pack_rows_transposed(a.data + i0 * a.row + p0, a.row, rows, kc, mr, a_block);
        else
          pack_a_panels(a.data + i0 * a.row + p0 * a.col, a.row, a.col, rows, kc, mr, a_block);
        pack_b_block(b, p0, kc, j0, cols, nr, b_block);
        for (int64_t jr = 0; jr < cols_round; jr += nr)
          for (int64_t ir = 0; ir < rows_round; ir += mr) {
            T* to = c.data + (i0 + ir) * c.row + (j0 + jr) * c.col;
            const int64_t live_rows = std::min<int64_t>(mr, rows - ir), live_cols = std::min<int64_t>(nr, cols - jr);
            // Whole tiles of a row-major C are accumulated in place (C is
            // read and written once per depth block, not copied through a
            // buffer in a pass of its own).
            if (c.col == 1 && live_rows == mr && live_cols == nr) {
              kern.gemm(kc, a_block + ir * kc, b_block + jr * kc, to, c.row, p0 > 0);
              continue;
            }
            kern.gemm(kc, a_block + ir * kc, b_block + jr * kc, tile, nr, 0);
            for (int64_t i = 0; i < live_rows; ++i)
              for (int64_t j = 0; j < live_cols; ++j) {
                T& out = to[i * c.row + j * c.col];
                out = p0 > 0 ? out + tile[i * nr + j] : tile[i * nr + j];
              }
          }
      }
    }
  });
}

// C with at most one wide tile of columns: the direct tile reads A's rows in
// place (broadcasts through any stride) against B packed once into
// [k][lanes] panels. Packing A would cost as much as its few multiply-adds
// per element.
template <typename T>
void matmul_rows_in_place(int64_t m, int64_t n, int64_t k, MatrixView<const T> a, MatrixView<const T> b,
                          MatrixView<T> c) {
  const Kernels<T>& kern = active_kernels().get<T>();
  const DirectTileKernels<T>& tile = n <= kern.direct_tile_narrow.lanes ? kern.direct_tile_narrow
                                     : n <= kern.direct_tile.lanes      ? kern.direct_tile
                                                                        : kern.direct_tile_wide;
  const int lanes = tile.lanes, max_rows = tile.max_rows;  // n <= lanes: one panel of B
  Workspace<T> b_packed(k * lanes);
  pack_b_block(b, 0, k, 0, n, lanes, b_packed.data());
  DirectWalk walk{};
  walk.count[0] = walk.count[1] = 1;
  walk.count[2] = k;
  walk.step[2] = a.col;
  // Tasks of several row tiles, a few per thread.
  const int64_t row_tiles = ceil_div(m, max_rows);
  const int64_t tiles_per_task = std::max<int64_t>(1, ceil_div(row_tiles, 4 * num_threads()));
  const int64_t tasks = ceil_div(row_tiles, tiles_per_task);
  const int nt = threads_for(tasks);
  const int64_t offset_elements = round_up(max_rows * int64_t(sizeof(int64_t) / sizeof(T)), 16);
  const int64_t per_thread = round_up(int64_t(max_rows) * lanes, 16) + offset_elements;
  Workspace<T> scratch(nt * per_thread);
  const std::vector<T> zeros(lanes, T(0));
  parallel_for(tasks, nt, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* acc = scratch.slot(thread, per_thread);
    int64_t* offsets = reinterpret_cast<int64_t*>(acc + round_up(int64_t(max_rows) * lanes, 16));
    for (int64_t t = begin * tiles_per_task; t < std::min(end * tiles_per_task, row_tiles); ++t) {
      const int64_t i0 = t * max_rows;
      const int rows = static_cast<int>(std::min<int64_t>(max_rows, m - i0));
      for (int r = 0; r < rows; ++r) offsets[r] = (i0 + r) * a.row;
      tile.tile_from(walk, a.data, offsets, rows, b_packed.data(), acc, lanes, zeros.data());
      for (int r = 0; r < rows; ++r) {
        T* to = c.data + (i0 + r) * c.row;
        for (int64_t j = 0; j < n; ++j) to[j * c.col] = acc[r * lanes + j];
      }
    }
  });
}

// A product of at most kFewRows rows against a row-major B (a Dense layer
// on a sample or a few): one pass over B in place, threads taking ranges of
// columns (kernels' gemv_rows).
constexpr int64_t kFewRows = 8;  // elementwise/gemv_impl.h's kGemvRows

template <typename T>
void matmul_few_rows(int64_t m, int64_t n, int64_t k, MatrixView<const T> a, MatrixView<const T> b, MatrixView<T> c,
                     T* row_buffer) {
  const auto& kern = active_kernels().get<T>().elementwise;
  // Columns per task: a thread's share, in whole cache lines.
  const int64_t kColumns = std::max<int64_t>(16, round_up(ceil_div(n, num_threads()), 16));
  const int64_t tasks = ceil_div(n, kColumns);
  parallel_for(tasks, threads_for(tasks), Denormals::flush, [&](int64_t begin, int64_t end, int) {
    const int64_t j0 = begin * kColumns, j1 = std::min(n, end * kColumns);
    if (c.col == 1) {
      kern.gemv_rows(a.data, a.row, a.col, int(m), b.data + j0, b.row, k, j1 - j0, c.data + j0, c.row);
      return;
    }
    kern.gemv_rows(a.data, a.row, a.col, int(m), b.data + j0, b.row, k, j1 - j0, row_buffer + j0, n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = j0; j < j1; ++j) c.data[i * c.row + j * c.col] = row_buffer[i * n + j];
  });
}

}  // namespace

template <typename T>
void matmul(int64_t m, int64_t n, int64_t k, MatrixView<const T> a, MatrixView<const T> b, MatrixView<T> c) {
  if (m == 0 || n == 0) return;
  if (m <= kFewRows && b.col == 1 && k > 0) {
    // A pass over B, memory-bound: the grain is by bytes.
    SerialBelowGrain serial(OpFamily::elementwise, k * n * int64_t(sizeof(T)));
    Workspace<T> row_buffer(c.col == 1 ? 1 : m * n);
    return matmul_few_rows<T>(m, n, k, a, b, c, row_buffer.data());
  }
  SerialBelowGrain serial(OpFamily::matmul, m * n * k);
  // Estimated cycles of each orientation: the register tiles' FMAs (32 per
  // cycle, padding included), packing (~1 cycle per element gathered
  // through a stride, ~1/4 per element copied from a contiguous run: A's
  // rows or columns, B's rows) and storing C (~2 per element stored through
  // a stride: C^T's).
  const Kernels<T>& kern = active_kernels().get<T>();
  const auto cost = [&](int64_t rows, int64_t cols, MatrixView<const T> a_view, int64_t b_n_stride,
                        int64_t c_n_stride) {
    const double tiles = static_cast<double>(round_up(rows, gemm_for_rows(kern, rows).mr)) *
                         static_cast<double>(round_up(cols, kern.gemm_nr)) * static_cast<double>(k) / 32.0;
    const auto pack = [](int64_t elements, int64_t stride) {
      return static_cast<double>(elements) * (stride == 1 ? 0.25 : 1.0);
    };
    // A packs from runs along k or along its rows; strided C tiles are
    // stored once per depth block.
    const int64_t a_run = a_view.col == 1 || a_view.row == 1 ? 1 : a_view.col;
    const double depth_blocks = static_cast<double>(ceil_div(k, 256));
    const double store = c_n_stride == 1 ? 0.0 : 2.0 * static_cast<double>(rows * cols) * depth_blocks;
    return tiles + pack(rows * k, a_run) + pack(k * cols, b_n_stride) + store;
  };
  const MatrixView<const T> b_t{b.data, b.col, b.row};
  const auto run = [k](int64_t rows, int64_t cols, MatrixView<const T> x, MatrixView<const T> y, MatrixView<T> z) {
    // (only along rows of A: x^T read in place would re-read a line per k
    // step for every few rows, slower than packing it)
    if (cols <= active_kernels().get<T>().direct_tile_wide.lanes && k > 0 && x.col == 1)
      matmul_rows_in_place<T>(rows, cols, k, x, y, z);
    else
      matmul_blocks<T>(rows, cols, k, x, y, z);
  };
  if (cost(n, m, b_t, a.row, c.row) < cost(m, n, a, b.col, c.col))  // C^T = B^T A^T
    return run(n, m, b_t, {a.data, a.col, a.row}, {c.data, c.col, c.row});
  run(m, n, a, b, c);
}

template void matmul<float>(int64_t, int64_t, int64_t, MatrixView<const float>, MatrixView<const float>,
                            MatrixView<float>);
template void matmul<double>(int64_t, int64_t, int64_t, MatrixView<const double>, MatrixView<const double>,
                             MatrixView<double>);

}  // namespace fastcnn

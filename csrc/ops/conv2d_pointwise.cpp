// 1x1 convolutions (stride 1, no padding, channels-first) as one GEMM per
// image and group:
//
//   forward:       out[n, g] (C_out/g x P) = W[g] (C_out/g x C_in/g) * x[n, g] (C_in/g x P) + bias
//   backward data: dx[n, g]  (C_in/g x P)  = W[g]^T                    * dout[n, g] (C_out/g x P)
//
// with P = H * W positions. An image's channel planes already are B's rows,
// so the strided-B microkernel (kernels/gemm/gemm_strided_b_impl.h) reads
// them in place and writes C straight into the NCHW result: no im2col, no
// B packing, no transposed store. Only A (the weights) is packed, once.
//
// Blocking: a column tile of B (kc rows x nr positions) stays in L1 while
// every A micro-panel passes over it; kc splits K evenly so that tile fits
// half of the L1, leaving room for the A micro-panels streaming past it
// (a tile of three quarters of L1 leaves them too little).
#include <algorithm>
#include <vector>

#include "packed_weights.h"
#include "blocking.h"
#include "conv2d.h"
#include "cpu.h"
#include "pack_weights.h"
#include "parallel.h"
#include "tile_stores.h"
#include "workspace.h"

namespace fastcnn {

bool pointwise_applies(const Conv2dParams& p) {
  return !p.channels_last && p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 &&
         p.pad_top == 0 && p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
}

namespace {

// Images whose results (m x positions each) one task keeps in half of L2,
// leaving every thread two tasks.
int64_t images_per_task(int64_t m, int64_t positions, int64_t images, int64_t element_bytes) {
  const int64_t by_cache = std::max<int64_t>(1, blocking().pointwise_results_l2 / (m * positions * element_bytes));
  const int64_t by_threads = std::max<int64_t>(1, images / (2 * num_threads()));
  return std::min(by_cache, by_threads);
}

// Whether a task's images side by side (across_images) fill the column
// tiles 10 points better than each image alone, with K deep enough (256+)
// that packing B and copying the results out stay small beside the FMAs.
bool crosses_images(int64_t m, int64_t k, int64_t positions, int64_t images, int nr, int64_t element_bytes) {
  const int64_t together = images_per_task(m, positions, images, element_bytes) * positions;
  return k >= 256 && together * 100 * round_up(positions, nr) >=
                         (positions * 100 + 10 * round_up(positions, nr)) * round_up(together, nr);
}

}  // namespace

// The tile's columns are positions: where a plane wastes over 15% of them in
// its last, partial tile, the forward's other paths win, unless images side
// by side fill the tiles (crosses_images). Backward data still gains there.
bool prefers_pointwise_forward(const Conv2dParams& p, int element_bytes) {
  const int nr = element_bytes == 4 ? active_kernels().f32.gemm_strided_b.nr : active_kernels().f64.gemm_strided_b.nr;
  const int64_t positions = p.out_h * p.out_w;
  return positions * 100 >= round_up(positions, nr) * 85 ||
         (p.groups == 1 && crosses_images(p.out_channels, p.in_channels, positions, p.batch, nr, element_bytes));
}

namespace {

// The strided-B tile (main or narrow) that pads `m` rows least.
template <typename T>
GemmStridedBKernels<T> strided_tile_for_rows(const Kernels<T>& k, int64_t m) {
  const GemmStridedBKernels<T>& main = k.gemm_strided_b;
  const GemmStridedBKernels<T>& narrow = k.gemm_strided_b_narrow;
  if (round_up(m, narrow.mr) < round_up(m, main.mr)) return narrow;
  return main;
}

// One group's GEMM with the columns of `per_task` images side by side, for
// planes that fill their tiles poorly (7x7: 49 of 64 columns, 14x14: 196 of
// 224). Each k chunk's column tile of B is packed from the images' planes
// (a run of each image's positions per row), the results summed in a
// per-thread block of m x (images x positions) columns and copied to each
// image's planes after the last chunk.
//
// The last chunk's sums go straight to the images' planes by masked stores
// (tile_stores; a vector crosses at most one image end) where the ISA has
// the same tile reading B by offsets: the packed tile's rows are kc runs
// nr apart.
template <typename T>
void across_images(const GemmStridedBKernels<T>& kern, int64_t m, int64_t k, int64_t positions, int64_t images,
                   int64_t per_task, int64_t kc, const T* a_packed, const T* b, const T* bias, T* c) {
  const int mr = kern.mr, nr = kern.nr;
  const Kernels<T>& table = active_kernels().get<T>();
  const GemmOffsetBStore<T> store = positions < nr / TileStores::kVectors ? nullptr
                                    : mr == table.gemm_mr                 ? table.gemm_offset_b_store
                                    : mr == table.gemm_narrow_mr          ? table.gemm_offset_b_store_narrow
                                                                          : nullptr;
  std::vector<int64_t> b_rows(kc);
  for (int64_t kk = 0; kk < kc; ++kk) b_rows[kk] = kk * nr;
  const StoreGrid grid{positions, positions, m * positions};
  const int64_t panels = ceil_div(m, mr);
  const int64_t ldc = round_up(per_task * positions, nr);
  const int64_t per_thread = kc * nr + m * ldc;
  const int64_t tasks = ceil_div(images, per_task);
  const int threads = threads_for(tasks);
  Workspace<T> scratch(threads * per_thread);
  parallel_for_stealing(tasks, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* b_tile = scratch.slot(thread, per_thread);
    T* results = b_tile + kc * nr;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t first = task * per_task, count = std::min(images, first + per_task) - first;
      const int64_t columns = count * positions;
      for (int64_t k0 = 0; k0 < k; k0 += kc) {
        const int64_t depth = std::min(kc, k - k0);
        for (int64_t j0 = 0; j0 < columns; j0 += nr) {
          const int cols = static_cast<int>(std::min<int64_t>(nr, columns - j0));
          // Runs of one image's positions: tile columns [at, at + run).
          for (int64_t at = 0; at < cols;) {
            const int64_t image = (j0 + at) / positions, q = (j0 + at) % positions;
            const int64_t run = std::min<int64_t>(cols - at, positions - q);
            const T* from = b + ((first + image) * k + k0) * positions + q;
            for (int64_t kk = 0; kk < depth; ++kk) std::copy_n(from + kk * positions, run, b_tile + kk * nr + at);
            at += run;
          }
          if (cols < nr)  // the last tile: zeros, not stale values, in the unused columns
            for (int64_t kk = 0; kk < depth; ++kk) std::fill(b_tile + kk * nr + cols, b_tile + (kk + 1) * nr, T(0));
          const bool final_chunk = store && k0 + depth == k;
          const TileStores to = final_chunk ? tile_stores(grid, 0, columns, j0, nr) : TileStores{};
          for (int64_t panel = 0; panel < panels; ++panel) {
            const int rows = static_cast<int>(std::min<int64_t>(mr, m - panel * mr));
            const T* a = a_packed + panel * mr * k + k0 * mr;
            const T* row_bias = k0 == 0 && bias ? bias + panel * mr : nullptr;
            if (final_chunk)
              store(depth, a, b_tile, b_rows.data(), results + panel * mr * ldc + j0, ldc, k0 > 0, row_bias, rows, to,
                    c + (first * m + panel * mr) * positions, positions);
            else
              kern.tile(depth, a, b_tile, nr, results + panel * mr * ldc + j0, ldc, rows, cols, k0 > 0, row_bias);
          }
        }
      }
      if (!store)
        for (int64_t image = 0; image < count; ++image)
          for (int64_t r = 0; r < m; ++r)
            std::copy_n(results + r * ldc + image * positions, positions, c + ((first + image) * m + r) * positions);
    }
  });
}

// One GEMM per (image, group): c[n, g] (m x positions) = A[g] (m x k) *
// b[n, g] (k x positions) (+ bias[g]), where A[g][i][kk] =
// w[g * m * k + i * w_row + kk * w_col].
template <typename T>
void pointwise_gemm(int64_t batch, int64_t groups, int64_t m, int64_t k, int64_t positions, const T* w, int64_t w_row,
                    int64_t w_col, const T* b, const T* bias, T* c) {
  const GemmStridedBKernels<T> kern = strided_tile_for_rows(active_kernels().get<T>(), m);
  const int mr = kern.mr, nr = kern.nr;
  const int64_t panels = ceil_div(m, mr);
  const int64_t group_a = panels * mr * k;

  PackedWeights<T> a_packed(PackSite::pointwise, {groups, m, k, mr, w_row, w_col}, groups * group_a);
  if (a_packed.ready()) {
    // packed by an earlier run of this inference plan step
  } else if (w_col == 1) {  // rows of W: register-block transposes (pack_weights.h)
    pack_group_weight_panels(active_kernels().get<T>(), w, groups, m, k, mr, a_packed.data());
    a_packed.packed();
  } else {  // columns of W (backward data): each k step's mr values are a contiguous run
    parallel_for(groups * panels, [&](int64_t begin, int64_t end, int) {
      for (int64_t gp = begin; gp < end; ++gp) {
        const int64_t g = gp / panels, i0 = gp % panels * mr;
        const T* wg = w + g * m * k;
        T* dst = a_packed.data() + g * group_a + i0 * k;
        const int64_t live = std::min<int64_t>(mr, m - i0);
        for (int64_t kk = 0; kk < k; ++kk)
          for (int64_t r = 0; r < mr; ++r) dst[kk * mr + r] = r < live ? wg[(i0 + r) * w_row + kk * w_col] : T(0);
      }
    });
  }

  const int64_t kc_max = std::max<int64_t>(16, blocking().pointwise_k_chunk_l1 / (nr * int64_t(sizeof(T))));
  const int64_t k_chunks = ceil_div(k, kc_max), kc = ceil_div(k, k_chunks);
  const int64_t col_tiles = ceil_div(positions, nr);
  // Small batches split each image's columns so that both threads work.
  const int64_t images = batch * groups;
  const int64_t splits = std::min(col_tiles, ceil_div(2 * num_threads(), std::max<int64_t>(1, images)));
  // A k chunk of A (all m rows) is used by every column tile of a block of
  // images before the next chunk, with the block's results kept in half of
  // L2 between chunks. Column tile by tile, all of A would pass once per tile,
  // from L3 where it is megabytes (512 -> 2048 at 7x7: 4 MB, read 64 times
  // per batch of 32 for dx).
  const int64_t per_task = images_per_task(m, positions, images, sizeof(T));
  const int64_t tasks = ceil_div(images, per_task) * splits;

  if (groups == 1 && splits == 1 && crosses_images(m, k, positions, images, nr, sizeof(T))) {
    across_images(kern, m, k, positions, images, per_task, kc, a_packed.data(), b, bias, c);
    return;
  }

  parallel_for(tasks, threads_for(tasks), Denormals::flush, [&](int64_t begin, int64_t end, int) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t first = task / splits * per_task, split = task % splits;
      const int64_t last = std::min(images, first + per_task);
      const int64_t t0 = col_tiles * split / splits, t1 = col_tiles * (split + 1) / splits;
      for (int64_t k0 = 0; k0 < k; k0 += kc) {
        const int64_t depth = std::min(kc, k - k0);
        for (int64_t image = first; image < last; ++image) {
          const int64_t n = image / groups, g = image % groups;
          const T* bg = b + (n * groups + g) * k * positions;
          T* cg = c + (n * groups + g) * m * positions;
          const T* ag = a_packed.data() + g * group_a;
          const T* biasg = bias ? bias + g * m : nullptr;
          for (int64_t tile = t0; tile < t1; ++tile) {
            const int64_t j = tile * nr;
            const int cols = static_cast<int>(std::min<int64_t>(nr, positions - j));
            for (int64_t panel = 0; panel < panels; ++panel) {
              const int rows = static_cast<int>(std::min<int64_t>(mr, m - panel * mr));
              kern.tile(depth, ag + panel * mr * k + k0 * mr, bg + k0 * positions + j, positions,
                        cg + panel * mr * positions + j, positions, rows, cols, k0 > 0,
                        k0 == 0 && biasg ? biasg + panel * mr : nullptr);
            }
          }
        }
      }
    }
  });
}

}  // namespace

template <typename T>
void conv2d_forward_pointwise(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out) {
  const int64_t m = p.out_per_group(), k = p.in_per_group();
  pointwise_gemm(p.batch, p.groups, m, k, p.out_h * p.out_w, w, k, int64_t{1}, x, bias, out);
}

template <typename T>
void conv2d_backward_data_pointwise(const Conv2dParams& p, const T* dout, const T* w, T* dx) {
  const int64_t m = p.in_per_group(), k = p.out_per_group();
  pointwise_gemm(p.batch, p.groups, m, k, p.in_h * p.in_w, w, int64_t{1}, m, dout, static_cast<const T*>(nullptr), dx);
}

template void conv2d_forward_pointwise<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_forward_pointwise<double>(const Conv2dParams&, const double*, const double*, const double*,
                                               double*);
template void conv2d_backward_data_pointwise<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_backward_data_pointwise<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastcnn

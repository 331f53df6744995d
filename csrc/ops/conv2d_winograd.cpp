// Stride-1 convolution by Winograd's minimal filtering: forward,
// backward-data and backward-weight, for 3x3 kernels with F(4x4, 3x3) and
// 5x5 kernels with F(4x4, 5x5) (alpha = m + r - 1 = 6 or 8 points per axis).
//
// The output is cut into m x m tiles (over all images: one tile index space,
// so a small batch still fills every thread and the last block of an image
// shares its micro-panel with the next image). Per block of tiles:
//   1. input transform: V[p] = B^T d B of every tile and input channel,
//      written straight into packed B micro-panels (one per point p of the
//      alpha x alpha transform domain);
//   2. alpha^2 GEMMs M[p] (C_out x tiles) = U[p] (C_out x C_in) * V[p], with
//      the same register-blocked microkernels as the direct GEMM path;
//   3. output transform A^T M A of each tile and output channel, plus bias.
// U = G g G^T (the transformed weights) is computed once per call, in double
// precision, and packed as A micro-panels. F(4x4, 3x3): 36 multiply-adds per
// (tile, channel pair) instead of 144; F(4x4, 5x5): 64 instead of 400. The
// transforms cost O(tiles x channels), not O(tiles x channels^2).
//
// Backward-data of an r x r stride-1 convolution is itself one: the full
// correlation of dout with the spatially flipped, in/out-swapped kernel,
// padded by r - 1 - pad on each side (so pads up to r - 1).
#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "packed_weights.h"
#include "blocking.h"
#include "conv2d.h"
#include "conv2d_layout.h"
#include "cpu.h"
#include "gemm_blocking.h"
#include "parallel.h"
#include "winograd_schemes.h"
#include "workspace.h"
#include "../kernels/pack/panels.h"

namespace fastcnn {
namespace {

// A scheme and the transform kernels that implement it on the active ISA.
template <typename T>
struct Scheme {
  const WinogradMatrices* mat;
  const WinogradKernels<T>* kern;
  int m, r, alpha, points;
};

template <typename T>
Scheme<T> scheme_for(int64_t r) {
  const WinogradMatrices* mat = winograd_scheme(r);
  const Kernels<T>& k = active_kernels().get<T>();
  return {mat, r == 3 ? &k.winograd_f4x3 : &k.winograd_f4x5, mat->m, mat->r, mat->alpha, mat->alpha * mat->alpha};
}

// F(4x4, 2x2), for 3x3 stride 2 (forward over the input's phases, dx over its own).
template <typename T>
Scheme<T> phase_scheme() {
  const WinogradMatrices* mat = winograd_phase_scheme();
  return {mat, &active_kernels().get<T>().winograd_f4x2, mat->m, mat->r, mat->alpha, mat->alpha * mat->alpha};
}

// One Winograd correlation: src (batch, c_in, in_h, in_w) with the r x r
// kernels w (c_out, c_in, r, r) into dst (batch, c_out, out_h, out_w).
struct WinogradProblem {
  int64_t batch, c_in, in_h, in_w, c_out, out_h, out_w, pad_top, pad_left;
};

// U of one micro-panel of output channels over input channels [c0, c1):
// point p's A micro-panel (c1 - c0 columns) at dst + p * point_stride.
template <typename T>
void transform_weight_panel(const Scheme<T>& s, const WinogradProblem& q, const T* w, int mr, int64_t panel, int64_t c0,
                            int64_t c1, T* dst, int64_t point_stride, T* scratch) {
  T G[8][7];
  for (int i = 0; i < s.alpha; ++i)
    for (int k = 0; k < s.r; ++k) G[i][k] = static_cast<T>(s.mat->g[i][k]);
  const int64_t rr = s.r * s.r;
  const int rows = static_cast<int>(std::min<int64_t>(mr, q.c_out - panel * mr));
  active_kernels().get<T>().winograd_filter(G, s.alpha, s.r, c1 - c0, w + (panel * mr * q.c_in + c0) * rr, q.c_in * rr,
                                            rows, mr, dst, point_stride, scratch);
}

// U = G g G^T for every (co, ci), packed per point as A micro-panels:
// a[(p * panels + panel) * mr * c_in + ci * mr + row], one micro-panel of
// output channels at a time by the active ISA's winograd_filter (vectorised
// over ci: a scalar transform per channel pair is a visible share of small layers).
template <typename T>
void transform_weights(const Scheme<T>& s, const WinogradProblem& q, const T* w, int mr, T* a) {
  const int64_t panels = ceil_div(q.c_out, mr), rows = panels * mr, filters = rows * q.c_in;
  const int64_t c_in = q.c_in;
  const int64_t scratch_size = winograd_filter_scratch(s.alpha, s.r, mr, c_in, active_kernels().get<T>().filter_width);
  parallel_for(panels, threads_for(panels), Denormals::keep, [&](int64_t begin, int64_t end, int) {
    std::vector<T> scratch(static_cast<size_t>(scratch_size));
    for (int64_t panel = begin; panel < end; ++panel)
      transform_weight_panel(s, q, w, mr, panel, 0, c_in, a + panel * mr * c_in, filters, scratch.data());
  });
}

constexpr int64_t kLanes = 16;  // kWinogradLanes of the transform kernels

// Image lanes (see WinogradTiles) when most windows cross the plane's border
// and the batch fills the lanes: the transforms then read a staged, padded
// copy instead of gathering clipped windows one element at a time, which pays
// for the staging on small 5x5 planes. The 6x6 windows of F(4x4, 3x3) gather
// fast enough that staging costs more than it saves, so its hand-written
// kernels know tile lanes only.
template <typename T>
bool uses_image_lanes(const Scheme<T>& s, int64_t batch, int64_t tiles_per_image) {
  if (s.r == 3 || tiles_per_image > 16) return false;
  // AVX-512 gathers clipped windows with masked vector gathers: image lanes
  // then pay only with full lane groups on planes of more than 8 tiles; with
  // half the lanes empty, or on a 7x7 plane, the staging costs more than the gathers.
  if (avx512_active()) return batch >= kLanes && tiles_per_image > 8;
  return batch >= kLanes / 2;
}

// The staged copy: [image group][channel][h][w][16 images], h x w covering
// every tile's window, zero outside the input and past the batch.
template <typename T>
int64_t staged_elements(const Scheme<T>& s, const WinogradProblem& q, int64_t tiles_x, int64_t tiles_y) {
  const int64_t h = tiles_y * s.m + s.alpha - s.m, w = tiles_x * s.m + s.alpha - s.m;
  return ceil_div(q.batch, kLanes) * q.c_in * h * w * kLanes;
}

template <typename T>
WinogradTiles stage_images(const Scheme<T>& s, const WinogradProblem& q, const T* src, int64_t tiles_x, int64_t tiles_y,
                           T* staged) {
  const int64_t h = tiles_y * s.m + s.alpha - s.m, w = tiles_x * s.m + s.alpha - s.m;
  const int64_t groups = ceil_div(q.batch, kLanes), plane = h * w * kLanes;
  parallel_for(groups * q.c_in, threads_for(groups * q.c_in), Denormals::keep, [&](int64_t begin, int64_t end, int) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t group = task / q.c_in, ci = task % q.c_in;
      T* out = staged + task * plane;
      std::fill(out, out + plane, T(0));
      // Pixel by pixel, its 16 images' values side by side: the staged copy
      // is written in order (image by image, every store would hit a new line).
      const int64_t live = std::min(kLanes, q.batch - group * kLanes);
      const T* image[kLanes];
      for (int64_t l = 0; l < live; ++l) image[l] = src + ((group * kLanes + l) * q.c_in + ci) * q.in_h * q.in_w;
      const int64_t columns = std::min(q.in_w, w - q.pad_left);
      for (int64_t y = 0; y < q.in_h && y + q.pad_top < h; ++y) {
        T* row = out + ((y + q.pad_top) * w + q.pad_left) * kLanes;
        for (int64_t x = 0; x < columns; ++x)
          for (int64_t l = 0; l < live; ++l) row[x * kLanes + l] = image[l][y * q.in_w + x];
      }
    }
  });
  return {h, w, 0, 0, tiles_x, tiles_x * tiles_y, q.c_in * plane, s.m, q.batch};
}

// Where a correlation's m x m output tiles lie, and the source the input
// transforms read: src itself, or in image-lane mode its staged copy.
template <typename T>
struct WinogradTiling {
  int64_t tiles_x, tiles_y, tiles_per_image;
  bool image_lanes;
  int64_t tiles;      // lanes to transform (image-lane mode rounds the batch up to 16)
  WinogradTiles in;   // src's windows
  WinogradTiles out;  // the result's (or dout's) m x m tiles
  Workspace<T> staged;
  const T* source;
  int64_t source_plane;  // elements between channels of `source`

  WinogradTiling(const Scheme<T>& s, const WinogradProblem& q, const T* src)
      : tiles_x(ceil_div(q.out_w, s.m)),
        tiles_y(ceil_div(q.out_h, s.m)),
        tiles_per_image(tiles_x * tiles_y),
        image_lanes(uses_image_lanes(s, q.batch, tiles_per_image)),
        tiles(image_lanes ? round_up(q.batch, kLanes) * tiles_per_image : q.batch * tiles_per_image),
        in{q.in_h, q.in_w, q.pad_top, q.pad_left, tiles_x, tiles_per_image, q.c_in * q.in_h * q.in_w, s.m, 0},
        out{q.out_h,
            q.out_w,
            0,
            0,
            tiles_x,
            tiles_per_image,
            q.c_out * q.out_h * q.out_w,
            s.m,
            image_lanes ? q.batch : 0},
        staged(image_lanes ? staged_elements(s, q, tiles_x, tiles_y) : 0) {
    if (image_lanes) in = stage_images(s, q, src, tiles_x, tiles_y, staged.data());
    source = image_lanes ? staged.data() : src;
    source_plane = image_lanes ? in.h * in.w * kLanes : q.in_h * q.in_w;
  }
};

// Tiles per block, at most max_block and a multiple of quantum, such that
// parallel_for's contiguous runs of blocks give the threads equal numbers of
// tiles: as many blocks per thread, each as large as that allows (3 blocks on
// 2 threads leave one thread idle half the time), and among a few such counts
// the one whose busiest thread has the fewest tiles (512 tiles: 6 blocks of
// 96 split 288 / 224 tiles, 8 of 64 split 256 / 256).
inline int64_t balanced_block(int64_t tiles, int64_t max_block, int64_t quantum, int threads) {
  const int64_t first = round_up(ceil_div(tiles, max_block), int64_t{threads});
  int64_t best = 0, best_load = 0;
  for (int64_t want = first; want <= 4 * first; want += threads) {
    const int64_t block = std::min(max_block, round_up(ceil_div(tiles, want), quantum));
    const int64_t blocks = ceil_div(tiles, block);
    int64_t load = 0;
    for (int t = 0; t < threads; ++t) {
      const int64_t begin = blocks * t / threads, end = blocks * (t + 1) / threads;
      load = std::max(load, std::min(end * block, tiles) - std::min(begin * block, tiles));
    }
    if (best == 0 || load < best_load) best = block, best_load = load;
    if (block == quantum) break;
  }
  return best;
}

// Tiles per block of winograd_products. A block's V stays within half of
// L2 (M holds one micro-panel of output channels); whole micro-panels of
// tiles, whole lane groups of the transforms, and enough blocks for every
// thread. Every block reads all of U (F(4x4, 2x2) 64 -> 128: 2.6 MiB), so
// the more tiles per block the less U is streamed from L3 per tile.
template <typename T>
int64_t winograd_block(const Scheme<T>& s, int mr, int64_t k_total, int64_t tiles) {
  const int64_t quantum = std::max<int64_t>(active_kernels().get<T>().gemm_nr, 16);
  const int64_t per_tile = s.points * (k_total + mr) * int64_t(sizeof(T));
  int64_t block = blocking().winograd_block_l2 / per_tile / quantum * quantum;
  block = std::min<int64_t>(std::max(block, quantum), 8 * quantum);
  return balanced_block(tiles, block, quantum, num_threads());
}

// Whether winograd_products runs k in chunks: where a block's V (points x
// k_total x block values, 2.4 MB for 512 input channels at the smallest
// block) would fill L2, its panel loop would stream all of V from L3 once per
// micro-panel of output channels. The chunks' V fits in a quarter of L2.
template <typename T>
int64_t winograd_k_chunk(const Scheme<T>& s, int64_t k_total, int64_t block) {
  const int64_t v_bytes = s.points * block * int64_t(sizeof(T));
  if (k_total * v_bytes <= blocking().winograd_v_whole_l2) return k_total;
  return std::min(k_total, std::max<int64_t>(16, blocking().winograd_v_chunk_l2 / v_bytes / 16 * 16));
}

// U as winograd_products reads it: packed for every output channel up front,
// or, with `transform` set, made for one micro-panel and one chunk of k at a
// time in the thread's scratch (transform(panel, k0, k1, dst, scratch):
// point p's A micro-panel at dst + p * mr * (k1 - k0)). Deep layers on few
// tiles read each value of U about once: writing all of it out (37 MB for
// 512 -> 512) and reading it back costs about as much as the products.
template <typename T>
struct WinogradFilters {
  const T* packed = nullptr;
  std::function<void(int64_t, int64_t, int64_t, T*, T*)> transform;
  int64_t scratch_elements = 0;  // the transform's own, per call
};

// Steps 1-3 over every block of tiles, given U packed as A micro-panels
// (rows x k_total per point, rk's mr), the input transforms of a block
// (inputs(tile0, count, v, v_point) writes V[p] as packed B panels, k_total
// rows each) and the output transforms of a micro-panel of rows
// (outputs(row0, row_end, m, block, m_point, tile0, count): row r's M at
// m + (r - row0) * block, points m_point apart). k_range, where given, limits point p's GEMM to k in
// [k_range[2p], k_range[2p + 1]) (U is zero outside it).
template <typename T, class Inputs, class Outputs>
void winograd_products(const Scheme<T>& s, const RowKernel<T>& rk, int64_t k_total, int64_t c_out,
                       const WinogradFilters<T>& u, int64_t tiles, const int64_t* k_range, const Inputs& inputs,
                       const Outputs& outputs) {
  const int mr = rk.mr, nr = active_kernels().get<T>().gemm_nr;
  const int64_t panels = ceil_div(c_out, mr), rows = panels * mr;
  const int points = s.points;
  const int64_t block = winograd_block(s, mr, k_total, tiles);
  const int64_t blocks = ceil_div(tiles, block);

  const GemmBlocking blk = gemm_blocking(mr, nr, sizeof(T), k_total, block);
  // Points one cache line past a multiple of 4 KiB apart: the transforms
  // touch all of a tile's points at once, and 2^k strides put them in one L1 set.
  const int64_t v_point = block * k_total + 16, m_point = mr * block + 16;
  // Fewer blocks than threads (deep layers on small batches: 512 -> 512 at
  // 7x7, batch 8, is one block of 32 tiles) also split the output channels;
  // each part transforms the block's input itself, which costs less than
  // leaving threads idle.
  const int64_t splits = std::min(panels, ceil_div(int64_t{num_threads()}, blocks));
  const int64_t split_panels = ceil_div(panels, splits);
  // With k in chunks (winograd_k_chunk) every panel's M stays in the
  // thread's scratch across them, so each chunk of V is read from L2 by
  // every panel instead of all of V from L3.
  const int64_t k_chunk = winograd_k_chunk(s, k_total, block);
  const bool chunk_k = k_chunk < k_total;
  const int64_t m_panels = chunk_k ? split_panels : 1;  // panels whose M the scratch holds
  const int64_t u_panel_size = u.packed ? 0 : round_up(points * mr * k_chunk, 16);
  const int64_t per_thread = round_up(points * v_point + m_panels * points * m_point, 16) + u_panel_size +
                             (u.packed ? 0 : round_up(u.scratch_elements, 16));
  const int threads = threads_for(blocks * splits);
  Workspace<T> scratch(threads * per_thread);

  parallel_for_stealing(blocks * splits, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* v = scratch.slot(thread, per_thread);
    T* m = v + points * v_point;
    T* u_panel = m + m_panels * points * m_point;
    T* u_scratch = u_panel + u_panel_size;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / splits, split = task % splits;
      const int64_t tile0 = b * block, count = std::min(block, tiles - tile0);
      const int64_t columns = round_up(count, nr);
      const int64_t first = panels * split / splits, last = panels * (split + 1) / splits;
      inputs(tile0, count, v, v_point);
      // One micro-panel of output channels at a time through every point
      // (over one chunk of k), then its output transforms: M stays in L1/L2
      // whatever C_out.
      for (int64_t c0 = 0; c0 < k_total; c0 += k_chunk) {
        const int64_t c1 = std::min(k_total, c0 + k_chunk);
        for (int64_t panel = first; panel < last; ++panel) {
          T* m_panel = m + (chunk_k ? (panel - first) * points * m_point : 0);
          if (!u.packed) u.transform(panel, c0, c1, u_panel, u_scratch);
          // A of point p for k >= c0 (packed U holds every k; the panel's, this chunk)
          const auto a_chunk = [&](int p) {
            return u.packed ? u.packed + p * rows * k_total + panel * mr * k_total + c0 * mr
                            : u_panel + p * mr * (c1 - c0);
          };
          for (int p = 0; p < points; ++p) {
            const T* a_point = a_chunk(p);
            const T* v_p = v + p * v_point;
            T* m_p = m_panel + p * m_point;
            const int64_t k_begin = k_range ? k_range[2 * p] : 0, k_end = k_range ? k_range[2 * p + 1] : k_total;
            for (int64_t k0 = std::max(k_begin, c0); k0 < std::min(k_end, c1); k0 += blk.kc) {
              const int64_t kc = std::min({blk.kc, k_end - k0, c1 - k0});
              for (int64_t j = 0; j < columns; j += nr)
                rk.gemm(kc, a_point + (k0 - c0) * mr, v_p + j * k_total + k0 * nr, m_p + j, block, k0 > k_begin);
            }
          }
          if (c1 == k_total)
            outputs(panel * mr, std::min(c_out, (panel + 1) * mr), m_panel, block, m_point, tile0, count);
        }
      }
    }
  });
}

// Output transforms of one output channel per row into its plane, plus bias.
template <typename T>
auto plane_outputs(const Scheme<T>& s, const WinogradTiles& out_tiles, const T* bias, T* dst) {
  const int64_t out_plane = out_tiles.h * out_tiles.w;
  return [&s, out_tiles, bias, dst, out_plane](int64_t row0, int64_t row_end, const T* m, int64_t block,
                                               int64_t m_point, int64_t tile0, int64_t count) {
    for (int64_t co = row0; co < row_end; ++co)
      s.kern->output(out_tiles, m + (co - row0) * block, m_point, tile0, count, bias ? bias[co] : T(0),
                     dst + co * out_plane);
  };
}

template <typename T>
void winograd_correlation(const Scheme<T>& s, const WinogradProblem& q, const T* src, const T* w, const T* bias,
                          T* dst) {
  const Kernels<T>& kern = active_kernels().get<T>();
  const RowKernel<T> rk = gemm_for_rows(kern, q.c_out);
  const int mr = rk.mr, nr = kern.gemm_nr;
  const int64_t rows = ceil_div(q.c_out, mr) * mr;

  const WinogradTiling<T> t(s, q, src);
  // U per panel and chunk of k where k runs in chunks and each thread has
  // at most one block (so each value of U is made once).
  const int64_t block = winograd_block(s, mr, q.c_in, t.tiles);
  const bool per_chunk = winograd_k_chunk(s, q.c_in, block) < q.c_in && ceil_div(t.tiles, block) <= 2 * num_threads();
  PackedWeights<T> a_packed(PackSite::winograd, {s.alpha, s.r, q.c_in, q.c_out, mr},
                            per_chunk ? 0 : s.points * rows * q.c_in);
  WinogradFilters<T> u;
  if (per_chunk) {
    u.scratch_elements =
        winograd_filter_scratch(s.alpha, s.r, mr, winograd_k_chunk(s, q.c_in, block), kern.filter_width);
    u.transform = [&](int64_t panel, int64_t c0, int64_t c1, T* dst, T* scratch) {
      transform_weight_panel(s, q, w, mr, panel, c0, c1, dst, mr * (c1 - c0), scratch);
    };
  } else {
    if (!a_packed.ready()) {
      transform_weights(s, q, w, mr, a_packed.data());
      a_packed.packed();
    }
    u.packed = a_packed.data();
  }

  const auto inputs = [&](int64_t tile0, int64_t count, T* v, int64_t v_point) {
    for (int64_t ci = 0; ci < q.c_in; ++ci)
      s.kern->input(t.in, t.source + ci * t.source_plane, tile0, count, v + ci * nr, 0, v_point, q.c_in * nr, nr);
  };
  winograd_products(s, rk, q.c_in, q.c_out, u, t.tiles, static_cast<const int64_t*>(nullptr), inputs,
                    plane_outputs(s, t.out, bias, dst));
}

// 3x3 stride 2 as four stride-1 2x2 correlations over the input's phases
// (the padded input's rows and columns of parity py, px). Per axis
//   y[o] = w0 x'[2o] + w1 x'[2o + 1] + w2 x'[2o + 2]
//        = (w0, w2) . even[o, o + 1] + (w1, 0) . odd[o, o + 1],
// so each phase has a 2x2 kernel of the 3x3 one's taps (zero where the odd
// phase has one tap), and F(4x4, 2x2) sums all four as one correlation over
// 4 C_in channels [phase][ci], its windows read in place (WinogradTiles::step).
// The zero taps make U zero at the points with ∞ on an axis where a phase's
// kernel has one tap; those points' GEMMs skip that phase's channels, so a
// 4x4 tile costs (16 x 4 + 8 x 2 + 1) / 16 = 5.06 multiply-adds per output
// and channel pair instead of 9.
template <typename T>
void winograd_phase_correlation(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out) {
  const Kernels<T>& kern = active_kernels().get<T>();
  const Scheme<T> s = phase_scheme<T>();
  const RowKernel<T> rk = gemm_for_rows(kern, p.out_channels);
  const int mr = rk.mr, nr = kern.gemm_nr;
  const int64_t c_in = p.in_channels, c_out = p.out_channels, k_total = 4 * c_in;
  const int64_t rows = ceil_div(c_out, mr) * mr;

  // A phase's taps a = 0, 1 on an axis: kernel index 0, 2 (even) or 1, none (odd).
  const auto tap = [](int parity, int a) { return parity == 0 ? 2 * a : (a == 0 ? 1 : -1); };
  const WinogradProblem q{p.batch, k_total, 0, 0, c_out, p.out_h, p.out_w, 0, 0};
  PackedWeights<T> a_packed(PackSite::winograd_phases, {c_in, c_out, mr}, s.points * rows * k_total);
  if (!a_packed.ready()) {
    Workspace<T> phase_w(c_out * k_total * 4);
    for (int64_t co = 0; co < c_out; ++co)
      for (int ph = 0; ph < 4; ++ph)
        for (int64_t ci = 0; ci < c_in; ++ci)
          for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) {
              const int ky = tap(kWinogradPhase[ph][0], a), kx = tap(kWinogradPhase[ph][1], b);
              phase_w.data()[((co * 4 + ph) * c_in + ci) * 4 + a * 2 + b] =
                  ky < 0 || kx < 0 ? T(0) : w[((co * c_in + ci) * 3 + ky) * 3 + kx];
            }
    transform_weights(s, q, phase_w.data(), mr, a_packed.data());
    a_packed.packed();
  }

  // Point (i, j) with ∞ (index 4) on the rows needs the even-row phases
  // (0, 1), on the columns the even-column ones (1, 2), on both phase 1.
  int64_t k_range[2 * 25];
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      const int first = j == 4 ? 1 : 0, last = i == 4 ? 2 : (j == 4 ? 3 : 4);
      k_range[2 * (i * 5 + j)] = first * c_in;
      k_range[2 * (i * 5 + j) + 1] = last * c_in;
    }

  const int64_t tiles_x = ceil_div(p.out_w, 4), tiles_per_image = tiles_x * ceil_div(p.out_h, 4);
  const int64_t in_plane = p.in_h * p.in_w;
  const WinogradTiles in_tiles{p.in_h,          p.in_w, p.pad_top, p.pad_left, tiles_x,  tiles_per_image,
                               c_in * in_plane, 4,      0,         2,          c_in * nr};
  const WinogradTiles out_tiles{p.out_h, p.out_w, 0, 0, tiles_x, tiles_per_image, c_out * p.out_h * p.out_w, 4, 0};
  const auto inputs = [&](int64_t tile0, int64_t count, T* v, int64_t v_point) {
    for (int64_t ci = 0; ci < c_in; ++ci)
      s.kern->input(in_tiles, x + ci * in_plane, tile0, count, v + ci * nr, 0, v_point, k_total * nr, nr);
  };
  WinogradFilters<T> u;
  u.packed = a_packed.data();
  winograd_products(s, rk, k_total, c_out, u, p.batch * tiles_per_image, k_range, inputs,
                    plane_outputs(s, out_tiles, bias, out));
}

// Backward-data of 3x3 stride 2, by the same F(4x4, 2x2) the other way
// round. dx's row 2i + qy takes taps ky = qy + pad - 2 (s + a) of dout rows
// i + s + a, a = 0, 1, where s (-1 for pad 0, else 0) is the same for both
// row parities: ky = 0 and 2 for one parity, 1 alone (its other tap zero)
// for the other; columns alike. So the four phases (qy, qx) of every input
// channel are 4 C_in "output channels" [ci][phase] of one stride-1 2x2
// correlation of dout over tiles of the phase grid (ceil(H / 2) x ceil(W /
// 2)), and each channel's four phases leave the output transform as 8x8
// blocks of dx. 25 multiply-adds per 4x4 tile, phase and channel pair, i.e.
// 6.25 per dx element against the direct 9 / 4 x 4 = 9 (with every phase's
// zero taps kept: the phases are rows of one micro-panel).
template <typename T>
void winograd_phase_backward_data(const Conv2dParams& p, const T* dout, const T* w, T* dx) {
  const Kernels<T>& kern = active_kernels().get<T>();
  const Scheme<T> s = phase_scheme<T>();
  const int64_t c_in = p.in_channels, c_out = p.out_channels, rows = 4 * c_in;
  // The four phases of a channel in one micro-panel: a row tile of a multiple of 4.
  RowKernel<T> rk = gemm_for_rows(kern, rows);
  if (rk.mr % 4 != 0) rk = {kern.gemm_narrow_mr, kern.gemm_narrow, kern.gemm_offset_b_narrow};
  const int mr = rk.mr, nr = kern.gemm_nr;
  const int64_t packed_rows = ceil_div(rows, mr) * mr;

  const int64_t start_y = p.pad_top == 0 ? -1 : 0, start_x = p.pad_left == 0 ? -1 : 0;  // s per axis
  const auto tap = [](int parity, int64_t pad, int64_t start, int a) {
    const int64_t k = parity + pad - 2 * (start + a);
    return k >= 0 && k <= 2 ? static_cast<int>(k) : -1;
  };
  Workspace<T> phase_w(rows * c_out * 4);
  for (int64_t ci = 0; ci < c_in; ++ci)
    for (int q = 0; q < 4; ++q)
      for (int64_t co = 0; co < c_out; ++co)
        for (int a = 0; a < 2; ++a)
          for (int b = 0; b < 2; ++b) {
            const int ky = tap(q >> 1, p.pad_top, start_y, a), kx = tap(q & 1, p.pad_left, start_x, b);
            phase_w.data()[((ci * 4 + q) * c_out + co) * 4 + a * 2 + b] =
                ky < 0 || kx < 0 ? T(0) : w[((co * c_in + ci) * 3 + ky) * 3 + kx];
          }
  const WinogradProblem q{p.batch, c_out, 0, 0, rows, 0, 0, 0, 0};
  Workspace<T> a_packed(s.points * packed_rows * c_out);
  transform_weights(s, q, phase_w.data(), mr, a_packed.data());

  const int64_t grid_h = ceil_div(p.in_h, 2), grid_w = ceil_div(p.in_w, 2);
  const int64_t tiles_x = ceil_div(grid_w, 4), tiles_per_image = tiles_x * ceil_div(grid_h, 4);
  const int64_t out_plane = p.out_h * p.out_w, in_plane = p.in_h * p.in_w;
  const WinogradTiles windows{p.out_h, p.out_w, -start_y, -start_x, tiles_x, tiles_per_image, c_out * out_plane, 4, 0};
  const WinogradTiles blocks{p.in_h, p.in_w, 0, 0, tiles_x, tiles_per_image, c_in * in_plane, 4, 0};
  const auto inputs = [&](int64_t tile0, int64_t count, T* v, int64_t v_point) {
    for (int64_t co = 0; co < c_out; ++co)
      kern.winograd_f4x2_dx.input(windows, dout + co * out_plane, tile0, count, v + co * nr, 0, v_point, c_out * nr,
                                  nr);
  };
  const auto outputs = [&](int64_t row0, int64_t row_end, const T* m, int64_t block, int64_t m_point, int64_t tile0,
                           int64_t count) {
    for (int64_t r = row0; r < row_end; r += 4)
      kern.winograd_f4x2_dx.output(blocks, m + (r - row0) * block, m_point, block, tile0, count,
                                   dx + (r / 4) * in_plane);
  };
  WinogradFilters<T> u;
  u.packed = a_packed.data();
  winograd_products(s, rk, c_out, rows, u, p.batch * tiles_per_image, static_cast<const int64_t*>(nullptr), inputs,
                    outputs);
}

// dW[co][ci] = G^T [ sum over tiles t of E[co][t] ⊙ V[ci][t] ] G with
// E = A e A^T of dout's m x m tiles and V = B^T d B of x's alpha x alpha
// windows: per point p one GEMM M[p] (C_out x C_in) += E[p] (C_out x tiles)
// * V[p]^T, whose k runs over a block of tiles. Each thread accumulates its
// own M over its blocks; the partial sums are added in thread order
// (deterministic for a given thread count) and transformed back once.
template <typename T>
void winograd_weight_gradient(const Scheme<T>& s, const Conv2dParams& p, const T* dout, const T* x, T* dw) {
  const Kernels<T>& kern = active_kernels().get<T>();
  // M[p] is C_out x C_in, or, where that pads the tile's columns less,
  // M[p]^T = V[p] E[p]^T, C_in x C_out (16 input channels on 32 columns
  // waste half of every B load, as in MNIST's 16 -> 32 5x5).
  const int64_t c_in = p.in_channels, c_out = p.out_channels;
  const int nr = kern.gemm_nr;
  const RowKernel<T> by_out = gemm_for_rows(kern, c_out), by_in = gemm_for_rows(kern, c_in);
  const bool swapped = round_up(c_in, by_in.mr) * round_up(c_out, nr) < round_up(c_out, by_out.mr) * round_up(c_in, nr);
  const RowKernel<T> rk = swapped ? by_in : by_out;
  const int mr = rk.mr;
  const int64_t row_channels = swapped ? c_in : c_out, col_channels = swapped ? c_out : c_in;
  const int points = s.points;
  const int64_t rows = round_up(row_channels, mr), cols = round_up(col_channels, nr);
  const WinogradProblem q{p.batch, p.in_channels, p.in_h,    p.in_w,    p.out_channels,
                          p.out_h, p.out_w,       p.pad_top, p.pad_left};
  const WinogradTiling<T> t(s, q, x);  // x's windows, dout's tiles
  const int64_t tiles = t.tiles;

  const int64_t per_tile = points * (p.in_channels + p.out_channels) * int64_t(sizeof(T));
  // The GEMMs' k is the block: 32 to 64 tiles deep, and at most what keeps
  // a block's E and V within half of L2.
  int64_t block = blocking().winograd_block_l2 / per_tile / 16 * 16;
  block = std::min<int64_t>(std::max<int64_t>(block, 32), 64);
  block = balanced_block(tiles, block, 16, num_threads());
  const int64_t blocks = ceil_div(tiles, block);
  const int threads = threads_for(blocks);

  // Transforms write tile-contiguous rows E[p][co][tile], V[p][ci][tile]
  // (whole-vector stores); each point's pair is then packed into micro-panels
  // (k = tile) for the GEMM.
  // One cache line more than the rows need, so that the alpha^2 points'
  // rows, which a transform writes together, do not all fall in the same L1
  // sets (a multiple of 4 KiB apart they would: 64 channels x 64 tiles).
  const int64_t line = 64 / int64_t(sizeof(T));
  const int64_t e_point = p.out_channels * block + line, v_point = p.in_channels * block + line;
  const int64_t m_point = rows * cols, packed = (rows + cols) * block;
  const int64_t per_thread = round_up(points * (e_point + v_point + m_point) + packed, 16);
  Workspace<T> scratch(threads * per_thread);

  parallel_for(blocks, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* m = scratch.slot(thread, per_thread);
    T* e = m + points * m_point;
    T* v = e + points * e_point;
    T* a_panels = v + points * v_point;
    T* b_panels = a_panels + rows * block;
    for (int64_t b = begin; b < end; ++b) {
      const int64_t tile0 = b * block, count = std::min(block, tiles - tile0);
      for (int64_t co = 0; co < p.out_channels; ++co)
        s.kern->output_gradient(t.out, dout + co * p.out_h * p.out_w, tile0, count, e + co * block, 0, e_point, 0,
                                int(block));
      for (int64_t ci = 0; ci < p.in_channels; ++ci)
        s.kern->input(t.in, t.source + ci * t.source_plane, tile0, count, v + ci * block, 0, v_point, 0, int(block));
      const T* row_side = swapped ? v : e;
      const T* col_side = swapped ? e : v;
      const int64_t row_point = swapped ? v_point : e_point, col_point = swapped ? e_point : v_point;
      for (int q = 0; q < points; ++q) {
        kern.pack_rows_transposed(row_side + q * row_point, block, row_channels, count, mr, a_panels);
        kern.pack_rows_transposed(col_side + q * col_point, block, col_channels, count, nr, b_panels);
        for (int64_t i = 0; i < rows; i += mr)
          for (int64_t j = 0; j < cols; j += nr)
            rk.gemm(count, a_panels + i * count, b_panels + j * count, m + q * m_point + i * cols + j, cols, b > begin);
      }
    }
  });

  // Partial sums in thread order, then dW = G^T M G.
  T* total = scratch.data();
  for (int t = 1; t < threads; ++t) {
    const T* part = scratch.slot(t, per_thread);
    for (int64_t i = 0; i < points * m_point; ++i) total[i] += part[i];
  }
  // M^T back to [point][co][ci] (a few thousand values per point).
  Workspace<T> unswapped(swapped ? points * c_out * c_in : 0);
  const T* m_sums = total;
  int64_t m_row = cols, m_stride = m_point;
  if (swapped) {
    for (int q = 0; q < points; ++q)
      for (int64_t co = 0; co < c_out; ++co)
        for (int64_t ci = 0; ci < c_in; ++ci)
          unswapped.data()[(q * c_out + co) * c_in + ci] = total[q * m_point + ci * cols + co];
    m_sums = unswapped.data();
    m_row = c_in;
    m_stride = c_out * c_in;
  }
  // dW[co][ci] = G^T M[co][ci] G, vectorised over ci (contiguous in M) by
  // the active ISA and parallel over co: serial and per pair it would cost as
  // much as the GEMMs on small planes.
  T g[8][7];
  for (int i = 0; i < s.alpha; ++i)
    for (int j = 0; j < s.r; ++j) g[i][j] = static_cast<T>(s.mat->g[i][j]);
  const int64_t kernel = p.kernel_h * p.kernel_w;
  const int64_t per_transform = (s.alpha + s.r) * s.r * c_in;
  const int transform_threads = threads_for(p.out_channels);
  Workspace<T> transform_scratch(per_transform * transform_threads);
  parallel_for(p.out_channels, transform_threads, Denormals::keep, [&](int64_t begin, int64_t end, int thread) {
    for (int64_t co = begin; co < end; ++co)
      kern.winograd_gradient_transform(g, s.alpha, s.r, c_in, m_sums + co * m_row, m_stride, dw + co * c_in * kernel,
                                       transform_scratch.slot(thread, per_transform));
  });
}

}  // namespace

bool winograd_phase_applies(const Conv2dParams& p) {
  return p.kernel_h == 3 && p.kernel_w == 3 && p.stride_h == 2 && p.stride_w == 2 && p.dilation_h == 1 &&
         p.dilation_w == 1 && p.groups == 1 && !p.channels_last && p.pad_top <= 2 && p.pad_bottom <= 2 &&
         p.pad_left <= 2 && p.pad_right <= 2;
}

bool winograd_applies(const Conv2dParams& p) {
  const int64_t r = p.kernel_h, most = r - 1;
  return (r == 3 || r == 5) && p.kernel_w == r && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 &&
         p.dilation_w == 1 && p.groups == 1 && p.pad_top <= most && p.pad_bottom <= most && p.pad_left <= most &&
         p.pad_right <= most;
}

// Input and output transforms cost O(tiles x channels) against the GEMMs'
// O(tiles x C_in x C_out), so few channels on either side make them dominate;
// the transformed weights (4x the weights' size, made every call) are
// amortised only over enough tiles: 8+ channels each way and 160 tiles for
// 3x3; 6+ channels and 128 tiles for 5x5, whose larger saving (64 points for
// 400 products, against 36 for 144) pays sooner.
bool prefers_winograd(int64_t kernel, int64_t batch, int64_t source_channels, int64_t result_channels, int64_t result_h,
                      int64_t result_w) {
  const int64_t tiles = batch * ceil_div(result_h, 4) * ceil_div(result_w, 4);
  const int64_t fewest = kernel == 3 ? 8 : 6;
  return source_channels >= fewest && result_channels >= fewest && tiles >= (kernel == 3 ? 160 : 128);
}

// Deep 3x3 layers: with 64+ channels each way the GEMMs dwarf the transforms,
// so the 4x4 tiles' fourfold saving pays for them from 32 tiles.
bool prefers_winograd_deep(int64_t kernel, int64_t batch, int64_t source_channels, int64_t result_channels,
                           int64_t result_h, int64_t result_w) {
  const int64_t tiles = batch * ceil_div(result_h, 4) * ceil_div(result_w, 4);
  return kernel == 3 && source_channels >= 64 && result_channels >= 64 && tiles >= 32;
}

// F(4x4, 2x2) over input phases against the direct tiles: it needs 512+ tiles
// to amortise U, and loses where the 4x4 tiles overhang the output (the
// padding eats the saving) and with 128+ input channels, whose 512+ B rows
// per tile leave few tiles per L2 block, each reading all of U.
bool prefers_winograd_phases(const Conv2dParams& p) {
  const int64_t tiles = p.batch * ceil_div(p.out_h, 4) * ceil_div(p.out_w, 4);
  return p.out_h % 4 == 0 && p.out_w % 4 == 0 && p.in_channels >= 32 && p.in_channels <= 64 && p.out_channels >= 32 &&
         tiles >= 512;
}

// Backward-data of 3x3 stride 2 by F(4x4, 2x2) on dx's phases, against the
// phase GEMMs or col2im: 6.25 multiply-adds per dx element instead of 9, once
// 128+ tiles amortise U, and while U is small enough to stream once per block
// (256 -> 512 is 25 x 1024 x 512 values, on a 7x7 phase grid whose tiles
// cover 8x8). The bound is 128 x 256 channel pairs with full-width 512-bit
// FMAs, 64 x 128 otherwise (AVX2's 4-row tile, as a channel's four phases
// must share a micro-panel).
bool prefers_winograd_phase_backward_data(const Conv2dParams& p) {
  if (!winograd_phase_applies(p)) return false;
  const int64_t grid_h = ceil_div(p.in_h, 2), grid_w = ceil_div(p.in_w, 2);
  const int64_t tiles = p.batch * ceil_div(grid_h, 4) * ceil_div(grid_w, 4);
  const int64_t most = wide_fma_active() ? 128 * 256 : 64 * 128;
  return tiles >= 128 && p.in_channels * p.out_channels <= most;
}

// Against the direct weight-gradient kernel (the default: see
// prefers_direct_weight) Winograd's transforms pay off only with enough
// channels and tiles that fill the plane: 4x4 tiles overhanging the plane
// (16x16 over 14x14) spend a share of the work on padding, and few channels
// do not amortise the transforms. 3x3 needs 32+ channels each way where
// 512-bit FMAs run at full width (64+ elsewhere) and 14x14+ planes; 5x5 needs
// 32+ channels each way, or 16+ where the tiles fill the plane or C_in x C_out
// x the share of the tiles' area inside the plane reaches 512.
// The per-thread 6x6/8x8-domain sums take points x C_out x C_in values,
// hence the upper bound.
bool prefers_winograd_weight_gradient(const Conv2dParams& p, bool transposed) {
  if (!prefers_winograd(p.kernel_h, p.batch, p.in_channels, p.out_channels, p.out_h, p.out_w) ||
      p.in_channels * p.out_channels > 256 * 256)
    return false;
  const int64_t plane = p.out_h * p.out_w;
  if (p.kernel_h == 3) {
    const int64_t least = wide_fma_active() ? 32 : 64;
    return p.in_channels >= least && p.out_channels >= least && plane >= 196;
  }
  const bool tiles_fill = p.out_h % 4 == 0 && p.out_w % 4 == 0 && plane >= 784;
  const int64_t covered = round_up(p.out_h, 4) * round_up(p.out_w, 4);
  // (three quarters of that from 1024 tiles, which spread the fixed costs
  // further; not for channels-last data, whose transposes cost that margin)
  const int64_t tiles = p.batch * covered / 16;
  const int64_t least = tiles >= 1024 && !transposed ? 384 : 512;
  const bool enough_products = p.in_channels * p.out_channels * plane >= least * covered;
  return (p.in_channels >= 32 && p.out_channels >= 32) ||
         (p.in_channels >= 16 && p.out_channels >= 16 && (tiles_fill || enough_products));
}

namespace {
std::string geometry(const Conv2dParams& p) {
  return "kernel " + std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w) + ", stride (" +
         std::to_string(p.stride_h) + ", " + std::to_string(p.stride_w) + "), dilation (" +
         std::to_string(p.dilation_h) + ", " + std::to_string(p.dilation_w) + "), groups=" + std::to_string(p.groups) +
         ", padding (" + std::to_string(p.pad_top) + ", " + std::to_string(p.pad_bottom) + ", " +
         std::to_string(p.pad_left) + ", " + std::to_string(p.pad_right) + ")";
}
}  // namespace

void check_conv2d_algorithm(const Conv2dParams& p, ConvAlgorithm algorithm, bool weight_gradient) {
  if (p.channels_last && algorithm == ConvAlgorithm::winograd)
    throw std::invalid_argument(
        "algorithm='winograd' takes channels-first data; channels_last runs algorithm='gemm' "
        "(or 'auto')");
  if (algorithm == ConvAlgorithm::winograd && !winograd_applies(p) && (weight_gradient || !winograd_phase_applies(p)))
    throw std::invalid_argument(
        "algorithm='winograd' needs a 3x3 or 5x5 kernel, stride 1 (forward and dx: or 3x3 stride 2), "
        "dilation 1, groups=1 and padding <= kernel size - 1 on every side; got " +
        geometry(p));
  if (algorithm == ConvAlgorithm::direct && p.groups != 1)
    throw std::invalid_argument("algorithm='direct' needs groups=1; got " + geometry(p));
}

template <typename T>
void conv2d_forward_winograd(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out) {
  if (p.stride_h == 2) return winograd_phase_correlation(p, x, w, bias, out);
  const WinogradProblem q{p.batch, p.in_channels, p.in_h,    p.in_w,    p.out_channels,
                          p.out_h, p.out_w,       p.pad_top, p.pad_left};
  winograd_correlation(scheme_for<T>(p.kernel_h), q, x, w, bias, out);
}

template <typename T>
void conv2d_backward_data_winograd(const Conv2dParams& p, const T* dout, const T* w, T* dx) {
  if (p.stride_h == 2) return winograd_phase_backward_data(p, dout, w, dx);
  const int64_t last = p.kernel_h - 1;
  Workspace<T> flipped(p.in_channels * p.out_channels * p.kernel_h * p.kernel_w);
  T* f = flipped.data();
  flip_transposed_weights(p, w, f);
  const WinogradProblem q{p.batch, p.out_channels, p.out_h,          p.out_w,          p.in_channels,
                          p.in_h,  p.in_w,         last - p.pad_top, last - p.pad_left};
  winograd_correlation(scheme_for<T>(p.kernel_h), q, dout, f, static_cast<const T*>(nullptr), dx);
}

template <typename T>
void conv2d_backward_weight_winograd(const Conv2dParams& p, const T* dout, const T* x, T* dw) {
  winograd_weight_gradient(scheme_for<T>(p.kernel_h), p, dout, x, dw);
}

template void conv2d_backward_weight_winograd<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_backward_weight_winograd<double>(const Conv2dParams&, const double*, const double*, double*);
template void conv2d_forward_winograd<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_forward_winograd<double>(const Conv2dParams&, const double*, const double*, const double*,
                                              double*);
template void conv2d_backward_data_winograd<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_backward_data_winograd<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastcnn

// 3x3 stride-1 convolution by Winograd F(4x4, 3x3), forward and backward-data.
//
// The output is cut into 4x4 tiles (over all images: one tile index space,
// so a small batch still fills every thread and the last block of an image
// shares its micro-panel with the next image). Per block of tiles:
//   1. input transform: V[p] = B^T d B of every tile and input channel,
//      written straight into packed B micro-panels (one per point p of the
//      6x6 transform domain);
//   2. 36 GEMMs M[p] (C_out x tiles) = U[p] (C_out x C_in) * V[p], with the
//      same register-blocked microkernels as the direct GEMM path;
//   3. output transform A^T M A of each tile and output channel, plus bias.
// U = G g G^T (the transformed weights) is computed once per call, in double
// precision, and packed as A micro-panels. 36 multiply-adds per (tile,
// channel pair) instead of 144: about 4x fewer than direct convolution, for
// transforms that cost O(tiles x channels), not O(tiles x channels^2).
//
// Backward-data of a 3x3 stride-1 convolution is itself one: the full
// correlation of dout with the spatially flipped, in/out-swapped kernel,
// padded by 2 - pad on each side (pads above 2 are not supported here).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "conv2d.h"
#include "cpu.h"
#include "gemm_blocking.h"
#include "parallel.h"
#include "workspace.h"
#include "../kernels/pack/panels.h"

namespace fastcnn {
namespace {

constexpr int kPoints = 36;  // the 6x6 transform domain

// The kernel transform of F(4x4, 3x3): U = G g G^T.
constexpr double kG[6][3] = {{1.0 / 4, 0, 0},
                             {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                             {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                             {1.0 / 24, 1.0 / 12, 1.0 / 6},
                             {1.0 / 24, -1.0 / 12, 1.0 / 6},
                             {0, 0, 1}};

// One Winograd correlation: src (batch, c_in, in_h, in_w) with the 3x3
// kernels w (c_out, c_in, 3, 3) into dst (batch, c_out, out_h, out_w).
struct WinogradProblem {
  int64_t batch, c_in, in_h, in_w, c_out, out_h, out_w, pad_top, pad_left;
};

// U = G g G^T for every (co, ci), packed per point as A micro-panels:
// a[(p * panels + panel) * mr * c_in + ci * mr + row].
template <typename T>
void transform_weights(const WinogradProblem& q, const T* w, int mr, T* a) {
  const int64_t panels = ceil_div(q.c_out, mr), filters = panels * mr * q.c_in;
  parallel_for(panels, threads_for(panels), Denormals::keep, [&](int64_t begin, int64_t end, int) {
    for (int64_t panel = begin; panel < end; ++panel)
      for (int64_t row = 0; row < mr; ++row) {
        const int64_t co = panel * mr + row;
        for (int64_t ci = 0; ci < q.c_in; ++ci) {
          double u[6][6] = {};
          if (co < q.c_out) {
            const T* g = w + (co * q.c_in + ci) * 9;
            double gg[6][3];  // G g
            for (int r = 0; r < 6; ++r)
              for (int j = 0; j < 3; ++j)
                gg[r][j] = kG[r][0] * g[j] + kG[r][1] * g[3 + j] + kG[r][2] * g[6 + j];
            for (int r = 0; r < 6; ++r)
              for (int c = 0; c < 6; ++c)
                u[r][c] = gg[r][0] * kG[c][0] + gg[r][1] * kG[c][1] + gg[r][2] * kG[c][2];
          }
          for (int p = 0; p < kPoints; ++p)
            a[p * filters + panel * mr * q.c_in + ci * mr + row] = static_cast<T>(u[p / 6][p % 6]);
        }
      }
  });
}

template <typename T>
void winograd_f4x3(const WinogradProblem& q, const T* src, const T* w, const T* bias, T* dst) {
  const Kernels<T>& kern = active_kernels().get<T>();
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const int64_t panels = ceil_div(q.c_out, mr), rows = panels * mr;

  Workspace<T> a_packed(kPoints * rows * q.c_in);
  transform_weights(q, w, mr, a_packed.data());

  const int64_t tiles_x = ceil_div(q.out_w, 4), tiles_per_image = tiles_x * ceil_div(q.out_h, 4);
  const int64_t tiles = q.batch * tiles_per_image;
  // A block's V and M stay within half of L2; whole micro-panels of tiles,
  // whole lane groups of the transforms, and enough blocks for every thread.
  const int64_t quantum = std::max<int64_t>(nr, 16);
  const int64_t per_tile = kPoints * (q.c_in + rows) * int64_t(sizeof(T));
  int64_t block = cache_sizes().l2 / 2 / per_tile / quantum * quantum;
  block = std::min<int64_t>(std::max(block, quantum), 8 * quantum);
  block = std::min(block, round_up(ceil_div(tiles, num_threads()), quantum));
  const int64_t blocks = ceil_div(tiles, block);

  const GemmBlocking blk = gemm_blocking(mr, nr, sizeof(T), q.c_in, block);
  const int64_t v_point = block * q.c_in, m_point = rows * block;
  const int64_t per_thread = round_up(kPoints * (v_point + m_point), 16);
  const int threads = threads_for(blocks);
  Workspace<T> scratch(threads * per_thread);

  const WinogradTiles in_tiles{q.in_h, q.in_w, q.pad_top, q.pad_left, tiles_x, tiles_per_image,
                               q.c_in * q.in_h * q.in_w};
  const WinogradTiles out_tiles{q.out_h, q.out_w, 0, 0, tiles_x, tiles_per_image,
                                q.c_out * q.out_h * q.out_w};

  parallel_for(blocks, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* v = scratch.slot(thread, per_thread);
    T* m = v + kPoints * v_point;
    for (int64_t b = begin; b < end; ++b) {
      const int64_t tile0 = b * block, count = std::min(block, tiles - tile0);
      const int64_t columns = round_up(count, nr);
      for (int64_t ci = 0; ci < q.c_in; ++ci)
        kern.winograd_f4x3.input(in_tiles, src + ci * q.in_h * q.in_w, tile0, count, v + ci * nr,
                                 0, v_point, q.c_in * nr, nr);
      for (int p = 0; p < kPoints; ++p) {
        const T* a_point = a_packed.data() + p * rows * q.c_in;
        const T* v_p = v + p * v_point;
        T* m_p = m + p * m_point;
        for (int64_t k0 = 0; k0 < q.c_in; k0 += blk.kc) {
          const int64_t kc = std::min(blk.kc, q.c_in - k0);
          for (int64_t panel = 0; panel < panels; ++panel) {
            const T* a = a_point + panel * mr * q.c_in + k0 * mr;
            for (int64_t j = 0; j < columns; j += nr)
              kern.gemm(kc, a, v_p + j * q.c_in + k0 * nr, m_p + panel * mr * block + j, block, k0 > 0);
          }
        }
      }
      for (int64_t co = 0; co < q.c_out; ++co)
        kern.winograd_f4x3.output(out_tiles, m + co * block, m_point, tile0, count,
                                  bias ? bias[co] : T(0), dst + co * q.out_h * q.out_w);
    }
  });
}

// dW[co][ci] = G^T [ sum over tiles t of E[co][t] ⊙ V[ci][t] ] G with
// E = A e A^T of dout's 4x4 tiles and V = B^T d B of x's 6x6 windows: per
// point p one GEMM M[p] (C_out x C_in) += E[p] (C_out x tiles) * V[p]^T,
// whose k runs over a block of tiles. Each thread accumulates its own M over
// its blocks; the partial sums are added in thread order (deterministic for
// a given thread count) and transformed back once.
template <typename T>
void winograd_f4x3_weight_gradient(const Conv2dParams& p, const T* dout, const T* x, T* dw) {
  const Kernels<T>& kern = active_kernels().get<T>();
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const int64_t rows = round_up(p.out_channels, mr), cols = round_up(p.in_channels, nr);
  const int64_t tiles_x = ceil_div(p.out_w, 4), tiles_per_image = tiles_x * ceil_div(p.out_h, 4);
  const int64_t tiles = p.batch * tiles_per_image;

  const int64_t per_tile = kPoints * (p.in_channels + p.out_channels) * int64_t(sizeof(T));
  // The GEMMs' k is the block: at least 32 deep; at most what keeps a
  // block's E and V within half of L2 (measured best: 32..64 tiles).
  int64_t block = cache_sizes().l2 / 2 / per_tile / 16 * 16;
  block = std::min<int64_t>(std::max<int64_t>(block, 32), 64);
  block = std::min(block, round_up(ceil_div(tiles, num_threads()), 16));
  const int64_t blocks = ceil_div(tiles, block);
  const int threads = threads_for(blocks);

  // Transforms write tile-contiguous rows E[p][co][tile], V[p][ci][tile]
  // (whole-vector stores); each point's pair is then packed into micro-panels
  // (k = tile) for the GEMM.
  const int64_t e_point = p.out_channels * block, v_point = p.in_channels * block;
  const int64_t m_point = rows * cols, packed = (rows + cols) * block;
  const int64_t per_thread = round_up(kPoints * (e_point + v_point + m_point) + packed, 16);
  Workspace<T> scratch(threads * per_thread);

  const WinogradTiles x_tiles{p.in_h, p.in_w, p.pad_top, p.pad_left, tiles_x, tiles_per_image,
                              p.in_channels * p.in_h * p.in_w};
  const WinogradTiles dout_tiles{p.out_h, p.out_w, 0, 0, tiles_x, tiles_per_image,
                                 p.out_channels * p.out_h * p.out_w};
  parallel_for(blocks, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* m = scratch.slot(thread, per_thread);
    T* e = m + kPoints * m_point;
    T* v = e + kPoints * e_point;
    T* a_panels = v + kPoints * v_point;
    T* b_panels = a_panels + rows * block;
    for (int64_t b = begin; b < end; ++b) {
      const int64_t tile0 = b * block, count = std::min(block, tiles - tile0);
      for (int64_t co = 0; co < p.out_channels; ++co)
        kern.winograd_f4x3.output_gradient(dout_tiles, dout + co * p.out_h * p.out_w, tile0, count,
                                           e + co * block, 0, e_point, 0, int(block));
      for (int64_t ci = 0; ci < p.in_channels; ++ci)
        kern.winograd_f4x3.input(x_tiles, x + ci * p.in_h * p.in_w, tile0, count, v + ci * block,
                                 0, v_point, 0, int(block));
      for (int q = 0; q < kPoints; ++q) {
        pack_a_panels(e + q * e_point, block, p.out_channels, count, mr, a_panels);
        pack_a_panels(v + q * v_point, block, p.in_channels, count, nr, b_panels);
        for (int64_t i = 0; i < rows; i += mr)
          for (int64_t j = 0; j < cols; j += nr)
            kern.gemm(count, a_panels + i * count, b_panels + j * count,
                      m + q * m_point + i * cols + j, cols, b > begin);
      }
    }
  });

  // Partial sums in thread order, then dW = G^T M G.
  T* total = scratch.data();
  for (int t = 1; t < threads; ++t) {
    const T* part = scratch.slot(t, per_thread);
    for (int64_t i = 0; i < kPoints * m_point; ++i) total[i] += part[i];
  }
  for (int64_t co = 0; co < p.out_channels; ++co)
    for (int64_t ci = 0; ci < p.in_channels; ++ci) {
      double mg[6][3];  // M G
      for (int r = 0; r < 6; ++r)
        for (int j = 0; j < 3; ++j) {
          double acc = 0;
          for (int c = 0; c < 6; ++c) acc += double(total[(r * 6 + c) * m_point + co * cols + ci]) * kG[c][j];
          mg[r][j] = acc;
        }
      T* out = dw + (co * p.in_channels + ci) * 9;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
          double acc = 0;
          for (int r = 0; r < 6; ++r) acc += kG[r][i] * mg[r][j];
          out[i * 3 + j] = static_cast<T>(acc);
        }
    }
}

}  // namespace

bool winograd_applies(const Conv2dParams& p) {
  return p.kernel_h == 3 && p.kernel_w == 3 && p.stride_h == 1 && p.stride_w == 1 &&
         p.dilation_h == 1 && p.dilation_w == 1 && p.groups == 1 && p.pad_top <= 2 &&
         p.pad_bottom <= 2 && p.pad_left <= 2 && p.pad_right <= 2;
}

// Input and output transforms cost O(tiles x channels) against the GEMMs'
// O(tiles x C_in x C_out), so few channels on either side make them dominate;
// the transformed weights (4x the weights' size, made every call) are
// amortised only over enough tiles. Thresholds measured on AVX2 and AVX-512
// machines: 8 -> 16 channels at 32x32 already win 1.15x; 512 -> 512 at 7x7
// breaks even at 128 tiles (batch 32) and wins 1.36x at 256.
bool prefers_winograd(int64_t batch, int64_t source_channels, int64_t result_channels,
                      int64_t result_h, int64_t result_w) {
  const int64_t tiles = batch * ceil_div(result_h, 4) * ceil_div(result_w, 4);
  return source_channels >= 8 && result_channels >= 8 && tiles >= 160;
}

bool prefers_winograd_weight_gradient(const Conv2dParams& p) {
  return prefers_winograd(p.batch, p.in_channels, p.out_channels, p.out_h, p.out_w) &&
         p.in_channels * p.out_channels <= 256 * 256;
}

void check_conv2d_algorithm(const Conv2dParams& p, ConvAlgorithm algorithm) {
  if (algorithm == ConvAlgorithm::winograd && !winograd_applies(p))
    throw std::invalid_argument(
        "algorithm='winograd' needs a 3x3 kernel, stride 1, dilation 1, groups=1 and padding "
        "<= 2 on every side; got kernel " + std::to_string(p.kernel_h) + "x" +
        std::to_string(p.kernel_w) + ", stride (" + std::to_string(p.stride_h) + ", " +
        std::to_string(p.stride_w) + "), dilation (" + std::to_string(p.dilation_h) + ", " +
        std::to_string(p.dilation_w) + "), groups=" + std::to_string(p.groups) + ", padding (" +
        std::to_string(p.pad_top) + ", " + std::to_string(p.pad_bottom) + ", " +
        std::to_string(p.pad_left) + ", " + std::to_string(p.pad_right) + ")");
}

template <typename T>
void conv2d_forward_winograd(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out) {
  const WinogradProblem q{p.batch, p.in_channels, p.in_h, p.in_w, p.out_channels,
                          p.out_h, p.out_w, p.pad_top, p.pad_left};
  winograd_f4x3(q, x, w, bias, out);
}

template <typename T>
void conv2d_backward_data_winograd(const Conv2dParams& p, const T* dout, const T* w, T* dx) {
  // w'[ci][co] = w[co][ci] flipped in both spatial axes.
  Workspace<T> flipped(p.in_channels * p.out_channels * 9);
  T* f = flipped.data();
  for (int64_t co = 0; co < p.out_channels; ++co)
    for (int64_t ci = 0; ci < p.in_channels; ++ci)
      for (int e = 0; e < 9; ++e) f[(ci * p.out_channels + co) * 9 + e] = w[(co * p.in_channels + ci) * 9 + 8 - e];
  const WinogradProblem q{p.batch, p.out_channels, p.out_h, p.out_w, p.in_channels,
                          p.in_h, p.in_w, 2 - p.pad_top, 2 - p.pad_left};
  winograd_f4x3(q, dout, f, static_cast<const T*>(nullptr), dx);
}

template <typename T>
void conv2d_backward_weight_winograd(const Conv2dParams& p, const T* dout, const T* x, T* dw) {
  winograd_f4x3_weight_gradient(p, dout, x, dw);
}

template void conv2d_backward_weight_winograd<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_backward_weight_winograd<double>(const Conv2dParams&, const double*, const double*, double*);
template void conv2d_forward_winograd<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_forward_winograd<double>(const Conv2dParams&, const double*, const double*, const double*, double*);
template void conv2d_backward_data_winograd<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_backward_data_winograd<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastcnn

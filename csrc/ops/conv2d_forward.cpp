// Convolution forward as implicit GEMM: out[n, g] = W[g] (C_out/g x K) * im2col(x[n, g]).
#include <algorithm>
#include <vector>

#include "packed_weights.h"
#include "conv2d.h"
#include "conv_plan.h"
#include "cpu.h"
#include "gemm_blocking.h"
#include "grain.h"
#include "implicit_gemm.h"
#include "pack_weights.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

// Stride-1 Winograd (and the column kernel for one input channel), for
// channels-first data: what channels-last data goes through transposed,
// where it beats the channels-last tiles by more than the transposes cost:
// 5x5 kernels, and 3x3 whose 4x4 tiles overhang the output by at most 15%
// (on ragged planes the tiles' padding eats the gain).
bool winograd_pays_for_transposes(int64_t kernel, int64_t h, int64_t w) {
  return kernel == 5 || 100 * round_up(h, 4) * round_up(w, 4) <= 115 * h * w;
}

// Deep layers' transposes are small beside their products (C_in + C_out
// values per pixel against C_in x C_out), so they go through whenever auto
// takes stride-1 Winograd for the channels-first geometry.
bool prefers_channels_first_forward(const Conv2dParams& q, int element_bytes) {
  ConvPlanRequest request;
  request.p = q;
  request.element_bytes = element_bytes;
  request.announce = false;
  return plan_conv2d(request) == ConvPath::winograd &&
         (winograd_pays_for_transposes(q.kernel_h, q.out_h, q.out_w) ||
          prefers_winograd_deep(q.kernel_h, q.batch, q.in_channels, q.out_channels, q.out_h, q.out_w));
}

namespace {

// The implicit GEMM: any convolution.
template <typename T>
void conv2d_forward_implicit_gemm(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out) {
  // The row tile that pads C_out/groups least (see gemm_for_rows).
  const Kernels<T> kern = with_row_tile(active_kernels().get<T>(), p.out_per_group());
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const int64_t groups = p.groups, m = p.out_per_group(), k = p.gemm_k();
  const int64_t panels = ceil_div(m, mr);

  PackedWeights<T> a_packed(PackSite::implicit_gemm, {groups, m, k, mr}, groups * panels * mr * k);
  if (!a_packed.ready()) {
    pack_group_weight_panels(kern, w, groups, m, k, mr, a_packed.data());
    a_packed.packed();
  }

  std::vector<int64_t> offset_h(p.kernel_h), offset_w(p.kernel_w);
  for (int64_t i = 0; i < p.kernel_h; ++i) offset_h[i] = i * p.dilation_h - p.pad_top;
  for (int64_t j = 0; j < p.kernel_w; ++j) offset_w[j] = j * p.dilation_w - p.pad_left;
  TapTable taps = make_tap_table(offset_h, offset_w, p.stride_h, p.stride_w, p.out_h, p.out_w);
  taps.choose_positions(m, 0.0);
  const int64_t positions = taps.positions();

  GemmBlocking blk = gemm_blocking(mr, nr, sizeof(T), k, positions);
  blk.nc = balanced_nc(blk.nc, positions, p.batch * groups, nr);
  const int64_t col_blocks = ceil_div(positions, blk.nc);
  const int64_t outer = p.batch * groups * col_blocks;
  const int64_t splits = m_splits_for(outer, panels);
  const int64_t tasks = outer * splits;

  const int64_t channels = p.in_per_group();
  const int64_t per_thread = GemmScratch<T>::elements(taps, channels, panels * mr, blk);
  const int threads = threads_for(tasks);
  Workspace<T> scratch(threads * per_thread);

  parallel_for_stealing(tasks, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    const GemmScratch<T> s = GemmScratch<T>::carve(scratch.slot(thread, per_thread), taps, channels, panels * mr, blk);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t split = task % splits, block = (task / splits) % col_blocks;
      const int64_t g = (task / splits / col_blocks) % groups, n = task / splits / col_blocks / groups;
      ImplicitGemm<T> gemm;
      gemm.a_packed = a_packed.data() + g * panels * mr * k;
      gemm.m = m;
      gemm.k = k;
      gemm.taps = &taps;
      const int64_t in_channel = p.channel_step(p.in_h, p.in_w);
      const int64_t out_channel = p.channel_step(p.out_h, p.out_w);
      gemm.src = x + n * p.in_channels * p.in_h * p.in_w + g * channels * in_channel;
      gemm.src_h = p.in_h;
      gemm.src_w = p.in_w;
      gemm.src_channel = in_channel;
      gemm.src_pixel = p.pixel_step(p.in_channels);
      gemm.c = out + n * p.out_channels * p.out_h * p.out_w + g * m * out_channel;
      gemm.c_row_stride = out_channel;
      gemm.c_pixel = p.pixel_step(p.out_channels);
      gemm.c_w = p.out_w;
      gemm.y0 = gemm.x0 = 0;
      gemm.step_y = gemm.step_x = 1;
      gemm.bias = bias ? bias + g * m : nullptr;
      const int64_t p_begin = block * blk.nc, p_end = std::min(p_begin + blk.nc, positions);
      const int64_t panel_begin = panels * split / splits, panel_end = panels * (split + 1) / splits;
      implicit_gemm_block(gemm, kern, blk, p_begin, p_end, panel_begin, panel_end, s);
    }
  });
}

}  // namespace

template <typename T>
void conv2d_forward(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out, ConvAlgorithm algorithm) {
  SerialBelowGrain serial(OpFamily::conv, conv2d_parallel_work(p));
  ConvPlanRequest request;
  request.pass = ConvPass::forward;
  request.p = p;
  request.algorithm = algorithm;
  request.element_bytes = sizeof(T);
  switch (plan_conv2d(request)) {
    case ConvPath::channels_first_route: return conv2d_forward_through_channels_first(p, x, w, bias, out);
    case ConvPath::winograd:
    case ConvPath::winograd_phases: return conv2d_forward_winograd(p, x, w, bias, out);
    case ConvPath::pointwise: return conv2d_forward_pointwise(p, x, w, bias, out);
    case ConvPath::direct_columns: return conv2d_forward_direct(p, x, w, bias, out);
    case ConvPath::direct_tiles: return conv2d_forward_direct_tiles(p, x, w, bias, out);
    case ConvPath::image_lanes: return conv2d_forward_image_lanes(p, x, w, bias, out);
    default: return conv2d_forward_implicit_gemm(p, x, w, bias, out);
  }
}

template void conv2d_forward<float>(const Conv2dParams&, const float*, const float*, const float*, float*,
                                    ConvAlgorithm);
template void conv2d_forward<double>(const Conv2dParams&, const double*, const double*, const double*, double*,
                                     ConvAlgorithm);

}  // namespace fastcnn

// Convolution forward as implicit GEMM: out[n, g] = W[g] (C_out/g x K) * im2col(x[n, g]).
#include <algorithm>
#include <vector>

#include "packed_weights.h"
#include "conv2d.h"
#include "cpu.h"
#include "gemm_blocking.h"
#include "grain.h"
#include "implicit_gemm.h"
#include "pack_weights.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

namespace {

// Whether `auto` takes Winograd for channels-first data.
bool prefers_winograd_forward(const Conv2dParams& p, int element_bytes) {
  if (winograd_phase_applies(p) && prefers_winograd_phases(p)) return true;
  if (winograd_applies(p) &&
      prefers_winograd_deep(p.kernel_h, p.batch, p.in_channels, p.out_channels, p.out_h, p.out_w))
    return true;
  const int64_t tiles = p.batch * ceil_div(p.out_h, 4) * ceil_div(p.out_w, 4);
  // Below 256 Winograd tiles the direct tiles win where they apply on small
  // planes (MNIST 5x5 16 -> 32 at 14x14, batch 8: 0.23 vs 0.25 ms; batch 64:
  // 1.7 vs 1.0) and with few channels on larger ones (3x3 32 -> 32 at 28x28,
  // batch 4: 0.22 vs 0.28), but not 64 channels there (64 -> 64 at 56x56,
  // batch 1: 0.89 vs 0.68).
  const bool few_tiles = tiles < 256 &&
                         (p.out_h * p.out_w <= 256 || p.in_channels <= 32);
  return winograd_applies(p) &&
         prefers_winograd(p.kernel_h, p.batch, p.in_channels, p.out_channels, p.out_h, p.out_w) &&
         !(few_tiles && prefers_direct_tiles(p, element_bytes));
}

}  // namespace

// Stride-1 Winograd (and the column kernel for one input channel), for
// channels-first data: what channels-last data goes through transposed,
// where it beats the channels-last tiles by more than the transposes cost:
// 5x5 kernels, and 3x3 whose 4x4 tiles waste little (2 threads, Xeon, ms
// through channels-first vs tiles: ResNet 64 -> 64 3x3 at 56x56 19.1 vs 27,
// MNIST 16 -> 32 5x5 0.89 vs 1.05; but CIFAR 32 -> 64 to 13x13 0.78 vs
// 0.68, 3x3 stride 2 to 28x28 ~16 vs 13.8).
bool winograd_pays_for_transposes(int64_t kernel, int64_t h, int64_t w) {
  return kernel == 5 || 100 * round_up(h, 4) * round_up(w, 4) <= 115 * h * w;
}

bool prefers_channels_first_forward(const Conv2dParams& q, int element_bytes) {
  // Deep layers' transposes are small beside their products (C_in + C_out
  // values per pixel against C_in x C_out): 512 -> 512 at 7x7 batch 8, 2
  // threads, Xeon, channels-last tiles 10.6 ms, PyTorch 6.1, Winograd on
  // transposed chunks 4.2 ms; 256 -> 256 at 14x14 batch 32 26.7 / 21.2 /
  // 14.8).
  return winograd_applies(q) && prefers_winograd_forward(q, element_bytes) &&
         (winograd_pays_for_transposes(q.kernel_h, q.out_h, q.out_w) ||
          prefers_winograd_deep(q.kernel_h, q.batch, q.in_channels, q.out_channels, q.out_h, q.out_w));
}

namespace {

// Channels-last data with one input channel: the column kernel, storing
// each pixel's channels (MNIST 1 -> 16 5x5, 2 threads, Xeon: 0.27 ms, where
// the tiles took 0.40 and the kernel on transposed data 0.36). From 3
// channels the tiles win (CIFAR 3 -> 32 3x3: 0.30 vs 0.38).
bool prefers_direct_columns_channels_last(const Conv2dParams& p) {
  return p.in_channels == 1 && direct_applies(p);
}

}  // namespace

template <typename T>
void conv2d_forward(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out,
                    ConvAlgorithm algorithm) {
  SerialBelowGrain serial(OpFamily::conv, conv2d_parallel_work(p));
  const bool automatic = algorithm == ConvAlgorithm::automatic && !p.channels_last;
  if (algorithm == ConvAlgorithm::automatic && p.channels_last &&
      conv2d_forward_through_channels_first(p, x, w, bias, out))
    return;
  if (algorithm == ConvAlgorithm::winograd || (automatic && prefers_winograd_forward(p, sizeof(T))))
    return conv2d_forward_winograd(p, x, w, bias, out);
  if (automatic && pointwise_applies(p) && prefers_pointwise_forward(p, sizeof(T)))
    return conv2d_forward_pointwise(p, x, w, bias, out);
  // 'direct': the column kernel where it applies and is the choice (few
  // input channels, stride 1, NCHW), else tiles of positions x channels.
  const bool direct_columns = !p.channels_last && direct_applies(p) && prefers_direct(p);
  if ((algorithm == ConvAlgorithm::direct || automatic) && direct_columns)
    return conv2d_forward_direct(p, x, w, bias, out);
  if (algorithm == ConvAlgorithm::automatic && p.channels_last && prefers_direct_columns_channels_last(p))
    return conv2d_forward_direct(p, x, w, bias, out);
  // Channels-last data: the tiles read each pixel's channels as one
  // contiguous walk, where the implicit GEMM gathers them into panels (2
  // threads, Xeon, ms tiles vs GEMM: ResNet 64 -> 64 3x3 at 56x56 28 vs 43,
  // 64 -> 128 stride 2 13.7 vs 22, 256 -> 64 1x1 0.79 vs 2.3, CIFAR 3 -> 32
  // 0.32 vs 1.19, MNIST 1 -> 16 5x5 0.44 vs 0.76).
  const bool channels_last_tiles = algorithm == ConvAlgorithm::automatic && p.channels_last &&
                                   direct_tiles_applies(p) && direct_tiles_fits(p, sizeof(T));
  if (algorithm == ConvAlgorithm::direct || channels_last_tiles ||
      (algorithm == ConvAlgorithm::automatic && prefers_direct_tiles(p, sizeof(T))))
    return conv2d_forward_direct_tiles(p, x, w, bias, out);
  if (prefers_image_lanes(p, sizeof(T))) return conv2d_forward_image_lanes(p, x, w, bias, out);
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

template void conv2d_forward<float>(const Conv2dParams&, const float*, const float*, const float*, float*, ConvAlgorithm);
template void conv2d_forward<double>(const Conv2dParams&, const double*, const double*, const double*, double*, ConvAlgorithm);

}  // namespace fastcnn

// Convolution backward-weight as GEMM over the batch:
//
//   dW[g]^T (K x C_out/g) = sum over images n of im2col(x[n, g]) (K x P) * dout[n, g]^T (P x C_out/g)
//
// The reduction runs over output positions P in KC-long chunks. Each thread accumulates into its own dW^T for a
// contiguous range of (image, group, chunk) tasks; one final pass sums the threads' partials and transposes into dW.
// im2col rows come out of the chunk's band (kernels/pack/band.h) straight into A micro-panels; no column matrix is ever
// stored.
#include <algorithm>
#include <vector>

#include "../kernels/pack/band.h"
#include "conv2d.h"
#include "conv_plan.h"
#include "cpu.h"
#include "gemm_blocking.h"
#include "grain.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

// Channels-last data goes through Winograd on transposed chunks where the
// channels-first rule would take Winograd and its gain outweighs the transposes.
bool prefers_channels_first_backward_weight(const Conv2dParams& q) {
  return winograd_applies(q) && prefers_winograd_weight_gradient(q, true) &&
         winograd_pays_for_transposes(q.kernel_h, q.out_h, q.out_w);
}

namespace {

// GEMM over the batch from im2col bands: any convolution.
template <typename T>
void conv2d_backward_weight_gemm(const Conv2dParams& p, const T* dout, const T* x, T* dw) {
  const Kernels<T>& kern = active_kernels().get<T>();
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const int64_t groups = p.groups, k = p.gemm_k(), c_out_g = p.out_per_group();
  const int64_t channels = p.in_per_group();
  const int64_t co_panels = ceil_div(c_out_g, nr), k_panels = ceil_div(k, mr);
  const int64_t ldc = co_panels * nr;  // partial dW^T rows padded to whole B panels

  std::vector<int64_t> offset_h(p.kernel_h), offset_w(p.kernel_w);
  for (int64_t i = 0; i < p.kernel_h; ++i) offset_h[i] = i * p.dilation_h - p.pad_top;
  for (int64_t j = 0; j < p.kernel_w; ++j) offset_w[j] = j * p.dilation_w - p.pad_left;
  TapTable taps = make_tap_table(offset_h, offset_w, p.stride_h, p.stride_w, p.out_h, p.out_w);
  taps.choose_positions(c_out_g, 0.15);
  const int64_t positions = taps.positions(), taps_n = taps.taps();
  const bool direct = !p.channels_last && reads_source_directly(taps, p.in_h, p.in_w);

  // kc here is the chunk of output positions reduced per task.
  const GemmBlocking blk = gemm_blocking(mr, nr, sizeof(T), positions, ldc);
  const int64_t chunk = blk.kc;
  const int64_t chunks = ceil_div(positions, chunk);
  const int64_t tasks = p.batch * groups * chunks;
  const int threads = threads_for(tasks);

  const int64_t band_stride = round_up(taps.band_capacity(chunk), 16);
  const int64_t run_cap = RunTable::capacity(chunk);
  const int64_t partial_size = round_up(groups * k_panels * mr * ldc, 16);
  const int64_t band_size = round_up(channels * taps.phases() * band_stride, 16);
  const int64_t b_size = round_up(co_panels * nr * chunk, 16);
  const int64_t a_size = round_up(mr * chunk, 16);
  const int64_t run_size = round_up(3 * run_cap * int64_t(sizeof(int64_t) / sizeof(T)), 16);
  const int64_t per_thread = partial_size + band_size + b_size + a_size + run_size;
  Workspace<T> scratch(threads * per_thread);
  scratch.zero();  // the partial sums start at 0, in every slot

  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w;
  parallel_for(tasks, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* partial = scratch.slot(thread, per_thread);
    T* band = partial + partial_size;
    T* b_panels = band + band_size;
    T* a_panel = b_panels + b_size;
    RunTable runs;
    runs.column = reinterpret_cast<int64_t*>(a_panel + a_size);
    runs.offset = runs.column + run_cap;
    runs.length = runs.column + 2 * run_cap;

    for (int64_t task = begin; task < end; ++task) {
      const int64_t c = task % chunks, g = (task / chunks) % groups, n = task / chunks / groups;
      const int64_t p0 = c * chunk, kc = std::min(chunk, positions - p0);

      // B = dout[n, g]^T over positions p0..p0+kc (zero at thrown-away wide
      // columns): panel j holds output channels j*nr .. j*nr+nr.
      const int64_t out_channel = p.channel_step(p.out_h, p.out_w);
      const int64_t out_pixel = p.pixel_step(p.out_channels);
      const T* d = dout + n * p.out_channels * out_plane + g * c_out_g * out_channel;
      for (int64_t q0 = 0; q0 < kc;) {  // one grid row piece at a time
        const int64_t y = (p0 + q0) / taps.row_w, x = (p0 + q0) % taps.row_w;
        const int64_t piece = std::min(kc - q0, taps.row_w - x);
        const int64_t live = std::max<int64_t>(0, std::min(piece, taps.grid_w - x));
        for (int64_t cp = 0; cp < co_panels; ++cp) {
          T* dst = b_panels + cp * kc * nr + q0 * nr;
          for (int64_t lane = 0; lane < nr; ++lane) {
            const int64_t co = cp * nr + lane;
            const T* from = d + co * out_channel + (y * p.out_w + x) * out_pixel;
            const int64_t n_live = co < c_out_g ? live : 0;
            for (int64_t q = 0; q < n_live; ++q) dst[q * nr + lane] = from[q * out_pixel];
            for (int64_t q = n_live; q < piece; ++q) dst[q * nr + lane] = 0;
          }
        }
        q0 += piece;
      }

      const int64_t in_channel = p.channel_step(p.in_h, p.in_w);
      const T* src = x + n * p.in_channels * in_plane + g * channels * in_channel;
      if (!direct)
        for (int64_t ch = 0; ch < channels; ++ch)
          for (int64_t ph = 0; ph < taps.phases(); ++ph)
            fill_band(taps, ph, src + ch * in_channel, p.in_h, p.in_w, taps.flat(p0), taps.band_count(p0, kc),
                      band + (ch * taps.phases() + ph) * band_stride, p.pixel_step(p.in_channels));
      make_runs(taps, p0, kc, &runs);

      T* dwt = partial + g * k_panels * mr * ldc;
      for (int64_t kp = 0; kp < k_panels; ++kp) {
        // A micro-panel: im2col rows kp*mr .. kp*mr+mr over the chunk.
        for (int64_t r = 0; r < mr; ++r) {
          const int64_t kk = kp * mr + r;
          if (kk < k) {
            const int64_t ch = kk / taps_n, tap = kk % taps_n;
            const T* row = direct
                               ? src + ch * in_plane + taps.flat(p0)
                               : band + (ch * taps.phases() + taps.tap_phase[tap]) * band_stride + taps.tap_shift[tap];
            for (int64_t run = 0; run < runs.count; ++run) {
              const T* from = row + runs.offset[run];
              T* to = a_panel + runs.column[run] * mr + r;
              // Wide columns past the grid (x >= grid_w) meet zeros in B; they
              // must be zeros here too, or a NaN/Inf of x there would turn
              // 0 * NaN into NaN in dW entries that never touch it.
              const int64_t x0 = (p0 + runs.column[run]) % taps.row_w;
              const int64_t live = std::max<int64_t>(0, std::min(runs.length[run], taps.grid_w - x0));
              for (int64_t q = 0; q < live; ++q) to[q * mr] = from[q];
              for (int64_t q = live; q < runs.length[run]; ++q) to[q * mr] = 0;
            }
          } else {
            for (int64_t q = 0; q < kc; ++q) a_panel[q * mr + r] = 0;
          }
        }
        for (int64_t cp = 0; cp < co_panels; ++cp)
          kern.gemm(kc, a_panel, b_panels + cp * kc * nr, dwt + kp * mr * ldc + cp * nr, ldc, 1);
      }
    }
  });

  // dW[g*C_out/g + co][kk] = sum over threads of partial[g][kk][co].
  const int64_t rows = groups * c_out_g;
  parallel_for(rows, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t g = r / c_out_g, co = r % c_out_g;
      T* out = dw + r * k;
      for (int64_t kk = 0; kk < k; ++kk) {
        T total = 0;
        for (int t = 0; t < threads; ++t) total += scratch.slot(t, per_thread)[(g * k_panels * mr + kk) * ldc + co];
        out[kk] = total;
      }
    }
  });
}

}  // namespace

template <typename T>
void conv2d_backward_bias(const Conv2dParams& p, const T* dout, T* db) {
  SerialBelowGrain serial(OpFamily::pool, p.batch * p.out_channels * p.out_h * p.out_w * int64_t{sizeof(T)});
  const PoolKernels<T>& kern = active_kernels().get<T>().pool;
  const int64_t columns = p.out_h * p.out_w;
  if (p.channels_last) {  // rows of C_out values, summed in a fixed order
    const int64_t rows = p.batch * columns;
    for (int64_t co = 0; co < p.out_channels; ++co) db[co] = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = dout + r * p.out_channels;
      for (int64_t co = 0; co < p.out_channels; ++co) db[co] += row[co];
    }
    return;
  }
  if (columns > 1024 || p.batch == 1) {
    parallel_for(p.out_channels, [&](int64_t begin, int64_t end, int) {
      for (int64_t co = begin; co < end; ++co) {
        T total = 0;
        for (int64_t n = 0; n < p.batch; ++n) total += kern.sum(dout + (n * p.out_channels + co) * columns, columns);
        db[co] = total;
      }
    });
    return;
  }
  // Small planes: a thread's channels are one contiguous run per image, added
  // element-wise over the batch first, then each channel's plane summed once
  // (a call per small plane and image costs more than its sums).
  const int threads = threads_for(p.out_channels);
  const int64_t per_thread = ceil_div(p.out_channels, threads) * columns;
  Workspace<T> scratch(per_thread * threads);
  parallel_for(p.out_channels, threads, Denormals::keep, [&](int64_t begin, int64_t end, int thread) {
    T* __restrict acc = scratch.slot(thread, per_thread);
    const int64_t run = (end - begin) * columns;
    const T* first = dout + begin * columns;
    for (int64_t i = 0; i < run; ++i) acc[i] = first[i];
    for (int64_t n = 1; n < p.batch; ++n) {
      const T* __restrict image = dout + (n * p.out_channels + begin) * columns;
      for (int64_t i = 0; i < run; ++i) acc[i] += image[i];
    }
    for (int64_t co = begin; co < end; ++co) db[co] = kern.sum(acc + (co - begin) * columns, columns);
  });
}

template <typename T>
void conv2d_backward_weight(const Conv2dParams& p, const T* dout, const T* x, T* dw, ConvAlgorithm algorithm) {
  SerialBelowGrain serial(OpFamily::conv, conv2d_parallel_work(p));
  ConvPlanRequest request;
  request.pass = ConvPass::backward_weight;
  request.p = p;
  request.algorithm = algorithm;
  request.element_bytes = sizeof(T);
  switch (plan_conv2d(request)) {
    case ConvPath::channels_first_route: return conv2d_backward_weight_through_channels_first(p, dout, x, dw);
    case ConvPath::winograd: return conv2d_backward_weight_winograd(p, dout, x, dw);
    case ConvPath::direct_weight: return conv2d_backward_weight_direct(p, dout, x, dw);
    default: return conv2d_backward_weight_gemm(p, dout, x, dw);
  }
}

template void conv2d_backward_weight<float>(const Conv2dParams&, const float*, const float*, float*, ConvAlgorithm);
template void conv2d_backward_weight<double>(const Conv2dParams&, const double*, const double*, double*, ConvAlgorithm);
template void conv2d_backward_bias<float>(const Conv2dParams&, const float*, float*);
template void conv2d_backward_bias<double>(const Conv2dParams&, const double*, double*);

}  // namespace fastcnn

// Convolution backward-data as a transposed implicit GEMM, without col2im.
//
// dx[ci, ih, iw] = sum over (co, kh, kw) of W[co, ci, kh, kw] * dout[co, oh, ow]
// where ih = oh*stride - pad + kh*dilation. For a stride s, the input rows
// split into s phases (ih = phase + s*i); within one phase exactly the taps
// kh with (phase + pad - kh*dilation) divisible by s contribute, each reading
// dout at row i + (phase + pad - kh*dilation)/s. So each (phase_h, phase_w)
// is a stride-1 gather over dout with its own taps and a GEMM with the
// matching slice of W^T: every dx element is written exactly once (no
// scatter-add, no races), and no multiply-by-zero of a zero-upsampled dout.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <limits>
#include <stdexcept>
#include <vector>

#include "conv2d.h"
#include "conv2d_layout.h"
#include "conv_plan.h"
#include "gemm_blocking.h"
#include "cpu.h"
#include "grain.h"
#include "implicit_gemm.h"
#include "matmul.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {
namespace {

// The taps of one kernel axis that reach input phase `phase`, and the dout
// offset each reads from.
struct PhaseTaps {
  std::vector<int64_t> taps, offsets;
  int64_t grid;  // inputs in this phase: phase, phase + s, ... < size
};

PhaseTaps phase_taps(int64_t phase, int64_t stride, int64_t pad, int64_t dilation, int64_t kernel, int64_t size) {
  PhaseTaps t;
  for (int64_t kk = 0; kk < kernel; ++kk) {
    const int64_t shift = phase + pad - kk * dilation;
    if (shift % stride == 0) {
      t.taps.push_back(kk);
      t.offsets.push_back(floor_div(shift, stride));
    }
  }
  t.grid = phase < size ? ceil_div(size - phase, stride) : 0;
  return t;
}

struct Phase {
  PhaseTaps h, w;
  TapTable table;
  int64_t y0, x0;    // first input row / column of the phase
  int64_t k;         // C_out/g * |taps_h| * |taps_w|
  int64_t a_offset;  // into the packed A of all phases
  GemmBlocking blk;
  int64_t col_blocks;
};

// Inf and NaN are the values whose exponent bits are all set: an integer
// test the compiler vectorises (std::isfinite goes a value at a time, slow
// on deep layers' megabytes of weights while the other threads wait). In
// parallel over chunks.
template <typename T>
bool all_finite(const T* a, int64_t n) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  constexpr Bits kExponent = sizeof(T) == 4 ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
  constexpr int64_t kChunk = int64_t{1} << 16;
  const int64_t chunks = ceil_div(n, kChunk);
  std::vector<char> finite(static_cast<size_t>(chunks), 1);
  parallel_for(chunks, [&](int64_t begin, int64_t end, int) {
    for (int64_t c = begin; c < end; ++c) {
      const T* v = a + c * kChunk;
      const int64_t count = std::min(kChunk, n - c * kChunk);
      Bits special = 0;
      for (int64_t i = 0; i < count; ++i) {
        Bits bits;
        std::memcpy(&bits, v + i, sizeof(bits));
        special |= Bits((bits & kExponent) == kExponent);
      }
      finite[c] = special == 0;
    }
  });
  return std::all_of(finite.begin(), finite.end(), [](char ok) { return ok != 0; });
}

}  // namespace

// Stride 1: dx is the correlation of dout, zero-padded by dilation*(k-1) -
// pad, with the weights flipped and transposed to (C_in, C_out, KH, KW).
bool flipped_correlation(const Conv2dParams& p, Conv2dParams* q) {
  if (p.stride_h != 1 || p.stride_w != 1 || p.groups != 1) return false;
  *q = p;
  q->in_channels = p.out_channels;
  q->in_h = p.out_h;
  q->in_w = p.out_w;
  q->out_channels = p.in_channels;
  q->out_h = p.in_h;
  q->out_w = p.in_w;
  q->pad_top = p.dilation_h * (p.kernel_h - 1) - p.pad_top;
  q->pad_bottom = p.dilation_h * (p.kernel_h - 1) - p.pad_bottom;
  q->pad_left = p.dilation_w * (p.kernel_w - 1) - p.pad_left;
  q->pad_right = p.dilation_w * (p.kernel_w - 1) - p.pad_right;
  return q->pad_top >= 0 && q->pad_bottom >= 0 && q->pad_left >= 0 && q->pad_right >= 0;
}

template <typename T>
void conv2d_backward_data_direct_tiles(const Conv2dParams& p, const T* dout, const T* w, T* dx) {
  Conv2dParams q;
  if (!flipped_correlation(p, &q))
    throw std::invalid_argument(
        "backward data by direct tiles needs stride 1, groups 1 and padding <= "
        "dilation x (kernel - 1)");
  Workspace<T> flipped(p.in_channels * p.out_channels * p.kernel_h * p.kernel_w);
  flip_transposed_weights(p, w, flipped.data());
  conv2d_forward_direct_tiles(q, dout, flipped.data(), static_cast<const T*>(nullptr), dx);
}

// Winograd, for channels-first data: what channels-last data goes through
// transposed where that pays (see prefers_channels_first_forward).
// Otherwise only the stride-1 direct tiles (below) with enough input
// channels to fill their lanes keep channels-last data: the channels-first
// GEMMs and col2im beat the channels-last phase GEMMs by more than the
// transposes cost.
bool prefers_channels_first_backward_data(const Conv2dParams& q, int element_bytes) {
  const bool deep = prefers_winograd_deep(q.kernel_h, q.batch, q.out_channels, q.in_channels, q.in_h, q.in_w);
  if (winograd_applies(q) &&
      (deep || prefers_winograd(q.kernel_h, q.batch, q.out_channels, q.in_channels, q.in_h, q.in_w)))
    return deep || winograd_pays_for_transposes(q.kernel_h, q.in_h, q.in_w);
  if (q.groups != 1) return false;
  return q.stride_h != 1 || q.stride_w != 1 || !direct_tile_lanes_filled(element_bytes, q.in_channels);
}

namespace {

// The transposed implicit GEMM per stride phase: any convolution.
template <typename T>
void conv2d_backward_data_phase_gemm(const Conv2dParams& p, const T* dout, const T* w, T* dx) {
  // The row tile that pads C_in/groups least (see gemm_for_rows).
  const Kernels<T> kern = with_row_tile(active_kernels().get<T>(), p.in_per_group());
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const int64_t groups = p.groups, m = p.in_per_group(), c_out_g = p.out_per_group();
  const int64_t panels = ceil_div(m, mr);
  const int64_t khw = p.kernel_h * p.kernel_w;

  // Phases, each with its taps and its slice of W^T packed as A.
  std::vector<Phase> phases;
  // Phases past the input size are empty (a stride can exceed the input).
  for (int64_t ph = 0; ph < std::min(p.stride_h, p.in_h); ++ph)
    for (int64_t pw = 0; pw < std::min(p.stride_w, p.in_w); ++pw) {
      Phase f;
      f.h = phase_taps(ph, p.stride_h, p.pad_top, p.dilation_h, p.kernel_h, p.in_h);
      f.w = phase_taps(pw, p.stride_w, p.pad_left, p.dilation_w, p.kernel_w, p.in_w);
      if (f.h.grid == 0 || f.w.grid == 0) continue;
      f.y0 = ph;
      f.x0 = pw;
      phases.push_back(std::move(f));
    }
  // Every phase reads the same dout: laid out in one band frame (the
  // smallest tap offsets as origin, the widest rows), on wide positions,
  // the phases of one block of positions share one band, filled once
  // instead of once per phase (a stride-2 layer's four phases would fill it
  // four times). Phase (0, 0) has the most positions.
  bool shared = phases.size() > 1;
  for (const Phase& f : phases) shared = shared && !f.h.taps.empty() && !f.w.taps.empty();
  BandFrame frame{};
  if (shared) {
    frame.row_origin = frame.col_origin = std::numeric_limits<int64_t>::max();
    for (const Phase& f : phases) {
      frame.row_origin = std::min(frame.row_origin, *std::min_element(f.h.offsets.begin(), f.h.offsets.end()));
      frame.col_origin = std::min(frame.col_origin, *std::min_element(f.w.offsets.begin(), f.w.offsets.end()));
    }
    for (const Phase& f : phases)
      frame.width = std::max(frame.width,
                             f.w.grid + *std::max_element(f.w.offsets.begin(), f.w.offsets.end()) - frame.col_origin);
  }
  const auto make_tables = [&](bool framed) {
    int64_t shift_max = 0;
    for (Phase& f : phases) {
      f.table = make_tap_table(f.h.offsets, f.w.offsets, 1, 1, f.h.grid, f.w.grid, framed ? &frame : nullptr);
      f.table.choose_positions(m, 0.0);
      shift_max = std::max(shift_max, f.table.shift_max);
    }
    if (framed)
      for (Phase& f : phases) f.table.shift_max = shift_max;  // one band extent for all
  };
  make_tables(shared);
  if (shared) {
    for (const Phase& f : phases) shared = shared && f.table.wide();
    if (!shared) make_tables(false);
  }

  int64_t a_total = 0, scratch_per_thread = 0, shared_nc = std::numeric_limits<int64_t>::max();
  for (Phase& f : phases) {
    f.k = c_out_g * f.table.taps();
    f.a_offset = a_total;
    a_total += groups * panels * mr * f.k;
    const int64_t positions = f.table.positions();
    f.blk = gemm_blocking(mr, nr, sizeof(T), f.k, positions);
    const int64_t images = p.batch * groups * std::min(p.stride_h * p.stride_w, p.in_h * p.in_w);
    f.blk.nc = balanced_nc(f.blk.nc, positions, shared ? p.batch * groups : images, nr);
    shared_nc = std::min(shared_nc, f.blk.nc);
  }
  for (Phase& f : phases) {
    if (shared) f.blk.nc = shared_nc;
    f.col_blocks = ceil_div(f.table.positions(), f.blk.nc);
    const int64_t need = GemmScratch<T>::elements(f.table, c_out_g, panels * mr, f.blk);
    if (need > scratch_per_thread) scratch_per_thread = need;
  }

  // A[ci][(co, th, tw)] = W[g*C_out/g + co, ci, taps_h[th], taps_w[tw]],
  // packed straight into micro-panels, in parallel over them: a panel's
  // rows are adjacent input channels, whose filters lie together for each
  // output channel (a serial gather into rows first would keep the other
  // threads waiting on deep layers' weights).
  Workspace<T> a_packed(a_total > 0 ? a_total : 1);
  parallel_for(groups * panels, threads_for(m * c_out_g * khw >= (int64_t{1} << 16) ? groups * panels : 1),
               Denormals::keep, [&](int64_t begin, int64_t end, int) {
                 for (int64_t task = begin; task < end; ++task) {
                   const int64_t g = task / panels, panel = task % panels;
                   const int64_t c0 = panel * mr, live = std::min<int64_t>(mr, m - c0);
                   for (const Phase& f : phases) {
                     if (f.k == 0) continue;
                     T* dst = a_packed.data() + f.a_offset + (g * panels + panel) * mr * f.k;
                     const int64_t taps = f.table.taps();
                     for (int64_t co = 0; co < c_out_g; ++co) {
                       const T* filters = w + ((g * c_out_g + co) * m + c0) * khw;
                       int64_t t = 0;
                       for (int64_t kh : f.h.taps)
                         for (int64_t kw : f.w.taps) {
                           T* column = dst + (co * taps + t++) * mr;
                           for (int64_t r = 0; r < live; ++r) column[r] = filters[r * khw + kh * p.kernel_w + kw];
                           for (int64_t r = live; r < mr; ++r) column[r] = T(0);
                         }
                     }
                   }
                 }
               });

  // Tasks: (image, group, phase, column block), flattened.
  struct Task {
    int64_t n, g, phase, block;
  };
  std::vector<Task> tasks;
  // (phase -1: every phase of the block, on one shared band)
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t g = 0; g < groups; ++g)
      if (shared)
        for (int64_t b = 0; b < phases[0].col_blocks; ++b) tasks.push_back({n, g, -1, b});
      else
        for (int64_t f = 0; f < static_cast<int64_t>(phases.size()); ++f)
          for (int64_t b = 0; b < phases[f].col_blocks; ++b) tasks.push_back({n, g, f, b});
  const int64_t splits = m_splits_for(static_cast<int64_t>(tasks.size()), panels);
  const int64_t task_count = static_cast<int64_t>(tasks.size()) * splits;

  const int threads = threads_for(task_count);
  Workspace<T> scratch(threads * scratch_per_thread);
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w;

  parallel_for_stealing(task_count, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* base = scratch.slot(thread, scratch_per_thread);
    for (int64_t i = begin; i < end; ++i) {
      const Task& t = tasks[i / splits];
      const int64_t split = i % splits;
      const int64_t panel_begin = panels * split / splits, panel_end = panels * (split + 1) / splits;
      const int64_t first = t.phase < 0 ? 0 : t.phase;
      const int64_t last = t.phase < 0 ? static_cast<int64_t>(phases.size()) : t.phase + 1;
      for (int64_t ph = first; ph < last; ++ph) {
        const Phase& f = phases[ph];
        const int64_t p_begin = t.block * f.blk.nc;
        const int64_t p_end = std::min(p_begin + f.blk.nc, f.table.positions());
        if (p_begin >= p_end) continue;  // never phase 0, which fills a shared band
        ImplicitGemm<T> gemm;
        gemm.a_packed = a_packed.data() + f.a_offset + t.g * panels * mr * f.k;
        gemm.m = m;
        gemm.k = f.k;
        gemm.taps = &f.table;
        const int64_t out_channel = p.channel_step(p.out_h, p.out_w);
        const int64_t in_channel = p.channel_step(p.in_h, p.in_w);
        gemm.src = dout + t.n * p.out_channels * out_plane + t.g * c_out_g * out_channel;
        gemm.src_h = p.out_h;
        gemm.src_w = p.out_w;
        gemm.src_channel = out_channel;
        gemm.src_pixel = p.pixel_step(p.out_channels);
        gemm.c = dx + t.n * p.in_channels * in_plane + t.g * m * in_channel;
        gemm.c_row_stride = in_channel;
        gemm.c_pixel = p.pixel_step(p.in_channels);
        gemm.c_w = p.in_w;
        gemm.y0 = f.y0;
        gemm.x0 = f.x0;
        gemm.step_y = p.stride_h;
        gemm.step_x = p.stride_w;
        gemm.bias = nullptr;
        if (t.phase < 0)
          gemm.band = ph == 0 ? ImplicitGemm<T>::Band::fill_shared : ImplicitGemm<T>::Band::shared_filled;
        const GemmScratch<T> s = GemmScratch<T>::carve(base, f.table, c_out_g, panels * mr, f.blk);
        implicit_gemm_block(gemm, kern, f.blk, p_begin, p_end, panel_begin, panel_end, s);
      }
    }
  });
}

}  // namespace

template <typename T>
void conv2d_backward_data(const Conv2dParams& p, const T* dout, const T* w, T* dx, ConvAlgorithm algorithm) {
  SerialBelowGrain serial(OpFamily::conv, conv2d_parallel_work(p));
  ConvPlanRequest request;
  request.pass = ConvPass::backward_data;
  request.p = p;
  request.algorithm = algorithm;
  request.element_bytes = sizeof(T);
  request.weights_finite = [&] { return all_finite(w, p.out_channels * p.in_per_group() * p.kernel_h * p.kernel_w); };
  switch (plan_conv2d(request)) {
    case ConvPath::nhwc_matmul:
      return matmul<T>(p.batch * p.in_h * p.in_w, p.in_channels, p.out_channels,
                       MatrixView<const T>{dout, p.out_channels, 1}, MatrixView<const T>{w, p.in_channels, 1},
                       MatrixView<T>{dx, p.in_channels, 1});
    case ConvPath::channels_first_route: return conv2d_backward_data_through_channels_first(p, dout, w, dx);
    case ConvPath::winograd:
    case ConvPath::winograd_phases: return conv2d_backward_data_winograd(p, dout, w, dx);
    case ConvPath::pointwise: return conv2d_backward_data_pointwise(p, dout, w, dx);
    case ConvPath::direct_tiles: return conv2d_backward_data_direct_tiles(p, dout, w, dx);
    case ConvPath::col2im: return conv2d_backward_data_col2im(p, dout, w, dx);
    default: return conv2d_backward_data_phase_gemm(p, dout, w, dx);
  }
}

template void conv2d_backward_data_direct_tiles<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_backward_data_direct_tiles<double>(const Conv2dParams&, const double*, const double*, double*);
template void conv2d_backward_data<float>(const Conv2dParams&, const float*, const float*, float*, ConvAlgorithm);
template void conv2d_backward_data<double>(const Conv2dParams&, const double*, const double*, double*, ConvAlgorithm);

}  // namespace fastcnn

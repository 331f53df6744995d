// Convolution backward-data for few input channels: GEMM, then col2im.
//
// The phase GEMM of conv2d_backward_data.cpp has M = C_in/groups rows, so
// with 1..5 input channels most of every MR-row register tile is padding.
// Here the GEMM is dcol = W^T (C_in/g*KH*KW x C_out/g) * dout (C_out/g x P):
// M = C_in/g*KH*KW rows (9..75 for C_in 1..3 and 3x3..5x5), and dout is read
// in place as B. col2im then adds each dcol row into dx. One task is one
// (image, group), so the scatter-adds never race; the dcol buffer of one
// image is the per-thread workspace.
#include <algorithm>
#include <vector>

#include "conv2d.h"
#include "cpu.h"
#include "implicit_gemm.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

// Estimated cycles per image of both formulations, in units of one B
// element: a GEMM does 16 multiply-adds per cycle with each element of its
// rows (padded to whole tiles of phase_mr / col2im_mr rows and NR columns),
// the phase path fills its band (~0.3 per element read), and col2im adds
// each dcol element once: ~1 cycle, ~3 where the input columns are strided.
bool prefers_col2im(const Conv2dParams& p, int phase_mr, int col2im_mr) {
  const int64_t rows = p.in_per_group() * p.kernel_h * p.kernel_w;
  const int64_t out_plane = p.out_h * p.out_w, in_plane = p.in_h * p.in_w;
  if (rows * out_plane > (int64_t{1} << 19) || p.batch * p.groups < num_threads()) return false;
  const auto tile = [](int64_t m, int mr) { return static_cast<double>(ceil_div(m, mr) * mr); };
  const double taps = static_cast<double>(p.out_per_group() * p.kernel_h * p.kernel_w);
  const double phase =
      in_plane * taps / static_cast<double>(p.stride_h * p.stride_w) * (tile(p.in_per_group(), phase_mr) / 16.0 + 0.3);
  const double columns = out_plane < 256 ? static_cast<double>(round_up(out_plane, 16)) : out_plane;
  const double scatter = p.stride_w > 1 ? 3.0 : 1.0;
  const double col2im = columns * p.out_per_group() * tile(rows, col2im_mr) / 16.0 + out_plane * rows * scatter;
  return col2im < phase;
}

namespace {

// dx_plane[ci] += dcol rows (ci, kh, kw), each an (OH x OW) grid.
template <typename T>
void col2im(const Conv2dParams& p, const T* dcol, T* dx) {
  const int64_t out_plane = p.out_h * p.out_w, in_plane = p.in_h * p.in_w;
  for (int64_t ci = 0; ci < p.in_per_group(); ++ci)
    for (int64_t kh = 0; kh < p.kernel_h; ++kh)
      for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
        const T* rows = dcol + ((ci * p.kernel_h + kh) * p.kernel_w + kw) * out_plane;
        const int64_t x_offset = kw * p.dilation_w - p.pad_left;
        int64_t ow_lo, ow_hi;  // outputs whose column lands inside the input
        valid_columns(x_offset, p.stride_w, p.in_w, p.out_w, &ow_lo, &ow_hi);
        for (int64_t oh = 0; oh < p.out_h; ++oh) {
          const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
          if (ih < 0 || ih >= p.in_h) continue;
          T* to = dx + ci * in_plane + ih * p.in_w + x_offset;
          const T* from = rows + oh * p.out_w;
          if (p.stride_w == 1)
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) to[ow] += from[ow];
          else
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) to[ow * p.stride_w] += from[ow];
        }
      }
}

}  // namespace

template <typename T>
void conv2d_backward_data_col2im(const Conv2dParams& p, const T* dout, const T* w, T* dx) {
  const Kernels<T>& kern = active_kernels().get<T>();
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const int64_t groups = p.groups, c_in_g = p.in_per_group(), c_out_g = p.out_per_group();
  const int64_t m = c_in_g * p.kernel_h * p.kernel_w, panels = ceil_div(m, mr);
  const int64_t out_plane = p.out_h * p.out_w, in_plane = p.in_h * p.in_w;

  // A = W[g]^T, rows (ci, kh, kw), columns output channels.
  Workspace<T> a_packed(groups * panels * mr * c_out_g);
  {
    Workspace<T> a_rows(m * c_out_g);
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t r = 0; r < m; ++r)
        for (int64_t co = 0; co < c_out_g; ++co) a_rows.data()[r * c_out_g + co] = w[(g * c_out_g + co) * m + r];
      pack_a_panels(a_rows.data(), c_out_g, 1, m, c_out_g, mr, a_packed.data() + g * panels * mr * c_out_g);
    }
  }

  // B = dout read in place: one tap at offset 0 over the output grid.
  TapTable taps = make_tap_table({0}, {0}, 1, 1, p.out_h, p.out_w);
  GemmBlocking blk = gemm_blocking(mr, nr, sizeof(T), c_out_g, out_plane);
  const int64_t blocks = ceil_div(out_plane, blk.nc);
  const int64_t tasks = p.batch * groups;
  const int threads = threads_for(tasks);
  const int64_t dcol_size = round_up(m * out_plane, 16);
  const int64_t per_thread = dcol_size + GemmScratch<T>::elements(taps, c_out_g, panels * mr, blk);
  Workspace<T> scratch(threads * per_thread);

  parallel_for_stealing(tasks, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* dcol = scratch.slot(thread, per_thread);
    const GemmScratch<T> s = GemmScratch<T>::carve(dcol + dcol_size, taps, c_out_g, panels * mr, blk);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t g = task % groups, n = task / groups;
      ImplicitGemm<T> gemm;
      gemm.a_packed = a_packed.data() + g * panels * mr * c_out_g;
      gemm.m = m;
      gemm.k = c_out_g;
      gemm.taps = &taps;
      gemm.src = dout + (n * p.out_channels + g * c_out_g) * out_plane;
      gemm.src_h = p.out_h;
      gemm.src_w = p.out_w;
      gemm.c = dcol;
      gemm.c_row_stride = out_plane;
      gemm.c_w = p.out_w;
      gemm.y0 = gemm.x0 = 0;
      gemm.step_y = gemm.step_x = 1;
      gemm.bias = nullptr;
      for (int64_t b = 0; b < blocks; ++b)
        implicit_gemm_block(gemm, kern, blk, b * blk.nc, std::min((b + 1) * blk.nc, out_plane), 0, panels, s);
      T* image = dx + (n * p.in_channels + g * c_in_g) * in_plane;
      std::fill(image, image + c_in_g * in_plane, T(0));
      col2im(p, dcol, image);
    }
  });
}

template void conv2d_backward_data_col2im<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_backward_data_col2im<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastcnn

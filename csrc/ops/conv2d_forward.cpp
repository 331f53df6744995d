// Convolution forward as implicit GEMM: out[n, g] = W[g] (C_out/g x K) * im2col(x[n, g]).
#include <vector>

#include "conv2d.h"
#include "cpu.h"
#include "implicit_gemm.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

template <typename T>
void conv2d_forward(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out) {
  const Kernels<T>& kern = active_kernels().get<T>();
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const int64_t groups = p.groups, m = p.out_per_group(), k = p.gemm_k();
  const int64_t columns = p.out_h * p.out_w;
  const int64_t panels = ceil_div(m, mr);

  Workspace<T> a_packed(groups * panels * mr * k);
  for (int64_t g = 0; g < groups; ++g)
    pack_a_panels(w + g * m * k, k, m, k, mr, a_packed.data() + g * panels * mr * k);

  std::vector<int64_t> offset_h(p.kernel_h), offset_w(p.kernel_w), x_begin(p.kernel_w),
      x_end(p.kernel_w);
  for (int64_t i = 0; i < p.kernel_h; ++i) offset_h[i] = i * p.dilation_h - p.pad_top;
  for (int64_t j = 0; j < p.kernel_w; ++j) {
    offset_w[j] = j * p.dilation_w - p.pad_left;
    valid_range(offset_w[j], p.stride_w, p.in_w, p.out_w, &x_begin[j], &x_end[j]);
  }

  GemmBlocking blk = gemm_blocking(mr, nr, sizeof(T), k, columns);
  blk.nc = balanced_nc(blk.nc, columns, p.batch * groups, nr);
  const int64_t col_blocks = ceil_div(columns, blk.nc);
  const int64_t outer = p.batch * groups * col_blocks;
  const int64_t splits = m_splits_for(outer, panels);
  const int64_t tasks = outer * splits;

  const int64_t per_thread = GemmScratch<T>::elements(blk, mr, nr);
  const int threads = threads_for(tasks);
  Workspace<T> scratch(threads * per_thread);

  parallel_for(tasks, threads, [&](int64_t begin, int64_t end, int thread) {
    GemmScratch<T> s = GemmScratch<T>::carve(scratch.slot(thread, per_thread), blk, mr, nr);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t split = task % splits, block = (task / splits) % col_blocks;
      const int64_t g = (task / splits / col_blocks) % groups, n = task / splits / col_blocks / groups;
      ImplicitGemm<T> gemm;
      gemm.a_packed = a_packed.data() + g * panels * mr * k;
      gemm.m = m;
      gemm.k = k;
      gemm.n = columns;
      gemm.b = GatherSpec<T>{x + (n * p.in_channels + g * p.in_per_group()) * p.in_h * p.in_w,
                             p.in_h, p.in_w, p.kernel_h, p.kernel_w, offset_h.data(),
                             offset_w.data(), p.stride_h, p.stride_w, p.out_w,
                             x_begin.data(), x_end.data()};
      gemm.c = out + (n * p.out_channels + g * m) * columns;
      gemm.c_row_stride = columns;
      gemm.c_w = p.out_w;
      gemm.y0 = gemm.x0 = 0;
      gemm.step_y = gemm.step_x = 1;
      gemm.bias = bias ? bias + g * m : nullptr;
      const int64_t p_begin = block * blk.nc;
      const int64_t p_end = p_begin + blk.nc < columns ? p_begin + blk.nc : columns;
      const int64_t panel_begin = panels * split / splits, panel_end = panels * (split + 1) / splits;
      implicit_gemm_block(gemm, kern, blk, p_begin, p_end, panel_begin, panel_end, s);
    }
  });
}

template void conv2d_forward<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_forward<double>(const Conv2dParams&, const double*, const double*, const double*, double*);

}  // namespace fastcnn

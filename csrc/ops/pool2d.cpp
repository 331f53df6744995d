#include "pool2d.h"

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cpu.h"
#include "grain.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

void check_pool_window(const PoolWindow& w) {
  // Bounds first, so that no product below can overflow.
  constexpr int64_t kLimit = int64_t{1} << 31;
  for (int64_t v : {w.in_h, w.in_w, w.pad_top, w.pad_bottom, w.pad_left, w.pad_right})
    if (v > kLimit) throw std::invalid_argument("input size and padding must be below 2**31");
  if (w.in_h <= 0 || w.in_w <= 0) throw std::invalid_argument("x must have positive spatial size");
  if (w.kernel_h <= 0 || w.kernel_w <= 0) throw std::invalid_argument("kernel_size must be positive");
  if (w.stride_h <= 0 || w.stride_w <= 0) throw std::invalid_argument("stride must be positive");
  if (w.pad_top < 0 || w.pad_bottom < 0 || w.pad_left < 0 || w.pad_right < 0)
    throw std::invalid_argument("padding must be non-negative");
  if (w.pad_top >= w.kernel_h || w.pad_bottom >= w.kernel_h || w.pad_left >= w.kernel_w || w.pad_right >= w.kernel_w)
    throw std::invalid_argument("padding must be smaller than kernel_size");
  for (int64_t v : {w.kernel_h, w.kernel_w, w.stride_h, w.stride_w, w.out_h, w.out_w})
    if (v > kLimit) throw std::invalid_argument("kernel_size, stride and output size must be below 2**31");
  if (w.out_h <= 0 || w.out_w <= 0) throw std::invalid_argument("pooled output size must be positive");
  if (w.kernel_h > w.in_h + w.pad_top + w.pad_bottom || w.kernel_w > w.in_w + w.pad_left + w.pad_right)
    throw std::invalid_argument("kernel_size is larger than the padded input");
  // Every window must start inside the padded input and overlap the input.
  if ((w.out_h - 1) * w.stride_h - w.pad_top >= w.in_h || (w.out_w - 1) * w.stride_w - w.pad_left >= w.in_w)
    throw std::invalid_argument(
        "output size too large for the input and window: the last window "
        "would start past the input");
}

template <typename T>
void max_pool2d_forward(const PoolWindow& w, int64_t planes, const T* x, T* out, int64_t* indices) {
  SerialBelowGrain serial(OpFamily::pool, planes * (w.in_h * w.in_w + w.out_h * w.out_w) * int64_t{sizeof(T)});
  const PoolKernels<T>& kern = active_kernels().get<T>().pool;
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  // Split planes into row bands only when there are too few planes to share.
  const int64_t bands = planes >= 4 * num_threads() ? 1 : (w.out_h < 8 ? w.out_h : 8);
  parallel_for(planes * bands, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t plane = t / bands, band = t % bands;
      const int64_t r0 = w.out_h * band / bands, r1 = w.out_h * (band + 1) / bands;
      kern.max_forward(w, x + plane * in_plane, out + plane * out_plane,
                       indices ? indices + plane * out_plane : nullptr, r0, r1);
    }
  });
}

// Max pool's scatter: planes of a gradient too big to stay cached are
// computed in a per-thread scratch plane and streamed out (see
// kernels/pool/copy_streaming.h); planes over kMaxScratchPlane bytes are
// written in place. (Avg pool's kernels build whole rows and stream each.)
constexpr int64_t kMaxScratchPlane = int64_t{1} << 20;

template <typename T>
int64_t scratch_plane(int64_t planes, int64_t in_plane) {
  const bool stream =
      in_plane * int64_t(sizeof(T)) <= kMaxScratchPlane && writes_bypass_cache(planes * in_plane * int64_t(sizeof(T)));
  return stream ? in_plane : 0;
}

template <typename T>
bool max_pool2d_backward(int64_t planes, int64_t in_plane, int64_t out_plane, const T* dout, const int64_t* indices,
                         T* dx) {
  SerialBelowGrain serial(OpFamily::pool, planes * (in_plane + out_plane) * int64_t{sizeof(T)});
  const PoolKernels<T>& kern = active_kernels().get<T>().pool;
  const int64_t scratch = scratch_plane<T>(planes, in_plane);
  const int threads = threads_for(planes);
  Workspace<T> work(scratch * threads);
  std::atomic<bool> ok{true};
  parallel_for(planes, threads, Denormals::keep, [&](int64_t begin, int64_t end, int thread) {
    // Sizes in locals and one flag per thread: through the captured
    // references, every scattered store forced the bounds to be reloaded.
    const int64_t n_in = in_plane, n_out = out_plane;
    bool bad = false;
    for (int64_t plane = begin; plane < end; ++plane) {
      T* __restrict d = scratch ? work.slot(thread, scratch) : dx + plane * n_in;
      std::memset(d, 0, sizeof(T) * n_in);
      const T* __restrict g = dout + plane * n_out;
      const int64_t* __restrict idx = indices + plane * n_out;
      for (int64_t i = 0; i < n_out; ++i) {
        const uint64_t target = static_cast<uint64_t>(idx[i]);  // negative: huge
        if (target >= static_cast<uint64_t>(n_in)) {
          bad = true;
          continue;
        }
        d[target] += g[i];
      }
      if (scratch) kern.copy_streaming(d, dx + plane * n_in, n_in);
    }
    if (bad) ok.store(false);
  });
  return ok.load();
}

template <typename T>
void avg_pool2d_forward(const PoolWindow& w, int64_t planes, const T* x, T* out) {
  SerialBelowGrain serial(OpFamily::pool, planes * (w.in_h * w.in_w + w.out_h * w.out_w) * int64_t{sizeof(T)});
  const PoolKernels<T>& kern = active_kernels().get<T>().pool;
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  const int64_t bands = planes >= 4 * num_threads() ? 1 : (w.out_h < 8 ? w.out_h : 8);
  parallel_for(planes * bands, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t plane = t / bands, band = t % bands;
      const int64_t r0 = w.out_h * band / bands, r1 = w.out_h * (band + 1) / bands;
      kern.avg_forward(w, x + plane * in_plane, out + plane * out_plane, r0, r1);
    }
  });
}

template <typename T>
void avg_pool2d_backward(const PoolWindow& w, int64_t planes, const T* dout, T* dx) {
  SerialBelowGrain serial(OpFamily::pool, planes * (w.in_h * w.in_w + w.out_h * w.out_w) * int64_t{sizeof(T)});
  const PoolKernels<T>& kern = active_kernels().get<T>().pool;
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  // The kernel streams row by row, so planes of any size may stream.
  const bool stream = writes_bypass_cache(planes * in_plane * int64_t(sizeof(T)));
  parallel_for(planes, threads_for(planes), Denormals::keep, [&](int64_t begin, int64_t end, int) {
    for (int64_t plane = begin; plane < end; ++plane)
      kern.avg_backward(w, dout + plane * out_plane, dx + plane * in_plane, stream);
  });
}

template <typename T>
void global_avg_pool_forward(int64_t rows, int64_t size, const T* x, T* out) {
  SerialBelowGrain serial(OpFamily::pool, rows * size * int64_t{sizeof(T)});
  const PoolKernels<T>& kern = active_kernels().get<T>().pool;
  parallel_for(rows, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) out[r] = kern.sum(x + r * size, size) / static_cast<T>(size);
  });
}

template <typename T>
void global_avg_pool_backward(int64_t rows, int64_t size, const T* dout, T* dx) {
  SerialBelowGrain serial(OpFamily::pool, rows * size * int64_t{sizeof(T)});
  parallel_for(rows, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const T g = dout[r] / static_cast<T>(size);
      T* d = dx + r * size;
      for (int64_t i = 0; i < size; ++i) d[i] = g;
    }
  });
}

template <typename T>
void global_max_pool_forward(int64_t rows, int64_t size, const T* x, T* out, int64_t* indices) {
  SerialBelowGrain serial(OpFamily::pool, rows * size * int64_t{sizeof(T)});
  const PoolKernels<T>& kern = active_kernels().get<T>().pool;
  parallel_for(rows, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) out[r] = kern.max_with_index(x + r * size, size, indices + r);
  });
}

// Channels-last: images split into row bands (a band is a whole output row
// range of every channel).
template <typename T>
void max_pool2d_forward_nhwc(const PoolWindow& w, int64_t batch, int64_t channels, const T* x, T* out,
                             int64_t* indices) {
  const PoolKernels<T>& kern = active_kernels().get<T>().pool;
  const int64_t in_image = w.in_h * w.in_w * channels, out_image = w.out_h * w.out_w * channels;
  SerialBelowGrain serial(OpFamily::pool, batch * (in_image + out_image) * int64_t{sizeof(T)});
  const int64_t bands = batch >= 4 * num_threads() ? 1 : (w.out_h < 8 ? w.out_h : 8);
  parallel_for(batch * bands, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / bands, band = t % bands;
      kern.max_forward_nhwc(w, channels, x + n * in_image, out + n * out_image,
                            indices ? indices + n * out_image : nullptr, w.out_h * band / bands,
                            w.out_h * (band + 1) / bands);
    }
  });
}

template <typename T>
bool max_pool2d_backward_nhwc(int64_t batch, int64_t channels, int64_t in_plane, int64_t out_plane, const T* dout,
                              const int64_t* indices, T* dx) {
  SerialBelowGrain serial(OpFamily::pool, batch * (in_plane + out_plane) * channels * int64_t{sizeof(T)});
  std::atomic<bool> ok{true};
  parallel_for(batch, [&](int64_t begin, int64_t end, int) {
    for (int64_t n = begin; n < end; ++n) {
      T* d = dx + n * in_plane * channels;
      for (int64_t i = 0; i < in_plane * channels; ++i) d[i] = 0;
      const T* g = dout + n * out_plane * channels;
      const int64_t* idx = indices + n * out_plane * channels;
      for (int64_t i = 0; i < out_plane; ++i)
        for (int64_t c = 0; c < channels; ++c) {
          const int64_t target = idx[i * channels + c];
          if (target < 0 || target >= in_plane) {
            ok.store(false);
            continue;
          }
          d[target * channels + c] += g[i * channels + c];
        }
    }
  });
  return ok.load();
}

template <typename T>
void avg_pool2d_forward_nhwc(const PoolWindow& w, int64_t batch, int64_t channels, const T* x, T* out) {
  const PoolKernels<T>& kern = active_kernels().get<T>().pool;
  const int64_t in_image = w.in_h * w.in_w * channels, out_image = w.out_h * w.out_w * channels;
  SerialBelowGrain serial(OpFamily::pool, batch * (in_image + out_image) * int64_t{sizeof(T)});
  const int64_t bands = batch >= 4 * num_threads() ? 1 : (w.out_h < 8 ? w.out_h : 8);
  parallel_for(batch * bands, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / bands, band = t % bands;
      kern.avg_forward_nhwc(w, channels, x + n * in_image, out + n * out_image, w.out_h * band / bands,
                            w.out_h * (band + 1) / bands);
    }
  });
}

template <typename T>
void avg_pool2d_backward_nhwc(const PoolWindow& w, int64_t batch, int64_t channels, const T* dout, T* dx) {
  const PoolKernels<T>& kern = active_kernels().get<T>().pool;
  const int64_t in_image = w.in_h * w.in_w * channels, out_image = w.out_h * w.out_w * channels;
  SerialBelowGrain serial(OpFamily::pool, batch * (in_image + out_image) * int64_t{sizeof(T)});
  parallel_for(batch, [&](int64_t begin, int64_t end, int) {
    for (int64_t n = begin; n < end; ++n) kern.avg_backward_nhwc(w, channels, dout + n * out_image, dx + n * in_image);
  });
}

#define FASTCNN_INSTANTIATE(T)                                                                                 \
  template void max_pool2d_forward<T>(const PoolWindow&, int64_t, const T*, T*, int64_t*);                     \
  template bool max_pool2d_backward<T>(int64_t, int64_t, int64_t, const T*, const int64_t*, T*);               \
  template void avg_pool2d_forward<T>(const PoolWindow&, int64_t, const T*, T*);                               \
  template void avg_pool2d_backward<T>(const PoolWindow&, int64_t, const T*, T*);                              \
  template void global_avg_pool_forward<T>(int64_t, int64_t, const T*, T*);                                    \
  template void global_avg_pool_backward<T>(int64_t, int64_t, const T*, T*);                                   \
  template void global_max_pool_forward<T>(int64_t, int64_t, const T*, T*, int64_t*);                          \
  template void max_pool2d_forward_nhwc<T>(const PoolWindow&, int64_t, int64_t, const T*, T*, int64_t*);       \
  template bool max_pool2d_backward_nhwc<T>(int64_t, int64_t, int64_t, int64_t, const T*, const int64_t*, T*); \
  template void avg_pool2d_forward_nhwc<T>(const PoolWindow&, int64_t, int64_t, const T*, T*);                 \
  template void avg_pool2d_backward_nhwc<T>(const PoolWindow&, int64_t, int64_t, const T*, T*);
FASTCNN_INSTANTIATE(float)
FASTCNN_INSTANTIATE(double)
#undef FASTCNN_INSTANTIATE

}  // namespace fastcnn

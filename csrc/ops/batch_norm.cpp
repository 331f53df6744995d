#include "batch_norm.h"

#include <vector>

#include "cpu.h"
#include "grain.h"
#include "parallel.h"

namespace fastcnn {
namespace {

// Blocks a reduction is split into, fixed by the shape alone: enough for
// every thread to get several, few enough that their partial sums are
// cheap to add up.
constexpr int64_t kReductionBlocks = 32;

int64_t blocks_of(int64_t items) { return items < kReductionBlocks ? (items < 1 ? 1 : items) : kReductionBlocks; }

// Per-channel sums over fixed blocks of the outer axis (each block its own
// partial row), then added block by block: sum_block(v, block, s, q) adds
// block `block`'s contribution for every channel to s[c], q[c].
template <typename SumBlock>
void reduce_channels(const ChannelView& v, int64_t bytes, SumBlock&& sum_block, double* s_out, double* q_out) {
  SerialBelowGrain serial(OpFamily::elementwise, bytes);
  const int64_t blocks = blocks_of(v.outer), c = v.channels;
  std::vector<double> partial(size_t(2 * blocks * c), 0.0);
  parallel_for(blocks, [&](int64_t begin, int64_t end, int) {
    for (int64_t b = begin; b < end; ++b)
      sum_block(v.outer * b / blocks, v.outer * (b + 1) / blocks, &partial[size_t(2 * b * c)],
                &partial[size_t((2 * b + 1) * c)]);
  });
  for (int64_t k = 0; k < c; ++k) s_out[k] = q_out[k] = 0;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t k = 0; k < c; ++k) {
      s_out[k] += partial[size_t(2 * b * c + k)];
      q_out[k] += partial[size_t((2 * b + 1) * c + k)];
    }
}

// Calls pass(first, count) over pieces of the tensor in parallel: whole
// channel runs (channels-first) or blocks of rows (inner = 1).
template <typename Pass>
void for_each_piece(const ChannelView& v, int64_t bytes, Pass&& pass) {
  SerialBelowGrain serial(OpFamily::elementwise, bytes);
  if (v.inner > 1) {
    parallel_for(v.outer * v.channels, [&](int64_t begin, int64_t end, int) {
      for (int64_t run = begin; run < end; ++run) pass(run, int64_t{1});
    });
  } else {
    parallel_for(v.outer, [&](int64_t begin, int64_t end, int) { pass(begin, end - begin); });
  }
}

}  // namespace

template <typename T>
void batch_norm_moments(const ChannelView& v, const T* x, double* mean, double* variance) {
  const auto& k = active_kernels().get<T>().elementwise;
  const int64_t c = v.channels, plane = c * v.inner;
  // Sums of x - shift with shift a value of the channel keep the variance
  // exact when the mean is large against the spread.
  std::vector<T> shift(static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) shift[size_t(ch)] = x[ch * v.inner];
  reduce_channels(
      v, v.size() * int64_t{sizeof(T)},
      [&](int64_t o_begin, int64_t o_end, double* s, double* q) {
        if (v.inner > 1) {
          for (int64_t o = o_begin; o < o_end; ++o)
            for (int64_t ch = 0; ch < c; ++ch)
              k.bn_moments_run(x + o * plane + ch * v.inner, v.inner, shift[size_t(ch)], s + ch, q + ch);
        } else {
          k.bn_moments_rows(x + o_begin * c, o_end - o_begin, c, shift.data(), s, q);
        }
      },
      mean, variance);
  const double count = double(v.outer * v.inner);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double m = mean[ch] / count;
    const double var = variance[ch] / count - m * m;
    mean[ch] = double(shift[size_t(ch)]) + m;
    variance[ch] = var > 0 ? var : 0;
  }
}

template <typename T>
void batch_norm_apply(const ChannelView& v, const T* x, const T* scale, const T* shift, FusedActivation act, T* y) {
  const auto& k = active_kernels().get<T>().elementwise;
  const T slope = T(act.slope);
  for_each_piece(v, 2 * v.size() * int64_t{sizeof(T)}, [&](int64_t first, int64_t count) {
    if (v.inner > 1) {
      const int64_t ch = first % v.channels;
      k.bn_apply_run(x + first * v.inner, v.inner, scale[ch], shift[ch], act.kind, slope, y + first * v.inner);
    } else {
      const int64_t at = first * v.channels;
      k.bn_apply_rows(x + at, count, v.channels, scale, shift, act.kind, slope, y + at);
    }
  });
}

template <typename T>
void batch_norm_gradient_moments(const ChannelView& v, const T* dy, const T* x, const T* scale, const T* shift,
                                 const T* mean, FusedActivation act, double* sum_dz, double* sum_dz_xc) {
  const auto& k = active_kernels().get<T>().elementwise;
  const int64_t c = v.channels, plane = c * v.inner;
  const T slope = T(act.slope);
  reduce_channels(
      v, 2 * v.size() * int64_t{sizeof(T)},
      [&](int64_t o_begin, int64_t o_end, double* s, double* q) {
        if (v.inner > 1) {
          for (int64_t o = o_begin; o < o_end; ++o)
            for (int64_t ch = 0; ch < c; ++ch) {
              const int64_t at = o * plane + ch * v.inner;
              k.bn_gradient_moments_run(dy + at, x + at, v.inner, scale[ch], shift[ch], mean[ch], act.kind, slope,
                                        s + ch, q + ch);
            }
        } else {
          const int64_t at = o_begin * c;
          k.bn_gradient_moments_rows(dy + at, x + at, o_end - o_begin, c, scale, shift, mean, act.kind, slope, s, q);
        }
      },
      sum_dz, sum_dz_xc);
}

template <typename T>
void batch_norm_gradient_apply(const ChannelView& v, const T* dy, const T* x, const T* a, const T* b, const T* d,
                               const T* scale, const T* shift, FusedActivation act, T* dx) {
  const auto& k = active_kernels().get<T>().elementwise;
  const T slope = T(act.slope);
  for_each_piece(v, 3 * v.size() * int64_t{sizeof(T)}, [&](int64_t first, int64_t count) {
    if (v.inner > 1) {
      const int64_t ch = first % v.channels, at = first * v.inner;
      k.bn_gradient_apply_run(dy + at, x + at, v.inner, a[ch], b[ch], d[ch], scale[ch], shift[ch], act.kind, slope,
                              dx + at);
    } else {
      const int64_t at = first * v.channels;
      k.bn_gradient_apply_rows(dy + at, x + at, count, v.channels, a, b, d, scale, shift, act.kind, slope, dx + at);
    }
  });
}

#define FASTCNN_BATCH_NORM(T)                                                                                        \
  template void batch_norm_moments<T>(const ChannelView&, const T*, double*, double*);                               \
  template void batch_norm_apply<T>(const ChannelView&, const T*, const T*, const T*, FusedActivation, T*);          \
  template void batch_norm_gradient_moments<T>(const ChannelView&, const T*, const T*, const T*, const T*, const T*, \
                                               FusedActivation, double*, double*);                                   \
  template void batch_norm_gradient_apply<T>(const ChannelView&, const T*, const T*, const T*, const T*, const T*,   \
                                             const T*, const T*, FusedActivation, T*);
FASTCNN_BATCH_NORM(float)
FASTCNN_BATCH_NORM(double)
#undef FASTCNN_BATCH_NORM

}  // namespace fastcnn

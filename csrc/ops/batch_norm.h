// Batch normalisation's passes over a tensor viewed as (outer, channels,
// inner): channels-first (N, C, *spatial) has outer = N, inner = the
// spatial size; channels-last and (N, C) inputs have inner = 1. The
// per-channel arithmetic between the passes (mean, inverse deviation, the
// moving averages) is a few vectors of C values and stays in Python
// (fastcnn/functional.py), next to the reference formulas.
#pragma once
#include <cstdint>

#include "../kernels/kernel_table.h"

namespace fastcnn {

struct ChannelView {
  int64_t outer, channels, inner;
  int64_t size() const { return outer * channels * inner; }
};

struct FusedActivation {
  Activation kind = Activation::identity;  // identity, relu or leaky_relu
  double slope = 0;                        // leaky_relu's negative slope
};

// Per channel: mean and biased variance over outer and inner. Sums are in
// double over fixed blocks reduced in a fixed order, so the result does not
// depend on the thread count.
template <typename T>
void batch_norm_moments(const ChannelView& v, const T* x, double* mean, double* variance);

// y = act(x * scale[c] + shift[c]). y may be x.
template <typename T>
void batch_norm_apply(const ChannelView& v, const T* x, const T* scale, const T* shift, FusedActivation act, T* y);

// Per channel, with dz = dy * act'(x * scale + shift): sum(dz) and
// sum(dz * (x - mean)).
template <typename T>
void batch_norm_gradient_moments(const ChannelView& v, const T* dy, const T* x, const T* scale, const T* shift,
                                 const T* mean, FusedActivation act, double* sum_dz, double* sum_dz_xc);

// dx = a[c] * dz + b[c] * x + d[c]. dx may be dy.
template <typename T>
void batch_norm_gradient_apply(const ChannelView& v, const T* dy, const T* x, const T* a, const T* b, const T* d,
                               const T* scale, const T* shift, FusedActivation act, T* dx);

}  // namespace fastcnn

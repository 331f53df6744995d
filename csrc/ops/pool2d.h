// Pooling operators over NCHW tensors (1-D pooling runs as H = 1).
#pragma once
#include <cstdint>

#include "../kernels/kernel_table.h"

namespace fastcnn {

// Checks the window geometry (std::invalid_argument on nonsense).
void check_pool_window(const PoolWindow& w);

template <typename T>
void max_pool2d_forward(const PoolWindow& w, int64_t planes, const T* x, T* out, int64_t* indices);

// Returns false if an index is outside its plane (dx is then unspecified).
template <typename T>
bool max_pool2d_backward(int64_t planes, int64_t in_plane, int64_t out_plane, const T* dout, const int64_t* indices,
                         T* dx);

template <typename T>
void avg_pool2d_forward(const PoolWindow& w, int64_t planes, const T* x, T* out);

template <typename T>
void avg_pool2d_backward(const PoolWindow& w, int64_t planes, const T* dout, T* dx);

// Channels-last (N, H, W, C) variants; indices (N, OH, OW, C) hold flat
// H*W positions.
template <typename T>
void max_pool2d_forward_nhwc(const PoolWindow& w, int64_t batch, int64_t channels, const T* x, T* out,
                             int64_t* indices);
template <typename T>
bool max_pool2d_backward_nhwc(int64_t batch, int64_t channels, int64_t in_plane, int64_t out_plane, const T* dout,
                              const int64_t* indices, T* dx);
template <typename T>
void avg_pool2d_forward_nhwc(const PoolWindow& w, int64_t batch, int64_t channels, const T* x, T* out);
template <typename T>
void avg_pool2d_backward_nhwc(const PoolWindow& w, int64_t batch, int64_t channels, const T* dout, T* dx);

// Global pooling over rows of `size` values.
template <typename T>
void global_avg_pool_forward(int64_t rows, int64_t size, const T* x, T* out);
template <typename T>
void global_avg_pool_backward(int64_t rows, int64_t size, const T* dout, T* dx);
template <typename T>
void global_max_pool_forward(int64_t rows, int64_t size, const T* x, T* out, int64_t* indices);

}  // namespace fastcnn

// Activations, softmax and dropout over whole tensors, split into pieces
// over the pool's threads (each piece's values depend only on its inputs,
// so results do not depend on the thread count).
#pragma once
#include <cstdint>

#include "../kernels/kernel_table.h"

namespace fastcnn {

// y = act(x) over n values; y may be x.
template <typename T>
void activation_forward(Activation act, double slope, int64_t n, const T* x, T* y);

// dx = dy * act'(x) from the output y; dx may be dy.
template <typename T>
void activation_backward(Activation act, double slope, int64_t n, const T* dy, const T* y, T* dx);

// Softmax over each row of `columns` values, and its gradient from the output.
// y = act(a + b), element-wise (the sum of a graph model's Add, with the
// activation that follows it); y may be a or b.
template <typename T>
void add_forward(Activation act, double slope, int64_t n, const T* a, const T* b, T* y);

template <typename T>
void softmax_forward(int64_t rows, int64_t columns, const T* x, T* y);
template <typename T>
void softmax_backward(int64_t rows, int64_t columns, const T* dy, const T* y, T* dx);

// y = x * mask, mask[i] = 1 / (1 - rate) where element i is kept, else 0:
// kept with probability 1 - rate, decided by (seed, i) alone.
template <typename T>
void dropout(int64_t n, const T* x, uint64_t seed, double rate, T* y);

// Softmax cross-entropy of logits rows against integer labels: returns the
// sum over rows of -log softmax(x)[label] and writes
// dx = (softmax(x) - onehot(label)) * grad_scale (dx may be null).
// A label outside [0, columns) makes the result NaN for its row.
template <typename T>
double softmax_cross_entropy_labels(int64_t rows, int64_t columns, const T* x, const int64_t* labels, double grad_scale,
                                    T* dx);

// The same against target distributions (rows of `columns` values).
template <typename T>
double softmax_cross_entropy_targets(int64_t rows, int64_t columns, const T* x, const T* targets, double grad_scale,
                                     T* dx);

}  // namespace fastcnn

// Calls too small to pay for a second thread run on the calling thread.
//
// Handing part of a call to a worker costs a wake-up and a join; below an
// amount of work per op family the call is faster on one thread, and a tiny
// call that never touches the workers also cannot wait for one the OS has
// not scheduled. The amounts are the crossovers bench/grain_size.py
// measures (1 thread against 2 over a sweep of sizes; docs/threads.md has
// the table), with a margin towards one thread.
#pragma once
#include <cstdint>

#include "conv2d.h"

namespace fastcnn {

enum class OpFamily { conv, pool, matmul, elementwise };

// Multiply-adds for conv and matmul, bytes read and written for pools and
// elementwise passes (batch norm, activations, dropout).
int64_t serial_grain(OpFamily family);

// Scales every family's grain (1 by default; 0 lets every call use all
// threads). FASTCNN_GRAIN_SCALE sets it at start-up; bench/grain_size.py
// sets 0 to time both sides of the crossover.
double grain_scale();
void set_grain_scale(double scale);

// The calling thread's op uses one thread while this lives, when `work` is
// below the family's grain: num_threads() returns 1 on this thread.
class SerialBelowGrain {
 public:
  SerialBelowGrain(OpFamily family, int64_t work);
  ~SerialBelowGrain();
  SerialBelowGrain(const SerialBelowGrain&) = delete;
  SerialBelowGrain& operator=(const SerialBelowGrain&) = delete;

 private:
  bool limited_;
};

// Multiply-adds of one pass of a convolution (forward, dx and dw each cost
// one).
inline int64_t conv2d_macs(const Conv2dParams& p) {
  return p.batch * p.out_channels * p.out_h * p.out_w * p.in_per_group() * p.kernel_h * p.kernel_w;
}

// A convolution with fewer output positions (batch x out_h x out_w) than
// kConvMinParallelPositions stays on one thread unless it has at least
// kConvFewPositionsMacs multiply-adds: its tasks are few and each repeats
// the weights' packing, which only many channels pay for (docs/threads.md
// has the sweep).
constexpr int64_t kConvMinParallelPositions = 192;
constexpr int64_t kConvFewPositionsMacs = int64_t{1} << 23;

// The work a convolution pass counts against the conv grain: its
// multiply-adds, or 0 for few positions and not many multiply-adds.
inline int64_t conv2d_parallel_work(const Conv2dParams& p) {
  const int64_t macs = conv2d_macs(p);
  const bool few_positions = p.batch * p.out_h * p.out_w < kConvMinParallelPositions;
  return few_positions && macs < kConvFewPositionsMacs ? 0 : macs;
}

}  // namespace fastcnn

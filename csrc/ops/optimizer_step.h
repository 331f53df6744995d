// One optimizer step over a whole parameter set in one call: clipnorm's
// per-gradient norms, then every parameter's update, split into pieces over
// the pool's threads (each piece's values depend only on its own inputs, so
// results do not depend on the thread count).
#pragma once
#include <cstdint>
#include <vector>

#include "../kernels/kernel_table.h"

namespace fastcnn {

template <typename T>
struct ParameterSlice {
  T* p;
  const T* g;
  T* state[3];  // the rule's state arrays, null where unused
  int64_t size;
};

// clipnorm > 0: each gradient g is used as g * clipnorm / ||g|| where its
// norm exceeds clipnorm (Keras' per-variable clipping).
template <typename T>
void optimizer_step(const OptimizerRule& rule, double clipnorm, std::vector<ParameterSlice<T>>& params);

}  // namespace fastcnn

// A model's inference as one native call: an ordered list of steps, each
// reading one value and writing another, over values that live in one
// arena owned by the plan (or are the caller's input and output arrays).
//
// The plan is a graph in its data: steps name their input and output values
// by id, so a step may read a value written several steps earlier, and two
// steps may read the same value. Where values live (their arena offsets,
// reused once a value is dead) is decided by the Python planner
// (fastcnn/plan.py); this side checks every step's sizes against its values
// when the step is added, so a malformed plan fails there, never in run().
//
// The weights a step reads must not change while the plan lives: its
// convolutions pack them on the first run and keep the packing.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "../kernels/kernel_table.h"
#include "batch_norm.h"
#include "conv2d.h"
#include "packed_weights.h"
#include "resample2d.h"

namespace fastcnn {

enum class PlanStepKind {
  conv2d,
  conv_transpose,
  dense,
  max_pool2d,
  avg_pool2d,
  global_avg_pool,
  activation,
  softmax,
  batch_norm,
  add,
  concat,
  resample
};

template <typename T>
struct PlanStep {
  PlanStepKind kind;
  int input = 0, output = 0;  // value ids
  int input2 = -1;            // add, concat: the second operand's value
  Conv2dParams conv{};        // conv2d
  PoolWindow window{};        // pools
  bool channels_last = false;
  // pools: batch x channels planes; dense: rows x in -> rows x out;
  // softmax: rows x columns; global pool: rows planes of `size`; activation, add: `size` values
  int64_t batch = 0, channels = 0, rows = 0, columns = 0, size = 0;
  ChannelView view{};         // batch_norm
  const T* weight = nullptr;  // conv2d, dense (in, out)
  const T* bias = nullptr;    // conv2d, dense, or nullptr
  const T* scale = nullptr;   // batch_norm
  const T* shift = nullptr;
  FusedActivation activation{};  // after conv2d / dense / batch_norm; the activation step's own
  // conv2d: its packed weights, made on the first run and reused (packed_weights.h)
  std::shared_ptr<WeightCache> packed;
  // resample (upsampling, padding, cropping): its index tables and sizes
  std::shared_ptr<const Resample2d> resample;

  // Elements the step reads and writes (checked against its values' sizes).
  // conv_transpose: conv is the convolution it transposes (its output is the
  // step's input); concat: rows of `size` then `columns` values joined.
  int64_t input_elements() const;
  int64_t input2_elements() const;
  int64_t output_elements() const;
};

template <typename T>
class InferencePlan {
 public:
  // Value 0 is the caller's input (input_elements), value 1 the caller's
  // output (output_elements); add_value adds arena values.
  InferencePlan(int64_t input_elements, int64_t output_elements, int64_t arena_elements);

  int add_value(int64_t offset, int64_t elements);
  // std::invalid_argument when a value id is unknown or sizes disagree.
  void add_step(const PlanStep<T>& step);

  // Runs every step; concurrent calls on one plan take turns (one arena).
  void run(const T* x, T* out);

  int64_t input_elements() const { return values_[0].elements; }
  int64_t output_elements() const { return values_[1].elements; }
  int64_t arena_elements() const { return arena_elements_; }
  size_t steps() const { return steps_.size(); }
  // Bytes of weights packed by the runs so far and kept for the next.
  size_t packed_bytes() const;

 private:
  struct Value {
    int64_t offset, elements;  // offset: -1 input, -2 output, else in the arena
  };
  T* where(const Value& v, const T* x, T* out);

  std::vector<Value> values_;
  std::vector<PlanStep<T>> steps_;
  int64_t arena_elements_;
  std::unique_ptr<T[]> arena_;  // allocated on the first run
  std::mutex mutex_;
};

}  // namespace fastcnn

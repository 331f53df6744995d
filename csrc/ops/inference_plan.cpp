#include "inference_plan.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "activation.h"
#include "matmul.h"
#include "pool2d.h"

namespace fastcnn {

template <typename T>
int64_t PlanStep<T>::input_elements() const {
  switch (kind) {
    case PlanStepKind::conv2d: return conv.batch * conv.in_channels * conv.in_h * conv.in_w;
    case PlanStepKind::conv_transpose: return conv.batch * conv.out_channels * conv.out_h * conv.out_w;
    case PlanStepKind::dense: return rows * columns;
    case PlanStepKind::max_pool2d:
    case PlanStepKind::avg_pool2d: return batch * channels * window.in_h * window.in_w;
    case PlanStepKind::global_avg_pool: return rows * size;
    case PlanStepKind::activation:
    case PlanStepKind::add: return size;
    case PlanStepKind::softmax: return rows * columns;
    case PlanStepKind::batch_norm: return view.size();
    case PlanStepKind::concat: return rows * size;
    case PlanStepKind::resample: return resample->batch * resample->channels * resample->in_h * resample->in_w;
  }
  return -1;
}

template <typename T>
int64_t PlanStep<T>::input2_elements() const {
  if (kind == PlanStepKind::add) return size;
  if (kind == PlanStepKind::concat) return rows * columns;
  return 0;
}

template <typename T>
int64_t PlanStep<T>::output_elements() const {
  switch (kind) {
    case PlanStepKind::conv2d: return conv.batch * conv.out_channels * conv.out_h * conv.out_w;
    case PlanStepKind::conv_transpose: return conv.batch * conv.in_channels * conv.in_h * conv.in_w;
    case PlanStepKind::dense: return rows * size;
    case PlanStepKind::concat: return rows * (size + columns);
    case PlanStepKind::max_pool2d:
    case PlanStepKind::avg_pool2d: return batch * channels * window.out_h * window.out_w;
    case PlanStepKind::global_avg_pool: return rows;
    case PlanStepKind::resample: return resample->batch * resample->channels * resample->out_h() * resample->out_w();
    default: return input_elements();
  }
}

namespace {

// A transposed convolution's bias, per output channel, over its output (the
// transposed convolution's input side: conv.in_channels x in_h x in_w).
template <typename T>
void add_channel_bias(const PlanStep<T>& s, T* y) {
  if (!s.bias) return;
  const Conv2dParams& p = s.conv;
  const int64_t plane = p.in_h * p.in_w, c = p.in_channels;
  for (int64_t n = 0; n < p.batch; ++n) {
    T* image = y + n * c * plane;
    if (p.channels_last) {
      for (int64_t i = 0; i < plane; ++i)
        for (int64_t ch = 0; ch < c; ++ch) image[i * c + ch] += s.bias[ch];
    } else {
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < plane; ++i) image[ch * plane + i] += s.bias[ch];
    }
  }
}

}  // namespace

template <typename T>
InferencePlan<T>::InferencePlan(int64_t input_elements, int64_t output_elements, int64_t arena_elements)
    : arena_elements_(arena_elements) {
  if (input_elements <= 0 || output_elements <= 0 || arena_elements < 0)
    throw std::invalid_argument("a plan needs a positive input and output size and an arena size >= 0");
  values_.push_back({-1, input_elements});
  values_.push_back({-2, output_elements});
}

template <typename T>
int InferencePlan<T>::add_value(int64_t offset, int64_t elements) {
  if (offset < 0 || elements <= 0 || offset > arena_elements_ || elements > arena_elements_ - offset)
    throw std::invalid_argument("value [" + std::to_string(offset) + ", +" + std::to_string(elements) +
                                ") is outside the arena of " + std::to_string(arena_elements_) + " elements");
  values_.push_back({offset, elements});
  return static_cast<int>(values_.size()) - 1;
}

template <typename T>
void InferencePlan<T>::add_step(const PlanStep<T>& step) {
  const int n = static_cast<int>(values_.size());
  if (step.input < 0 || step.input >= n || step.output < 0 || step.output >= n)
    throw std::invalid_argument("step reads or writes an unknown value");
  if (step.output == 0) throw std::invalid_argument("no step may write the plan's input");
  const bool elementwise = step.kind == PlanStepKind::activation || step.kind == PlanStepKind::add;
  if (step.input == step.output && !elementwise)
    throw std::invalid_argument("only activation and add steps run in place");
  const bool two_inputs = step.kind == PlanStepKind::add || step.kind == PlanStepKind::concat;
  if (two_inputs != (step.input2 >= 0))
    throw std::invalid_argument("add and concat steps, and only they, read a second value");
  if (step.input2 >= 0) {
    if (step.input2 >= n) throw std::invalid_argument("step reads an unknown value");
    if (values_[step.input2].elements != step.input2_elements())
      throw std::invalid_argument(step.kind == PlanStepKind::add ? "add's operands differ in size"
                                                                 : "concat's second operand has the wrong size");
    const Value &c = values_[step.input2], &o = values_[step.output];
    const bool overlap2 =
        c.offset >= 0 && o.offset >= 0 && c.offset < o.offset + o.elements && o.offset < c.offset + c.elements;
    if (overlap2 && step.input2 != step.output)
      throw std::invalid_argument("a step's input and output values overlap in the arena");
  }
  const int64_t in = step.input_elements(), out = step.output_elements();
  const Value &a = values_[step.input], &b = values_[step.output];
  const bool overlap =
      a.offset >= 0 && b.offset >= 0 && a.offset < b.offset + b.elements && b.offset < a.offset + a.elements;
  if (overlap && step.input != step.output)
    throw std::invalid_argument("a step's input and output values overlap in the arena");
  if (in != values_[step.input].elements || out != values_[step.output].elements)
    throw std::invalid_argument("step reads " + std::to_string(in) + " and writes " + std::to_string(out) +
                                " elements but its values hold " + std::to_string(values_[step.input].elements) +
                                " and " + std::to_string(values_[step.output].elements));
  steps_.push_back(step);
  if (step.kind == PlanStepKind::conv2d || step.kind == PlanStepKind::conv_transpose)
    steps_.back().packed = std::make_shared<WeightCache>();
}

template <typename T>
size_t InferencePlan<T>::packed_bytes() const {
  size_t total = 0;
  for (const PlanStep<T>& s : steps_)
    if (s.packed) total += s.packed->bytes();
  return total;
}

template <typename T>
T* InferencePlan<T>::where(const Value& v, const T* x, T* out) {
  if (v.offset == -1) return const_cast<T*>(x);  // only ever read (add_step)
  if (v.offset == -2) return out;
  return arena_.get() + v.offset;
}

template <typename T>
void InferencePlan<T>::run(const T* x, T* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!arena_ && arena_elements_ > 0) arena_.reset(new T[arena_elements_]);
  for (const PlanStep<T>& s : steps_) {
    const T* src = where(values_[s.input], x, out);
    T* dst = where(values_[s.output], x, out);
    switch (s.kind) {
      case PlanStepKind::conv2d: {
        const ScopedWeightCache packed(s.packed.get());
        conv2d_forward<T>(s.conv, src, s.weight, s.bias, dst);
        if (s.activation.kind != Activation::identity)
          activation_forward<T>(s.activation.kind, s.activation.slope, s.output_elements(), dst, dst);
        break;
      }
      case PlanStepKind::dense: {
        const int64_t n = s.size;
        matmul<T>(s.rows, n, s.columns, MatrixView<const T>{src, s.columns, 1}, MatrixView<const T>{s.weight, n, 1},
                  MatrixView<T>{dst, n, 1});
        if (s.bias)
          for (int64_t r = 0; r < s.rows; ++r)
            for (int64_t j = 0; j < n; ++j) dst[r * n + j] += s.bias[j];
        if (s.activation.kind != Activation::identity)
          activation_forward<T>(s.activation.kind, s.activation.slope, s.rows * n, dst, dst);
        break;
      }
      case PlanStepKind::max_pool2d:
        if (s.channels_last)
          max_pool2d_forward_nhwc<T>(s.window, s.batch, s.channels, src, dst, nullptr);
        else
          max_pool2d_forward<T>(s.window, s.batch * s.channels, src, dst, nullptr);
        break;
      case PlanStepKind::avg_pool2d:
        if (s.channels_last)
          avg_pool2d_forward_nhwc<T>(s.window, s.batch, s.channels, src, dst);
        else
          avg_pool2d_forward<T>(s.window, s.batch * s.channels, src, dst);
        break;
      case PlanStepKind::global_avg_pool: global_avg_pool_forward<T>(s.rows, s.size, src, dst); break;
      case PlanStepKind::activation:
        activation_forward<T>(s.activation.kind, s.activation.slope, s.size, src, dst);
        break;
      case PlanStepKind::softmax: softmax_forward<T>(s.rows, s.columns, src, dst); break;
      case PlanStepKind::batch_norm: batch_norm_apply<T>(s.view, src, s.scale, s.shift, s.activation, dst); break;
      case PlanStepKind::add:
        add_forward<T>(s.activation.kind, s.activation.slope, s.size, src, where(values_[s.input2], x, out), dst);
        break;
      case PlanStepKind::conv_transpose: {
        const ScopedWeightCache packed(s.packed.get());
        conv2d_backward_data<T>(s.conv, src, s.weight, dst);
        add_channel_bias(s, dst);
        if (s.activation.kind != Activation::identity)
          activation_forward<T>(s.activation.kind, s.activation.slope, s.output_elements(), dst, dst);
        break;
      }
      case PlanStepKind::resample: resample2d_forward<T>(*s.resample, src, dst); break;
      case PlanStepKind::concat: {
        const T* second = where(values_[s.input2], x, out);
        for (int64_t r = 0; r < s.rows; ++r) {
          std::copy_n(src + r * s.size, s.size, dst + r * (s.size + s.columns));
          std::copy_n(second + r * s.columns, s.columns, dst + r * (s.size + s.columns) + s.size);
        }
        break;
      }
    }
  }
}

template struct PlanStep<float>;
template struct PlanStep<double>;
template class InferencePlan<float>;
template class InferencePlan<double>;

}  // namespace fastcnn

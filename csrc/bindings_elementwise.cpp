// pybind11 glue of the elementwise ops: batch normalisation's passes,
// activations, softmax, dropout and softmax cross-entropy. Arrays arrive
// contiguous from fastcnn/functional.py; shapes, dtypes and `out=` arrays
// are checked again here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "binding_helpers.h"
#include "ops/activation.h"
#include "ops/batch_norm.h"
#include "ops/optimizer_step.h"

namespace fastcnn {
namespace {

using namespace binding;

// `out` when given (checked: x's dtype and shape, contiguous, aligned,
// writeable), else a new array like x.
template <typename T>
py::array result_like(const py::array& x, const py::object& out) {
  if (out.is_none()) return empty<T>(shape_of(x));
  if (!py::isinstance<py::array>(out)) throw py::type_error("out must be a NumPy array or None");
  py::array o = py::reinterpret_borrow<py::array>(out);
  if (!o.dtype().is(x.dtype()) || shape_of(o) != shape_of(x) || !(o.flags() & py::array::c_style) || !aligned(o) ||
      !o.writeable())
    throw py::value_error("out must be a writeable, C-contiguous " + std::string(py::str(x.dtype())) +
                          " array of shape " + shape_str(x) + ", got " + std::string(py::str(o.dtype())) + " " +
                          shape_str(o));
  return o;
}

void require_same_shape(const py::array& a, const char* an, const py::array& b, const char* bn) {
  if (shape_of(a) != shape_of(b))
    throw py::value_error(std::string(an) + " " + shape_str(a) + " and " + bn + " " + shape_str(b) +
                          " must have the same shape");
}

ChannelView channel_view(const py::array& x, const char* name) {
  require_float(x, name);
  if (x.ndim() != 3)
    throw py::value_error(std::string(name) + " must be 3-D (outer, channels, inner), got " + shape_str(x));
  return {x.shape(0), x.shape(1), x.shape(2)};
}

// A per-channel vector in x's dtype.
void require_channel_vector(const py::array& v, const char* name, const py::array& x, int64_t channels) {
  require_float(v, name);
  require_same_dtype(x, "x", v, name);
  if (v.ndim() != 1 || v.shape(0) != channels)
    throw py::value_error(std::string(name) + " must have shape (" + std::to_string(channels) + ",), got " +
                          shape_str(v));
}

// ------------------------------------------------------------ batch norm

template <typename T>
py::tuple bn_moments_typed(const py::array& x, const ChannelView& v) {
  py::array_t<double> mean(v.channels), variance(v.channels);
  double* m = mean.mutable_data();
  double* var = variance.mutable_data();
  {
    py::gil_scoped_release release;
    batch_norm_moments<T>(v, data<T>(x), m, var);
  }
  return py::make_tuple(mean, variance);
}

py::tuple bn_moments_py(const py::array& x) {
  const ChannelView v = channel_view(x, "x");
  if (v.size() == 0) throw py::value_error("x must not be empty, got " + shape_str(x));
  return is_f32(x) ? bn_moments_typed<float>(x, v) : bn_moments_typed<double>(x, v);
}

template <typename T>
py::array bn_apply_typed(const py::array& x, const ChannelView& v, const py::array& scale, const py::array& shift,
                         FusedActivation act, const py::object& out) {
  py::array y = result_like<T>(x, out);
  T* o = mutable_data<T>(y);
  {
    py::gil_scoped_release release;
    batch_norm_apply<T>(v, data<T>(x), data<T>(scale), data<T>(shift), act, o);
  }
  return y;
}

py::array bn_apply_py(const py::array& x, const py::array& scale, const py::array& shift, const std::string& activation,
                      double slope, const py::object& out) {
  const ChannelView v = channel_view(x, "x");
  require_channel_vector(scale, "scale", x, v.channels);
  require_channel_vector(shift, "shift", x, v.channels);
  const FusedActivation act{activation_named(activation, true), slope};
  return is_f32(x) ? bn_apply_typed<float>(x, v, scale, shift, act, out)
                   : bn_apply_typed<double>(x, v, scale, shift, act, out);
}

template <typename T>
py::tuple bn_gradient_moments_typed(const py::array& dy, const py::array& x, const ChannelView& v,
                                    const py::array& scale, const py::array& shift, const py::array& mean,
                                    FusedActivation act) {
  py::array_t<double> sum_dz(v.channels), sum_dz_xc(v.channels);
  double* s = sum_dz.mutable_data();
  double* q = sum_dz_xc.mutable_data();
  {
    py::gil_scoped_release release;
    batch_norm_gradient_moments<T>(v, data<T>(dy), data<T>(x), data<T>(scale), data<T>(shift), data<T>(mean), act, s,
                                   q);
  }
  return py::make_tuple(sum_dz, sum_dz_xc);
}

py::tuple bn_gradient_moments_py(const py::array& dy, const py::array& x, const py::array& scale,
                                 const py::array& shift, const py::array& mean, const std::string& activation,
                                 double slope) {
  const ChannelView v = channel_view(x, "x");
  channel_view(dy, "dout");
  require_same_dtype(dy, "dout", x, "x");
  require_same_shape(dy, "dout", x, "x");
  require_channel_vector(scale, "scale", x, v.channels);
  require_channel_vector(shift, "shift", x, v.channels);
  require_channel_vector(mean, "mean", x, v.channels);
  const FusedActivation act{activation_named(activation, true), slope};
  return is_f32(x) ? bn_gradient_moments_typed<float>(dy, x, v, scale, shift, mean, act)
                   : bn_gradient_moments_typed<double>(dy, x, v, scale, shift, mean, act);
}

template <typename T>
py::array bn_gradient_apply_typed(const py::array& dy, const py::array& x, const ChannelView& v, const py::array& a,
                                  const py::array& b, const py::array& d, const py::array& scale,
                                  const py::array& shift, FusedActivation act, const py::object& out) {
  py::array dx = result_like<T>(x, out);
  T* o = mutable_data<T>(dx);
  {
    py::gil_scoped_release release;
    batch_norm_gradient_apply<T>(v, data<T>(dy), data<T>(x), data<T>(a), data<T>(b), data<T>(d), data<T>(scale),
                                 data<T>(shift), act, o);
  }
  return dx;
}

py::array bn_gradient_apply_py(const py::array& dy, const py::array& x, const py::array& a, const py::array& b,
                               const py::array& d, const py::array& scale, const py::array& shift,
                               const std::string& activation, double slope, const py::object& out) {
  const ChannelView v = channel_view(x, "x");
  channel_view(dy, "dout");
  require_same_dtype(dy, "dout", x, "x");
  require_same_shape(dy, "dout", x, "x");
  require_channel_vector(a, "a", x, v.channels);
  require_channel_vector(b, "b", x, v.channels);
  require_channel_vector(d, "d", x, v.channels);
  require_channel_vector(scale, "scale", x, v.channels);
  require_channel_vector(shift, "shift", x, v.channels);
  const FusedActivation act{activation_named(activation, true), slope};
  return is_f32(x) ? bn_gradient_apply_typed<float>(dy, x, v, a, b, d, scale, shift, act, out)
                   : bn_gradient_apply_typed<double>(dy, x, v, a, b, d, scale, shift, act, out);
}

// ----------------------------------------------------------- activations

template <typename T>
py::array activation_forward_typed(const py::array& x, Activation act, double slope, const py::object& out) {
  py::array y = result_like<T>(x, out);
  T* o = mutable_data<T>(y);
  {
    py::gil_scoped_release release;
    activation_forward<T>(act, slope, x.size(), data<T>(x), o);
  }
  return y;
}

py::array activation_forward_py(const py::array& x, const std::string& activation, double slope,
                                const py::object& out) {
  require_float(x, "x");
  const Activation act = activation_named(activation, false);
  return is_f32(x) ? activation_forward_typed<float>(x, act, slope, out)
                   : activation_forward_typed<double>(x, act, slope, out);
}

template <typename T>
py::array add_typed(const py::array& a, const py::array& b, const py::object& out) {
  py::array y = result_like<T>(a, out);
  T* o = mutable_data<T>(y);
  {
    py::gil_scoped_release release;
    add_forward<T>(Activation::identity, 0.0, a.size(), data<T>(a), data<T>(b), o);
  }
  return y;
}

// a + b (same shape and dtype) on the pool's threads, into a recycled block
// or `out` (which may be a or b): graph models' Add and gradient sums.
py::array add_py(const py::array& a, const py::array& b, const py::object& out) {
  require_float(a, "a");
  require_float(b, "b");
  require_same_dtype(a, "a", b, "b");
  require_same_shape(a, "a", b, "b");
  return is_f32(a) ? add_typed<float>(a, b, out) : add_typed<double>(a, b, out);
}

template <typename T>
py::array activation_backward_typed(const py::array& dy, const py::array& y, Activation act, double slope,
                                    const py::object& out) {
  py::array dx = result_like<T>(y, out);
  T* o = mutable_data<T>(dx);
  {
    py::gil_scoped_release release;
    activation_backward<T>(act, slope, y.size(), data<T>(dy), data<T>(y), o);
  }
  return dx;
}

py::array activation_backward_py(const py::array& dy, const py::array& y, const std::string& activation, double slope,
                                 const py::object& out) {
  require_float(dy, "dout");
  require_float(y, "y");
  require_same_dtype(dy, "dout", y, "y");
  require_same_shape(dy, "dout", y, "y");
  const Activation act = activation_named(activation, false);
  return is_f32(y) ? activation_backward_typed<float>(dy, y, act, slope, out)
                   : activation_backward_typed<double>(dy, y, act, slope, out);
}

void require_rows_of(const py::array& x, const char* name) {
  require_float(x, name);
  if (x.ndim() != 2 || x.shape(1) <= 0)
    throw py::value_error(std::string(name) + " must be 2-D (rows, columns) with columns > 0, got " + shape_str(x));
}

template <typename T>
py::array softmax_forward_typed(const py::array& x, const py::object& out) {
  py::array y = result_like<T>(x, out);
  T* o = mutable_data<T>(y);
  {
    py::gil_scoped_release release;
    softmax_forward<T>(x.shape(0), x.shape(1), data<T>(x), o);
  }
  return y;
}

py::array softmax_forward_py(const py::array& x, const py::object& out) {
  require_rows_of(x, "x");
  return is_f32(x) ? softmax_forward_typed<float>(x, out) : softmax_forward_typed<double>(x, out);
}

template <typename T>
py::array softmax_backward_typed(const py::array& dy, const py::array& y, const py::object& out) {
  py::array dx = result_like<T>(y, out);
  T* o = mutable_data<T>(dx);
  {
    py::gil_scoped_release release;
    softmax_backward<T>(y.shape(0), y.shape(1), data<T>(dy), data<T>(y), o);
  }
  return dx;
}

py::array softmax_backward_py(const py::array& dy, const py::array& y, const py::object& out) {
  require_rows_of(y, "y");
  require_float(dy, "dout");
  require_same_dtype(dy, "dout", y, "y");
  require_same_shape(dy, "dout", y, "y");
  return is_f32(y) ? softmax_backward_typed<float>(dy, y, out) : softmax_backward_typed<double>(dy, y, out);
}

template <typename T>
py::array dropout_typed(const py::array& x, uint64_t seed, double rate, const py::object& out) {
  py::array y = result_like<T>(x, out);
  T* o = mutable_data<T>(y);
  {
    py::gil_scoped_release release;
    dropout<T>(x.size(), data<T>(x), seed, rate, o);
  }
  return y;
}

py::array dropout_py(const py::array& x, uint64_t seed, double rate, const py::object& out) {
  require_float(x, "x");
  if (!(rate >= 0 && rate < 1)) throw py::value_error("rate must be in [0, 1), got " + std::to_string(rate));
  return is_f32(x) ? dropout_typed<float>(x, seed, rate, out) : dropout_typed<double>(x, seed, rate, out);
}

template <typename T>
py::tuple cross_entropy_typed(const py::array& x, const py::array& target, bool labels, double grad_scale,
                              bool want_grad) {
  py::object grad = py::none();
  T* g = nullptr;
  if (want_grad) {
    py::array dx = empty<T>(shape_of(x));
    g = mutable_data<T>(dx);
    grad = dx;
  }
  double total;
  {
    py::gil_scoped_release release;
    total =
        labels
            ? softmax_cross_entropy_labels<T>(x.shape(0), x.shape(1), data<T>(x), data<int64_t>(target), grad_scale, g)
            : softmax_cross_entropy_targets<T>(x.shape(0), x.shape(1), data<T>(x), data<T>(target), grad_scale, g);
  }
  return py::make_tuple(total, grad);
}

py::tuple softmax_cross_entropy_py(const py::array& x, const py::array& target, double grad_scale, bool want_grad) {
  require_rows_of(x, "logits");
  const bool labels = target.dtype().is(py::dtype::of<int64_t>());
  if (labels) {
    if (target.ndim() != 1 || target.shape(0) != x.shape(0) || !(target.flags() & py::array::c_style) ||
        !aligned(target))
      throw py::value_error("labels must be a contiguous int64 array of shape (" + std::to_string(x.shape(0)) +
                            ",), got " + shape_str(target));
  } else {
    require_float(target, "targets");
    require_same_dtype(x, "logits", target, "targets");
    require_same_shape(x, "logits", target, "targets");
  }
  return is_f32(x) ? cross_entropy_typed<float>(x, target, labels, grad_scale, want_grad)
                   : cross_entropy_typed<double>(x, target, labels, grad_scale, want_grad);
}

// ------------------------------------------------------------- optimizers

OptimizerKind optimizer_named(const std::string& name) {
  if (name == "sgd") return OptimizerKind::sgd;
  if (name == "sgd_momentum") return OptimizerKind::sgd_momentum;
  if (name == "sgd_nesterov") return OptimizerKind::sgd_nesterov;
  if (name == "adagrad") return OptimizerKind::adagrad;
  if (name == "rmsprop") return OptimizerKind::rmsprop;
  if (name == "adam") return OptimizerKind::adam;
  if (name == "adamax") return OptimizerKind::adamax;
  if (name == "nadam") return OptimizerKind::nadam;
  throw py::value_error("unknown optimizer rule '" + name + "'");
}

// State arrays each rule needs (s0, s1, s2), and which may be None.
void required_states(OptimizerKind kind, bool required[3]) {
  required[0] = kind != OptimizerKind::sgd;
  required[1] = kind == OptimizerKind::adam || kind == OptimizerKind::adamax || kind == OptimizerKind::nadam;
  required[2] = false;
}

void require_updatable(const py::array& a, const std::string& name, const py::array& like) {
  require_float(a, name.c_str());
  if (!a.dtype().is(like.dtype()) || shape_of(a) != shape_of(like))
    throw py::value_error(name + " must be " + std::string(py::str(like.dtype())) + " of shape " + shape_str(like) +
                          ", got " + std::string(py::str(a.dtype())) + " " + shape_str(a));
}

template <typename T>
void optimizer_step_typed(const OptimizerRule& rule, double clipnorm, const py::list& params, const py::list& grads,
                          const py::list& states) {
  std::vector<ParameterSlice<T>> slices;
  std::vector<py::array> keep;  // the arrays stay referenced while the GIL is released
  bool required[3];
  required_states(rule.kind, required);
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    py::array p = py::reinterpret_borrow<py::array>(params[i]);
    py::array g = py::reinterpret_borrow<py::array>(grads[i]);
    if (!p.writeable()) throw py::value_error("params" + at + " must be writeable");
    require_updatable(g, "grads" + at, p);
    ParameterSlice<T> slice{mutable_data<T>(p), data<T>(g), {nullptr, nullptr, nullptr}, p.size()};
    py::sequence st = py::reinterpret_borrow<py::sequence>(states[i]);
    if (st.size() != 3) throw py::value_error("states" + at + " must hold 3 entries (array or None)");
    for (int j = 0; j < 3; ++j) {
      py::object o = st[size_t(j)];
      if (o.is_none()) {
        if (required[j]) throw py::value_error("states" + at + "[" + std::to_string(j) + "] is required by this rule");
        continue;
      }
      if (!py::isinstance<py::array>(o)) throw py::type_error("states" + at + " entries must be arrays or None");
      py::array a = py::reinterpret_borrow<py::array>(o);
      require_updatable(a, "states" + at + "[" + std::to_string(j) + "]", p);
      if (!a.writeable()) throw py::value_error("states" + at + " must be writeable");
      slice.state[j] = mutable_data<T>(a);
      keep.push_back(a);
    }
    keep.push_back(p);
    keep.push_back(g);
    slices.push_back(slice);
  }
  py::gil_scoped_release release;
  optimizer_step<T>(rule, clipnorm, slices);
}

void optimizer_step_py(const std::string& kind, const std::vector<double>& c, double decay, double clipnorm,
                       const py::list& params, const py::list& grads, const py::list& states) {
  OptimizerRule rule{optimizer_named(kind), {}, decay};
  if (c.size() > 10) throw py::value_error("at most 10 rule scalars");
  for (size_t j = 0; j < c.size(); ++j) rule.c[j] = c[j];
  if (params.size() != grads.size() || params.size() != states.size())
    throw py::value_error("params, grads and states must have one entry per parameter");
  if (params.size() == 0) return;
  for (size_t i = 0; i < params.size(); ++i)
    if (!py::isinstance<py::array>(params[i]) || !py::isinstance<py::array>(grads[i]))
      throw py::type_error("params and grads must be NumPy arrays");
  py::array first = py::reinterpret_borrow<py::array>(params[0]);
  require_float(first, "params[0]");
  for (size_t i = 0; i < params.size(); ++i)
    require_updatable(py::reinterpret_borrow<py::array>(params[i]), "params[" + std::to_string(i) + "]",
                      py::reinterpret_borrow<py::array>(params[i]));
  for (size_t i = 1; i < params.size(); ++i)
    if (!py::reinterpret_borrow<py::array>(params[i]).dtype().is(first.dtype()))
      throw py::type_error("params must share one dtype");
  if (is_f32(first))
    optimizer_step_typed<float>(rule, clipnorm, params, grads, states);
  else
    optimizer_step_typed<double>(rule, clipnorm, params, grads, states);
}

}  // namespace

void bind_elementwise(py::module_& m) {
  m.def("optimizer_step", &optimizer_step_py, py::arg("kind"), py::arg("c"), py::arg("decay"), py::arg("clipnorm"),
        py::arg("params"), py::arg("grads"), py::arg("states"));
  m.def("batch_norm_moments", &bn_moments_py, py::arg("x"));
  m.def("batch_norm_apply", &bn_apply_py, py::arg("x"), py::arg("scale"), py::arg("shift"),
        py::arg("activation") = "identity", py::arg("slope") = 0.0, py::arg("out") = py::none());
  m.def("batch_norm_gradient_moments", &bn_gradient_moments_py, py::arg("dout"), py::arg("x"), py::arg("scale"),
        py::arg("shift"), py::arg("mean"), py::arg("activation") = "identity", py::arg("slope") = 0.0);
  m.def("batch_norm_gradient_apply", &bn_gradient_apply_py, py::arg("dout"), py::arg("x"), py::arg("a"), py::arg("b"),
        py::arg("d"), py::arg("scale"), py::arg("shift"), py::arg("activation") = "identity", py::arg("slope") = 0.0,
        py::arg("out") = py::none());
  m.def("activation_forward", &activation_forward_py, py::arg("x"), py::arg("activation"), py::arg("slope") = 0.0,
        py::arg("out") = py::none());
  m.def("add", &add_py, py::arg("a"), py::arg("b"), py::arg("out") = py::none());
  m.def("activation_backward", &activation_backward_py, py::arg("dout"), py::arg("y"), py::arg("activation"),
        py::arg("slope") = 0.0, py::arg("out") = py::none());
  m.def("softmax_forward", &softmax_forward_py, py::arg("x"), py::arg("out") = py::none());
  m.def("softmax_backward", &softmax_backward_py, py::arg("dout"), py::arg("y"), py::arg("out") = py::none());
  m.def("dropout", &dropout_py, py::arg("x"), py::arg("seed"), py::arg("rate"), py::arg("out") = py::none());
  m.def("softmax_cross_entropy", &softmax_cross_entropy_py, py::arg("logits"), py::arg("target"), py::arg("grad_scale"),
        py::arg("want_grad"));
}

}  // namespace fastcnn

// pybind11 glue for ops/inference_plan.h: fastcnn._C.InferencePlan, built
// step by step by fastcnn/plan.py and run with the GIL released. Every
// array a step reads (weights, biases, scales) is checked here and kept
// alive by the plan.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "binding_helpers.h"
#include "ops/inference_plan.h"
#include "ops/pool2d.h"
#include "ops/resample2d.h"

namespace py = pybind11;

namespace fastcnn {
namespace {

using namespace binding;

class PlanHandle {
 public:
  PlanHandle(const std::string& dtype, int64_t input_elements, int64_t output_elements, int64_t arena_elements) {
    if (dtype == "float32")
      f32_ = std::make_unique<InferencePlan<float>>(input_elements, output_elements, arena_elements);
    else if (dtype == "float64")
      f64_ = std::make_unique<InferencePlan<double>>(input_elements, output_elements, arena_elements);
    else
      throw py::type_error("dtype must be 'float32' or 'float64', got '" + dtype + "'");
  }

  int value(int64_t offset, int64_t elements) {
    return f32_ ? f32_->add_value(offset, elements) : f64_->add_value(offset, elements);
  }

  void conv2d(int input, int output, const std::vector<int64_t>& x_shape, const py::array& w, const py::object& b,
              int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
              int64_t groups, bool channels_last, const std::string& activation, double slope) {
    require_operand(w, "w");
    const Conv2dParams p =
        make_conv2d_params(x_shape, shape_of(w), sh, sw, pt, pb, pl, pr, dh, dw, groups, channels_last);
    push(
        [&](auto& step, auto tag) {
          using T = decltype(tag);
          step.kind = PlanStepKind::conv2d;
          step.conv = p;
          step.weight = data<T>(w);
          step.bias = bias<T>(b, p.out_channels);
          step.activation = {activation_named(activation, false), slope};
        },
        input, output);
  }

  // The transpose of the convolution from y_shape (the step's output) with w:
  // its backward-data pass, then bias and activation.
  void conv_transpose(int input, int output, const std::vector<int64_t>& y_shape, const py::array& w,
                      const py::object& b, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr,
                      int64_t dh, int64_t dw, int64_t groups, bool channels_last, const std::string& activation,
                      double slope) {
    require_operand(w, "w");
    const Conv2dParams p =
        make_conv2d_params(y_shape, shape_of(w), sh, sw, pt, pb, pl, pr, dh, dw, groups, channels_last);
    push(
        [&](auto& step, auto tag) {
          using T = decltype(tag);
          step.kind = PlanStepKind::conv_transpose;
          step.conv = p;
          step.weight = data<T>(w);
          step.bias = bias<T>(b, p.in_channels);
          step.activation = {activation_named(activation, false), slope};
        },
        input, output);
  }

  void concat(int input, int input2, int output, int64_t rows, int64_t first, int64_t second) {
    if (rows <= 0 || first <= 0 || second <= 0 || input2 < 0)
      throw py::value_error("concat needs positive rows and row sizes and a second operand");
    push(
        [&](auto& step, auto) {
          step.kind = PlanStepKind::concat;
          step.input2 = input2;
          step.rows = rows;
          step.size = first;
          step.columns = second;
        },
        input, output);
  }

  void dense(int input, int output, int64_t rows, const py::array& w, const py::object& b,
             const std::string& activation, double slope) {
    require_operand(w, "w");
    if (w.ndim() != 2 || rows <= 0)
      throw py::value_error("dense needs a 2-D w and positive rows, got w " + shape_str(w));
    push(
        [&](auto& step, auto tag) {
          using T = decltype(tag);
          step.kind = PlanStepKind::dense;
          step.rows = rows;
          step.columns = w.shape(0);
          step.size = w.shape(1);
          step.weight = data<T>(w);
          step.bias = bias<T>(b, w.shape(1));
          step.activation = {activation_named(activation, false), slope};
        },
        input, output);
  }

  void pool2d(int input, int output, const std::string& mode, int64_t batch, int64_t channels, int64_t in_h,
              int64_t in_w, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl,
              int64_t pr, int64_t oh, int64_t ow, bool count_include_pad, bool channels_last) {
    if (mode != "max" && mode != "avg") throw py::value_error("mode must be 'max' or 'avg', got '" + mode + "'");
    if (batch <= 0 || channels <= 0) throw py::value_error("pool2d needs a positive batch and channel count");
    const PoolWindow win{in_h, in_w, oh, ow, kh, kw, sh, sw, pt, pb, pl, pr, count_include_pad};
    check_pool_window(win);
    push(
        [&](auto& step, auto) {
          step.kind = mode == "max" ? PlanStepKind::max_pool2d : PlanStepKind::avg_pool2d;
          step.window = win;
          step.batch = batch;
          step.channels = channels;
          step.channels_last = channels_last;
        },
        input, output);
  }

  void resample(int input, int output, int64_t batch, int64_t channels, int64_t in_h, int64_t in_w,
                const IndexTable& row_lo, const IndexTable& row_hi, const WeightTable& row_weight,
                const IndexTable& col_lo, const IndexTable& col_hi, const WeightTable& col_weight, bool bilinear,
                double fill, bool channels_last) {
    if (batch <= 0 || channels <= 0 || in_h <= 0 || in_w <= 0)
      throw py::value_error("resample needs positive batch, channels and input sizes");
    auto r = std::make_shared<Resample2d>();
    r->batch = batch, r->channels = channels, r->in_h = in_h, r->in_w = in_w;
    r->channels_last = channels_last, r->bilinear = bilinear, r->fill = fill;
    r->rows = resample_axis_from(row_lo, row_hi, row_weight, in_h, bilinear, "row");
    r->cols = resample_axis_from(col_lo, col_hi, col_weight, in_w, bilinear, "column");
    if (!bilinear) r->col_run = column_run(r->cols);
    push(
        [&](auto& step, auto) {
          step.kind = PlanStepKind::resample;
          step.resample = r;
        },
        input, output);
  }

  void global_avg_pool(int input, int output, int64_t rows, int64_t size) {
    if (rows <= 0 || size <= 0) throw py::value_error("global_avg_pool needs positive rows and size");
    push(
        [&](auto& step, auto) {
          step.kind = PlanStepKind::global_avg_pool;
          step.rows = rows;
          step.size = size;
        },
        input, output);
  }

  void activation(int input, int output, int64_t size, const std::string& name, double slope) {
    push(
        [&](auto& step, auto) {
          step.kind = PlanStepKind::activation;
          step.size = size;
          step.activation = {activation_named(name, false), slope};
        },
        input, output);
  }

  void sum(int input, int input2, int output, int64_t size, const std::string& name, double slope) {
    if (input2 < 0) throw py::value_error("add needs a second operand");
    push(
        [&](auto& step, auto) {
          step.kind = PlanStepKind::add;
          step.input2 = input2;
          step.size = size;
          step.activation = {activation_named(name, false), slope};
        },
        input, output);
  }

  void softmax(int input, int output, int64_t rows, int64_t columns) {
    if (rows <= 0 || columns <= 0) throw py::value_error("softmax needs positive rows and columns");
    push(
        [&](auto& step, auto) {
          step.kind = PlanStepKind::softmax;
          step.rows = rows;
          step.columns = columns;
        },
        input, output);
  }

  void batch_norm(int input, int output, int64_t outer, int64_t channels, int64_t inner, const py::array& scale,
                  const py::array& shift, const std::string& activation, double slope) {
    for (const auto& [a, name] : {std::pair<const py::array&, const char*>{scale, "scale"}, {shift, "shift"}}) {
      require_operand(a, name);
      if (a.ndim() != 1 || a.shape(0) != channels)
        throw py::value_error(std::string(name) + " must have shape (" + std::to_string(channels) + ",), got " +
                              shape_str(a));
    }
    if (outer <= 0 || channels <= 0 || inner <= 0) throw py::value_error("batch_norm needs positive sizes");
    push(
        [&](auto& step, auto tag) {
          using T = decltype(tag);
          step.kind = PlanStepKind::batch_norm;
          step.view = {outer, channels, inner};
          step.scale = data<T>(scale);
          step.shift = data<T>(shift);
          step.activation = {activation_named(activation, true), slope};
        },
        input, output);
  }

  // Runs the plan on x, writing out (both the plan's dtype, C-contiguous, of its sizes).
  void run(const py::array& x, py::array& out) {
    require_operand(x, "x");
    require_operand(out, "out");
    if (!out.writeable()) throw py::value_error("out must be writeable");
    const int64_t in = f32_ ? f32_->input_elements() : f64_->input_elements();
    const int64_t n_out = f32_ ? f32_->output_elements() : f64_->output_elements();
    if (x.size() != in || out.size() != n_out)
      throw py::value_error("the plan takes " + std::to_string(in) + " input and " + std::to_string(n_out) +
                            " output elements, got x " + shape_str(x) + " and out " + shape_str(out));
    const auto* xb = static_cast<const char*>(x.data());
    const auto* ob = static_cast<const char*>(out.data());
    if (xb < ob + out.nbytes() && ob < xb + x.nbytes()) throw py::value_error("x and out must not overlap");
    py::gil_scoped_release release;
    if (f32_)
      f32_->run(data<float>(x), static_cast<float*>(out.mutable_data()));
    else
      f64_->run(data<double>(x), static_cast<double*>(out.mutable_data()));
  }

  size_t steps() const { return f32_ ? f32_->steps() : f64_->steps(); }
  int64_t arena_elements() const { return f32_ ? f32_->arena_elements() : f64_->arena_elements(); }
  size_t packed_bytes() const { return f32_ ? f32_->packed_bytes() : f64_->packed_bytes(); }
  std::string dtype() const { return f32_ ? "float32" : "float64"; }

 private:
  // An array a step reads: the plan's dtype, C-contiguous and aligned; kept alive.
  void require_operand(const py::array& a, const char* name) {
    require_float(a, name);
    const bool f32 = is_f32(a);
    if (f32 != bool(f32_))
      throw py::type_error(std::string(name) + " must be " + dtype() + ", got " + std::string(py::str(a.dtype())));
  }

  template <typename T>
  const T* bias(const py::object& b, int64_t size) {
    if (b.is_none()) return nullptr;
    if (!py::isinstance<py::array>(b)) throw py::type_error("b must be a NumPy array or None");
    py::array a = py::reinterpret_borrow<py::array>(b);
    require_operand(a, "b");
    if (a.ndim() != 1 || a.shape(0) != size)
      throw py::value_error("b must have shape (" + std::to_string(size) + ",), got " + shape_str(a));
    keep_.push_back(a);
    return data<T>(a);
  }

  // Fills a step of the plan's dtype with `fill(step, T{})` and pushes it; the
  // arrays it reads stay referenced by the plan.
  template <class Fill>
  void push(Fill&& fill, int input, int output) {
    try {
      if (f32_) {
        PlanStep<float> step;
        step.input = input, step.output = output;
        fill(step, float{});
        f32_->add_step(step);
      } else {
        PlanStep<double> step;
        step.input = input, step.output = output;
        fill(step, double{});
        f64_->add_step(step);
      }
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  }

 public:
  std::vector<py::object> keep_;
  std::unique_ptr<InferencePlan<float>> f32_;
  std::unique_ptr<InferencePlan<double>> f64_;
};

}  // namespace

void bind_plan(py::module_& m) {
  py::class_<PlanHandle>(m, "InferencePlan")
      .def(py::init<const std::string&, int64_t, int64_t, int64_t>(), py::arg("dtype"), py::arg("input_elements"),
           py::arg("output_elements"), py::arg("arena_elements"))
      .def("value", &PlanHandle::value, py::arg("offset"), py::arg("elements"))
      .def("conv2d",
           [](PlanHandle& h, int input, int output, const std::vector<int64_t>& x_shape, const py::array& w,
              const py::object& b, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh,
              int64_t dw, int64_t groups, bool channels_last, const std::string& activation, double slope) {
             h.conv2d(input, output, x_shape, w, b, sh, sw, pt, pb, pl, pr, dh, dw, groups, channels_last, activation,
                      slope);
             h.keep_.push_back(w);
           })
      .def("conv_transpose",
           [](PlanHandle& h, int input, int output, const std::vector<int64_t>& y_shape, const py::array& w,
              const py::object& b, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh,
              int64_t dw, int64_t groups, bool channels_last, const std::string& activation, double slope) {
             h.conv_transpose(input, output, y_shape, w, b, sh, sw, pt, pb, pl, pr, dh, dw, groups, channels_last,
                              activation, slope);
             h.keep_.push_back(w);
           })
      .def("concat", &PlanHandle::concat, py::arg("input"), py::arg("input2"), py::arg("output"), py::arg("rows"),
           py::arg("first"), py::arg("second"))
      .def("dense",
           [](PlanHandle& h, int input, int output, int64_t rows, const py::array& w, const py::object& b,
              const std::string& activation, double slope) {
             h.dense(input, output, rows, w, b, activation, slope);
             h.keep_.push_back(w);
           })
      .def("pool2d", &PlanHandle::pool2d)
      .def("global_avg_pool", &PlanHandle::global_avg_pool)
      .def("resample", &PlanHandle::resample)
      .def("activation", &PlanHandle::activation)
      .def("softmax", &PlanHandle::softmax)
      .def("add", &PlanHandle::sum, py::arg("input"), py::arg("input2"), py::arg("output"), py::arg("size"),
           py::arg("activation"), py::arg("slope"))
      .def("batch_norm",
           [](PlanHandle& h, int input, int output, int64_t outer, int64_t channels, int64_t inner,
              const py::array& scale, const py::array& shift, const std::string& activation, double slope) {
             h.batch_norm(input, output, outer, channels, inner, scale, shift, activation, slope);
             h.keep_.push_back(scale);
             h.keep_.push_back(shift);
           })
      .def("run", &PlanHandle::run, py::arg("x"), py::arg("out"))
      .def_property_readonly("steps", &PlanHandle::steps)
      .def_property_readonly("arena_elements", &PlanHandle::arena_elements)
      .def_property_readonly("dtype", &PlanHandle::dtype)
      .def_property_readonly("packed_bytes", &PlanHandle::packed_bytes);
}

}  // namespace fastcnn

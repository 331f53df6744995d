// pybind11 glue of the separable resampling op (ops/resample2d.h) under
// upsample2d and pad2d. fastcnn/resize.py makes the index tables; they are
// checked here against the input's sizes, so a bad table is a ValueError,
// never a read outside the image.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "binding_helpers.h"
#include "ops/resample2d.h"

namespace fastcnn {
namespace {

using namespace binding;

}  // namespace

ResampleAxis resample_axis_from(const IndexTable& lo, const IndexTable& hi, const WeightTable& weight, int64_t in_size,
                                bool bilinear, const char* name) {
  if (lo.ndim() != 1 || hi.ndim() != 1 || weight.ndim() != 1 || hi.shape(0) != lo.shape(0) ||
      weight.shape(0) != lo.shape(0))
    throw py::value_error(std::string(name) + " tables must be 1-D and of one length");
  if (!aligned(lo) || !aligned(hi) || !aligned(weight))
    throw py::value_error(std::string(name) + " tables must be aligned to their element size");
  ResampleAxis a;
  a.lo.assign(lo.data(), lo.data() + lo.shape(0));
  a.hi.assign(hi.data(), hi.data() + hi.shape(0));
  a.weight.assign(weight.data(), weight.data() + weight.shape(0));
  const int64_t lowest = bilinear ? 0 : -1;
  for (int64_t k = 0; k < a.size(); ++k)
    if (a.lo[k] < lowest || a.lo[k] >= in_size || a.hi[k] < lowest || a.hi[k] >= in_size)
      throw py::value_error(std::string(name) + " index " + std::to_string(a.lo[k]) + " outside the input's " +
                            std::to_string(in_size));
  return a;
}

namespace {

Resample2d geometry(const py::array& a, const char* name, bool channels_last) {
  require_float(a, name);
  if (a.ndim() != 4) throw py::value_error(std::string(name) + " must be 4-D, got " + shape_str(a));
  Resample2d r;
  r.batch = a.shape(0);
  r.channels = a.shape(channels_last ? 3 : 1);
  r.channels_last = channels_last;
  return r;
}

std::vector<int64_t> shape_for(const Resample2d& r, int64_t h, int64_t w) {
  return r.channels_last ? std::vector<int64_t>{r.batch, h, w, r.channels}
                         : std::vector<int64_t>{r.batch, r.channels, h, w};
}

py::array resample2d_py(const py::array& x, const IndexTable& row_lo, const IndexTable& row_hi,
                        const WeightTable& row_weight, const IndexTable& col_lo, const IndexTable& col_hi,
                        const WeightTable& col_weight, bool bilinear, double fill, bool channels_last) {
  Resample2d r = geometry(x, "x", channels_last);
  r.in_h = x.shape(channels_last ? 1 : 2);
  r.in_w = x.shape(channels_last ? 2 : 3);
  r.bilinear = bilinear;
  r.fill = fill;
  r.rows = resample_axis_from(row_lo, row_hi, row_weight, r.in_h, bilinear, "row");
  r.cols = resample_axis_from(col_lo, col_hi, col_weight, r.in_w, bilinear, "column");
  if (!bilinear) r.col_run = column_run(r.cols);
  const auto shape = shape_for(r, r.out_h(), r.out_w());
  py::array out = is_f32(x) ? py::array(empty<float>(shape)) : py::array(empty<double>(shape));
  py::gil_scoped_release release;
  if (is_f32(x))
    resample2d_forward<float>(r, data<float>(x), mutable_data<float>(out));
  else
    resample2d_forward<double>(r, data<double>(x), mutable_data<double>(out));
  return out;
}

py::array resample2d_backward_py(const py::array& dout, const IndexTable& row_lo, const IndexTable& row_hi,
                                 const WeightTable& row_weight, const IndexTable& col_lo, const IndexTable& col_hi,
                                 const WeightTable& col_weight, bool bilinear, int64_t in_h, int64_t in_w,
                                 bool channels_last) {
  Resample2d r = geometry(dout, "dout", channels_last);
  if (in_h < 0 || in_w < 0) throw py::value_error("in_h and in_w must be >= 0");
  r.in_h = in_h;
  r.in_w = in_w;
  r.bilinear = bilinear;
  r.rows = resample_axis_from(row_lo, row_hi, row_weight, in_h, bilinear, "row");
  r.cols = resample_axis_from(col_lo, col_hi, col_weight, in_w, bilinear, "column");
  if (dout.shape(channels_last ? 1 : 2) != r.out_h() || dout.shape(channels_last ? 2 : 3) != r.out_w())
    throw py::value_error("dout " + shape_str(dout) + " does not have the tables' output size (" +
                          std::to_string(r.out_h()) + ", " + std::to_string(r.out_w()) + ")");
  const auto shape = shape_for(r, in_h, in_w);
  py::array dx = is_f32(dout) ? py::array(empty<float>(shape)) : py::array(empty<double>(shape));
  py::gil_scoped_release release;
  if (is_f32(dout))
    resample2d_backward<float>(r, data<float>(dout), mutable_data<float>(dx));
  else
    resample2d_backward<double>(r, data<double>(dout), mutable_data<double>(dx));
  return dx;
}

}  // namespace

void bind_resample(py::module_& m) {
  m.def("resample2d", &resample2d_py, py::arg("x"), py::arg("row_lo"), py::arg("row_hi"), py::arg("row_weight"),
        py::arg("col_lo"), py::arg("col_hi"), py::arg("col_weight"), py::arg("bilinear"), py::arg("fill"),
        py::arg("channels_last"));
  m.def("resample2d_backward", &resample2d_backward_py, py::arg("dout"), py::arg("row_lo"), py::arg("row_hi"),
        py::arg("row_weight"), py::arg("col_lo"), py::arg("col_hi"), py::arg("col_weight"), py::arg("bilinear"),
        py::arg("in_h"), py::arg("in_w"), py::arg("channels_last"));
}

}  // namespace fastcnn

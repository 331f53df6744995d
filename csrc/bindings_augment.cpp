// pybind11 glue of the augmentation ops (ops/augment.h). Arrays arrive
// contiguous from fastcnn/functional.py; shapes and dtypes are checked again
// here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "binding_helpers.h"
#include "ops/augment.h"

namespace fastcnn {
namespace {

using namespace binding;

ImageBatch image_batch(const py::array& x, bool channels_last) {
  require_float(x, "x");
  if (x.ndim() != 4)
    throw py::value_error(std::string("x must be 4-D ") + (channels_last ? "(N, H, W, C)" : "(N, C, H, W)") + ", got " +
                          shape_str(x));
  return channels_last ? ImageBatch{x.shape(0), x.shape(3), x.shape(1), x.shape(2), true}
                       : ImageBatch{x.shape(0), x.shape(1), x.shape(2), x.shape(3), false};
}

// A C-contiguous per-image parameter array of `dtype` with shape (N, width)
// (or (N,) when width is 0).
template <typename P>
const P* per_image(const py::array& a, const char* name, int64_t batch, int64_t width) {
  if (!a.dtype().is(py::dtype::of<P>()))
    throw py::type_error(std::string(name) + " must be " + std::string(py::str(py::dtype::of<P>())) + ", got " +
                         std::string(py::str(a.dtype())));
  const bool shape_ok = width == 0 ? (a.ndim() == 1 && a.shape(0) == batch)
                                   : (a.ndim() == 2 && a.shape(0) == batch && a.shape(1) == width);
  if (!shape_ok)
    throw py::value_error(std::string(name) + " must have shape (" + std::to_string(batch) +
                          (width == 0 ? ",)" : ", " + std::to_string(width) + ")") + ", got " + shape_str(a));
  if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be C-contiguous");
  if (!aligned(a)) throw py::value_error(std::string(name) + " must be aligned to its element size");
  return static_cast<const P*>(a.data());
}

py::array result_for(const py::array& x, const ImageBatch& b, int64_t h, int64_t w) {
  if (h < 0 || w < 0) throw py::value_error("height and width must be >= 0");
  const std::vector<int64_t> shape = b.channels_last ? std::vector<int64_t>{b.batch, h, w, b.channels}
                                                     : std::vector<int64_t>{b.batch, b.channels, h, w};
  return is_f32(x) ? py::array(empty<float>(shape)) : py::array(empty<double>(shape));
}

py::array flip_images_py(const py::array& x, const py::array& flags, bool channels_last) {
  const ImageBatch b = image_batch(x, channels_last);
  const uint8_t* f = per_image<uint8_t>(flags, "flags", b.batch, 0);
  py::array out = result_for(x, b, b.height, b.width);
  py::gil_scoped_release release;
  if (is_f32(x))
    flip_images<float>(b, data<float>(x), f, mutable_data<float>(out));
  else
    flip_images<double>(b, data<double>(x), f, mutable_data<double>(out));
  return out;
}

py::array crop_images_py(const py::array& x, const py::array& corners, int64_t height, int64_t width, double fill,
                         bool channels_last) {
  const ImageBatch b = image_batch(x, channels_last);
  const int64_t* c = per_image<int64_t>(corners, "corners", b.batch, 2);
  py::array out = result_for(x, b, height, width);
  py::gil_scoped_release release;
  if (is_f32(x))
    crop_images<float>(b, data<float>(x), c, height, width, static_cast<float>(fill), mutable_data<float>(out));
  else
    crop_images<double>(b, data<double>(x), c, height, width, fill, mutable_data<double>(out));
  return out;
}

FillMode fill_mode_named(const std::string& name) {
  if (name == "constant") return FillMode::constant;
  if (name == "reflect") return FillMode::reflect;
  if (name == "wrap") return FillMode::wrap;
  if (name == "nearest") return FillMode::nearest;
  throw py::value_error("fill_mode must be one of 'constant', 'reflect', 'wrap', 'nearest', got '" + name + "'");
}

Interpolation interpolation_named(const std::string& name) {
  if (name == "bilinear") return Interpolation::bilinear;
  if (name == "nearest") return Interpolation::nearest;
  throw py::value_error("interpolation must be 'bilinear' or 'nearest', got '" + name + "'");
}

py::array warp_affine_py(const py::array& x, const py::array& maps, int64_t height, int64_t width,
                         const std::string& interpolation, const std::string& fill_mode, double fill,
                         bool channels_last) {
  const ImageBatch b = image_batch(x, channels_last);
  if (b.height <= 0 || b.width <= 0)
    throw py::value_error("x must have a positive height and width to be warped, got " + shape_str(x));
  const double* m = per_image<double>(maps, "maps", b.batch, 6);
  const Interpolation interp = interpolation_named(interpolation);
  const FillMode mode = fill_mode_named(fill_mode);
  py::array out = result_for(x, b, height, width);
  py::gil_scoped_release release;
  if (is_f32(x))
    warp_images<float>(b, data<float>(x), m, height, width, interp, mode, static_cast<float>(fill),
                       mutable_data<float>(out));
  else
    warp_images<double>(b, data<double>(x), m, height, width, interp, mode, fill, mutable_data<double>(out));
  return out;
}

py::array adjust_images_py(const py::array& x, const py::array& contrast, const py::array& brightness, bool clip,
                           double low, double high, bool channels_last) {
  const ImageBatch b = image_batch(x, channels_last);
  const double* c = per_image<double>(contrast, "contrast", b.batch, 0);
  const double* s = per_image<double>(brightness, "brightness", b.batch, 0);
  if (clip && !(low <= high)) throw py::value_error("value range must have low <= high");
  py::array out = result_for(x, b, b.height, b.width);
  py::gil_scoped_release release;
  if (is_f32(x))
    adjust_images<float>(b, data<float>(x), c, s, clip, low, high, mutable_data<float>(out));
  else
    adjust_images<double>(b, data<double>(x), c, s, clip, low, high, mutable_data<double>(out));
  return out;
}

}  // namespace

void bind_augment(py::module_& m) {
  m.def("flip_images", &flip_images_py, py::arg("x"), py::arg("flags"), py::arg("channels_last") = false);
  m.def("crop_images", &crop_images_py, py::arg("x"), py::arg("corners"), py::arg("height"), py::arg("width"),
        py::arg("fill") = 0.0, py::arg("channels_last") = false);
  m.def("warp_affine", &warp_affine_py, py::arg("x"), py::arg("maps"), py::arg("height"), py::arg("width"),
        py::arg("interpolation") = "bilinear", py::arg("fill_mode") = "reflect", py::arg("fill") = 0.0,
        py::arg("channels_last") = false);
  m.def("adjust_images", &adjust_images_py, py::arg("x"), py::arg("contrast"), py::arg("brightness"),
        py::arg("clip") = false, py::arg("low") = 0.0, py::arg("high") = 0.0, py::arg("channels_last") = false);
}

}  // namespace fastcnn

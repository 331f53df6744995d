// pybind11 glue: NumPy arrays in and out, GIL released while kernels run.
// Arguments arrive normalised by fastcnn/functional.py; everything is
// checked again here so a direct call into _C cannot crash the interpreter.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/conv2d.h"
#include "ops/conv_plan.h"
#include "ops/blocking.h"
#include "ops/cpu.h"
#include "ops/grain.h"
#include "ops/matmul.h"
#include "ops/output_buffer.h"
#include "ops/pool2d.h"
#include "ops/thread_pool.h"
#include "binding_helpers.h"

namespace py = pybind11;
using namespace fastcnn;

namespace {

using namespace binding;

template <typename T>
bool all_finite_values(const T* a, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(a[i])) return false;
  return true;
}

// ------------------------------------------------------------- convolution

// (N, C, H, W), or (N, H, W, C) for channels-last ops.
std::vector<int64_t> activation_shape(const Conv2dParams& p, int64_t c, int64_t h, int64_t w) {
  if (p.channels_last) return {p.batch, h, w, c};
  return {p.batch, c, h, w};
}

template <typename T>
py::array conv_forward_typed(const Conv2dParams& p, const py::array& x, const py::array& w, const py::object& b,
                             ConvAlgorithm algorithm) {
  py::array out = empty<T>(activation_shape(p, p.out_channels, p.out_h, p.out_w));
  const T* bias = nullptr;
  py::array bias_arr;
  if (!b.is_none()) {
    bias_arr = py::array::ensure(b);
    if (!bias_arr || !bias_arr.dtype().is(x.dtype()) || bias_arr.ndim() != 1 || bias_arr.shape(0) != p.out_channels ||
        !(bias_arr.flags() & py::array::c_style) || !aligned(bias_arr))
      throw py::value_error("b must be a contiguous 1-D array of " + std::to_string(p.out_channels) +
                            " values with x's dtype");
    bias = data<T>(bias_arr);
  }
  T* o = mutable_data<T>(out);
  {
    py::gil_scoped_release release;
    conv2d_forward<T>(p, data<T>(x), data<T>(w), bias, o, algorithm);
  }
  return out;
}

ConvAlgorithm conv_algorithm(const Conv2dParams& p, const std::string& name, bool weight_gradient) {
  ConvAlgorithm a;
  if (name == "auto")
    a = ConvAlgorithm::automatic;
  else if (name == "gemm")
    a = ConvAlgorithm::gemm;
  else if (name == "winograd")
    a = ConvAlgorithm::winograd;
  else if (name == "direct")
    a = ConvAlgorithm::direct;
  else
    throw py::value_error("algorithm must be 'auto', 'gemm', 'winograd' or 'direct', got '" + name + "'");
  check_conv2d_algorithm(p, a, weight_gradient);
  return a;
}

Conv2dParams conv_params(const py::array& x, const py::array& w, int64_t sh, int64_t sw, int64_t pt, int64_t pb,
                         int64_t pl, int64_t pr, int64_t dh, int64_t dw, int64_t groups, bool channels_last) {
  require_float(x, "x");
  require_float(w, "w");
  require_same_dtype(x, "x", w, "w");
  return make_conv2d_params(shape_of(x), shape_of(w), sh, sw, pt, pb, pl, pr, dh, dw, groups, channels_last);
}

py::array conv2d_forward_py(const py::array& x, const py::array& w, const py::object& b, int64_t sh, int64_t sw,
                            int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw, int64_t groups,
                            const std::string& algorithm, bool channels_last) {
  const Conv2dParams p = conv_params(x, w, sh, sw, pt, pb, pl, pr, dh, dw, groups, channels_last);
  const ConvAlgorithm a = conv_algorithm(p, algorithm, false);
  return is_f32(x) ? conv_forward_typed<float>(p, x, w, b, a) : conv_forward_typed<double>(p, x, w, b, a);
}

// Which path the planner takes for one pass of this convolution and every
// candidate's verdict (fastcnn.explain). x_shape is in the native layout
// (NCHW, or NHWC with channels_last); w's values matter to backward-data
// (non-finite weights keep to col2im).
py::dict explain_conv2d_py(const std::string& pass_name, const std::vector<int64_t>& x_shape, const py::array& w,
                           int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh,
                           int64_t dw, int64_t groups, const std::string& algorithm, bool channels_last) {
  require_float(w, "w");
  ConvPass pass;
  if (pass_name == "forward")
    pass = ConvPass::forward;
  else if (pass_name == "backward_data")
    pass = ConvPass::backward_data;
  else if (pass_name == "backward_weight")
    pass = ConvPass::backward_weight;
  else
    throw py::value_error("pass must be 'forward', 'backward_data' or 'backward_weight', got '" + pass_name + "'");
  ConvPlanRequest request;
  request.pass = pass;
  request.p = make_conv2d_params(x_shape, shape_of(w), sh, sw, pt, pb, pl, pr, dh, dw, groups, channels_last);
  request.algorithm = conv_algorithm(request.p, algorithm, pass == ConvPass::backward_weight);
  request.element_bytes = static_cast<int>(w.itemsize());
  request.announce = false;
  const bool finite =
      is_f32(w) ? all_finite_values(data<float>(w), w.size()) : all_finite_values(data<double>(w), w.size());
  request.weights_finite = [finite] { return finite; };
  std::vector<ConvVerdict> verdicts;
  const ConvPath path = plan_conv2d(request, &verdicts);
  py::list candidates;
  std::string why;
  bool chosen_seen = false;
  for (const ConvVerdict& v : verdicts) {
    const bool chosen = !chosen_seen && v.path == path && v.applies && v.prefers;
    if (chosen) {
      chosen_seen = true;
      why = v.why;
    }
    py::dict c;
    c["path"] = conv_path_name(v.path);
    c["applies"] = v.applies;
    c["preferred"] = v.prefers;
    c["chosen"] = chosen;
    c["why"] = v.why;
    candidates.append(c);
  }
  py::dict result;
  result["pass"] = conv_pass_name(pass);
  result["path"] = conv_path_name(path);
  result["why"] = why;
  result["candidates"] = candidates;
  return result;
}

template <typename T>
py::tuple conv_backward_typed(const Conv2dParams& p, const py::array& dout, const py::array& x, const py::array& w,
                              bool need_dx, bool need_dw, bool need_db, ConvAlgorithm algorithm) {
  py::object dx = py::none(), dw = py::none(), db = py::none();
  py::array dx_a, dw_a, db_a;
  if (need_dx) dx = dx_a = empty<T>(activation_shape(p, p.in_channels, p.in_h, p.in_w));
  if (need_dw) dw = dw_a = empty<T>({p.out_channels, p.in_per_group(), p.kernel_h, p.kernel_w});
  if (need_db) db = db_a = empty<T>({p.out_channels});
  T* dx_p = need_dx ? mutable_data<T>(dx_a) : nullptr;
  T* dw_p = need_dw ? mutable_data<T>(dw_a) : nullptr;
  T* db_p = need_db ? mutable_data<T>(db_a) : nullptr;
  {
    py::gil_scoped_release release;
    if (dx_p) conv2d_backward_data<T>(p, data<T>(dout), data<T>(w), dx_p, algorithm);
    if (dw_p) conv2d_backward_weight<T>(p, data<T>(dout), data<T>(x), dw_p, algorithm);
    if (db_p) conv2d_backward_bias<T>(p, data<T>(dout), db_p);
  }
  return py::make_tuple(dx, dw, db);
}

py::tuple conv2d_backward_py(const py::array& dout, const py::array& x, const py::array& w, int64_t sh, int64_t sw,
                             int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw, int64_t groups,
                             bool need_dx, bool need_dw, bool need_db, const std::string& algorithm,
                             bool channels_last) {
  const Conv2dParams p = conv_params(x, w, sh, sw, pt, pb, pl, pr, dh, dw, groups, channels_last);
  const ConvAlgorithm a = conv_algorithm(p, algorithm, need_dw);
  require_float(dout, "dout");
  require_same_dtype(dout, "dout", x, "x");
  const std::vector<int64_t> expected = activation_shape(p, p.out_channels, p.out_h, p.out_w);
  if (shape_of(dout) != expected) {
    std::string e = "(";
    for (size_t i = 0; i < expected.size(); ++i) e += (i ? ", " : "") + std::to_string(expected[i]);
    throw py::value_error("dout must have the output shape " + e + "), got " + shape_str(dout));
  }
  return is_f32(x) ? conv_backward_typed<float>(p, dout, x, w, need_dx, need_dw, need_db, a)
                   : conv_backward_typed<double>(p, dout, x, w, need_dx, need_dw, need_db, a);
}

// ------------------------------------------------------------------ matmul

// A 2-D float array read through its strides (views need no copy).
template <typename T>
MatrixView<const T> matrix_view(const py::array& a, const char* name) {
  for (int d = 0; d < 2; ++d)
    if (a.strides(d) % static_cast<py::ssize_t>(sizeof(T)))
      throw py::value_error(std::string(name) + "'s strides must be whole elements");
  // Signed division: a negative stride divided by sizeof (unsigned) became
  // 2^62 - 1 and only wrapped back to -1 in the pointer arithmetic.
  const auto size = static_cast<int64_t>(sizeof(T));
  return {static_cast<const T*>(a.data()), static_cast<int64_t>(a.strides(0)) / size,
          static_cast<int64_t>(a.strides(1)) / size};
}

template <typename T>
py::array matmul_typed(const py::array& a, const py::array& b) {
  const int64_t m = a.shape(0), k = a.shape(1), n = b.shape(1);
  py::array_t<T> c = empty<T>({m, n});
  const MatrixView<const T> av = matrix_view<T>(a, "a"), bv = matrix_view<T>(b, "b");
  const MatrixView<T> cv{c.mutable_data(), n, 1};
  {
    py::gil_scoped_release release;
    matmul<T>(m, n, k, av, bv, cv);
  }
  return c;
}

py::array matmul_py(const py::array& a, const py::array& b) {
  for (const auto& [arr, name] : {std::pair<const py::array&, const char*>{a, "a"}, {b, "b"}}) {
    const bool f32 = arr.dtype().is(py::dtype::of<float>()), f64 = arr.dtype().is(py::dtype::of<double>());
    if (!f32 && !f64)
      throw py::type_error(std::string(name) + " must be float32 or float64, got dtype " +
                           std::string(py::str(arr.dtype())));
    if (arr.ndim() != 2) throw py::value_error(std::string(name) + " must be 2-D, got shape " + shape_str(arr));
    if (!aligned(arr)) throw py::value_error(std::string(name) + " must be aligned to its element size");
  }
  require_same_dtype(a, "a", b, "b");
  if (a.shape(1) != b.shape(0))
    throw py::value_error("a " + shape_str(a) + " and b " + shape_str(b) +
                          " do not chain: a's columns must equal b's rows");
  return is_f32(a) ? matmul_typed<float>(a, b) : matmul_typed<double>(a, b);
}

// ----------------------------------------------------------------- pooling

PoolWindow pool_window(int64_t in_h, int64_t in_w, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt,
                       int64_t pb, int64_t pl, int64_t pr, int64_t oh, int64_t ow, bool count_include_pad) {
  PoolWindow win{in_h, in_w, oh, ow, kh, kw, sh, sw, pt, pb, pl, pr, count_include_pad};
  check_pool_window(win);
  return win;
}

// The pooled tensor's layout: (N, C, H, W) or, channels-last, (N, H, W, C).
struct PoolLayout {
  bool channels_last;
  int64_t batch, channels, h, w;

  PoolLayout(const py::array& a, const char* name, bool last) : channels_last(last) {
    if (a.ndim() != 4)
      throw py::value_error(std::string(name) + " must be 4-D " + (last ? "(N, H, W, C)" : "(N, C, H, W)") +
                            ", got shape " + shape_str(a));
    batch = a.shape(0);
    channels = a.shape(last ? 3 : 1);
    h = a.shape(last ? 1 : 2);
    w = a.shape(last ? 2 : 3);
  }
  std::vector<int64_t> shape(int64_t hh, int64_t ww) const {
    if (channels_last) return {batch, hh, ww, channels};
    return {batch, channels, hh, ww};
  }
};

template <typename T>
py::array max_forward_typed(const py::array& x, const PoolLayout& l, const PoolWindow& win, int64_t* idx) {
  py::array out = empty<T>(l.shape(win.out_h, win.out_w));
  T* o = mutable_data<T>(out);
  {
    py::gil_scoped_release release;
    if (l.channels_last)
      max_pool2d_forward_nhwc<T>(win, l.batch, l.channels, data<T>(x), o, idx);
    else
      max_pool2d_forward<T>(win, l.batch * l.channels, data<T>(x), o, idx);
  }
  return out;
}

py::tuple max_pool2d_forward_py(const py::array& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt,
                                int64_t pb, int64_t pl, int64_t pr, int64_t oh, int64_t ow, bool want_indices,
                                bool channels_last) {
  require_float(x, "x");
  const PoolLayout l(x, "x", channels_last);
  const PoolWindow win = pool_window(l.h, l.w, kh, kw, sh, sw, pt, pb, pl, pr, oh, ow, true);
  py::object indices = py::none();
  int64_t* idx = nullptr;
  if (want_indices) {
    py::array idx_a = empty<int64_t>(l.shape(oh, ow));
    idx = mutable_data<int64_t>(idx_a);
    indices = idx_a;
  }
  py::array out = is_f32(x) ? max_forward_typed<float>(x, l, win, idx) : max_forward_typed<double>(x, l, win, idx);
  return py::make_tuple(out, indices);
}

template <typename T>
py::array max_pool_backward_typed(const py::array& dout, const py::array& indices, int64_t planes, int64_t in_plane,
                                  int64_t out_plane, std::vector<int64_t> shape, int64_t channels_last_channels = 0) {
  py::array dx = empty<T>(shape);
  T* d = mutable_data<T>(dx);
  bool ok;
  {
    py::gil_scoped_release release;
    ok = channels_last_channels
             ? max_pool2d_backward_nhwc<T>(planes, channels_last_channels, in_plane, out_plane, data<T>(dout),
                                           data<int64_t>(indices), d)
             : max_pool2d_backward<T>(planes, in_plane, out_plane, data<T>(dout), data<int64_t>(indices), d);
  }
  if (!ok) throw py::value_error("indices must lie in [0, H*W) of their input plane");
  return dx;
}

py::array max_pool2d_backward_py(const py::array& dout, const py::array& indices, int64_t in_h, int64_t in_w,
                                 bool channels_last) {
  require_float(dout, "dout");
  const PoolLayout l(dout, "dout", channels_last);
  if (!indices.dtype().is(py::dtype::of<int64_t>()) || !(indices.flags() & py::array::c_style) || !aligned(indices) ||
      shape_of(indices) != shape_of(dout))
    throw py::value_error("indices must be a contiguous, aligned int64 array shaped like dout " + shape_str(dout));
  if (in_h <= 0 || in_w <= 0 || in_h > (int64_t{1} << 31) || in_w > (int64_t{1} << 31))
    throw py::value_error("in_h and in_w must be positive and at most 2**31, got in_h=" + std::to_string(in_h) +
                          ", in_w=" + std::to_string(in_w));
  const std::vector<int64_t> shape = l.shape(in_h, in_w);
  const int64_t out_plane = l.h * l.w;
  if (channels_last)
    return is_f32(dout)
               ? max_pool_backward_typed<float>(dout, indices, l.batch, in_h * in_w, out_plane, shape, l.channels)
               : max_pool_backward_typed<double>(dout, indices, l.batch, in_h * in_w, out_plane, shape, l.channels);
  const int64_t planes = l.batch * l.channels;
  return is_f32(dout) ? max_pool_backward_typed<float>(dout, indices, planes, in_h * in_w, out_plane, shape)
                      : max_pool_backward_typed<double>(dout, indices, planes, in_h * in_w, out_plane, shape);
}

template <typename T>
py::array avg_forward_typed(const py::array& x, const PoolLayout& l, const PoolWindow& win) {
  py::array out = empty<T>(l.shape(win.out_h, win.out_w));
  T* o = mutable_data<T>(out);
  {
    py::gil_scoped_release release;
    if (l.channels_last)
      avg_pool2d_forward_nhwc<T>(win, l.batch, l.channels, data<T>(x), o);
    else
      avg_pool2d_forward<T>(win, l.batch * l.channels, data<T>(x), o);
  }
  return out;
}

py::array avg_pool2d_forward_py(const py::array& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt,
                                int64_t pb, int64_t pl, int64_t pr, int64_t oh, int64_t ow, bool count_include_pad,
                                bool channels_last) {
  require_float(x, "x");
  const PoolLayout l(x, "x", channels_last);
  const PoolWindow win = pool_window(l.h, l.w, kh, kw, sh, sw, pt, pb, pl, pr, oh, ow, count_include_pad);
  return is_f32(x) ? avg_forward_typed<float>(x, l, win) : avg_forward_typed<double>(x, l, win);
}

template <typename T>
py::array avg_backward_typed(const py::array& dout, const PoolLayout& l, const PoolWindow& win) {
  py::array dx = empty<T>(l.shape(win.in_h, win.in_w));
  T* d = mutable_data<T>(dx);
  {
    py::gil_scoped_release release;
    if (l.channels_last)
      avg_pool2d_backward_nhwc<T>(win, l.batch, l.channels, data<T>(dout), d);
    else
      avg_pool2d_backward<T>(win, l.batch * l.channels, data<T>(dout), d);
  }
  return dx;
}

py::array avg_pool2d_backward_py(const py::array& dout, int64_t in_h, int64_t in_w, int64_t kh, int64_t kw, int64_t sh,
                                 int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, bool count_include_pad,
                                 bool channels_last) {
  require_float(dout, "dout");
  const PoolLayout l(dout, "dout", channels_last);
  const PoolWindow win = pool_window(in_h, in_w, kh, kw, sh, sw, pt, pb, pl, pr, l.h, l.w, count_include_pad);
  return is_f32(dout) ? avg_backward_typed<float>(dout, l, win) : avg_backward_typed<double>(dout, l, win);
}

// ---------------------------------------------------------- global pooling

void require_rows(const py::array& x) {
  require_float(x, "x");
  if (x.ndim() != 2 || x.shape(0) <= 0 || x.shape(1) <= 0)
    throw py::value_error("x must be 2-D (rows, size) with positive sizes, got " + shape_str(x));
}

template <typename T>
py::array global_avg_typed(const py::array& x) {
  py::array out = empty<T>({x.shape(0)});
  T* o = mutable_data<T>(out);
  {
    py::gil_scoped_release release;
    global_avg_pool_forward<T>(x.shape(0), x.shape(1), data<T>(x), o);
  }
  return out;
}

py::array global_avg_pool_forward_py(const py::array& x) {
  require_rows(x);
  return is_f32(x) ? global_avg_typed<float>(x) : global_avg_typed<double>(x);
}

template <typename T>
py::array global_avg_backward_typed(const py::array& dout, int64_t size) {
  py::array dx = empty<T>({dout.shape(0), size});
  T* d = mutable_data<T>(dx);
  {
    py::gil_scoped_release release;
    global_avg_pool_backward<T>(dout.shape(0), size, data<T>(dout), d);
  }
  return dx;
}

py::array global_avg_pool_backward_py(const py::array& dout, int64_t size) {
  require_float(dout, "dout");
  if (dout.ndim() != 1) throw py::value_error("dout must be 1-D, got shape " + shape_str(dout));
  if (size <= 0 || size > (int64_t{1} << 58))
    throw py::value_error("size must be in [1, 2**58], got " + std::to_string(size));
  return is_f32(dout) ? global_avg_backward_typed<float>(dout, size) : global_avg_backward_typed<double>(dout, size);
}

template <typename T>
py::tuple global_max_typed(const py::array& x) {
  py::array out = empty<T>({x.shape(0)});
  py::array idx = empty<int64_t>({x.shape(0)});
  T* o = mutable_data<T>(out);
  int64_t* i = mutable_data<int64_t>(idx);
  {
    py::gil_scoped_release release;
    global_max_pool_forward<T>(x.shape(0), x.shape(1), data<T>(x), o, i);
  }
  return py::make_tuple(out, idx);
}

py::tuple global_max_pool_forward_py(const py::array& x) {
  require_rows(x);
  return is_f32(x) ? global_max_typed<float>(x) : global_max_typed<double>(x);
}

py::array global_max_pool_backward_py(const py::array& dout, const py::array& indices, int64_t size) {
  require_float(dout, "dout");
  if (dout.ndim() != 1) throw py::value_error("dout must be 1-D, got shape " + shape_str(dout));
  if (size <= 0 || size > (int64_t{1} << 58))
    throw py::value_error("size must be in [1, 2**58], got " + std::to_string(size));
  if (!indices.dtype().is(py::dtype::of<int64_t>()) || indices.ndim() != 1 || indices.shape(0) != dout.shape(0) ||
      !(indices.flags() & py::array::c_style) || !aligned(indices))
    throw py::value_error("indices must be a contiguous 1-D int64 array shaped like dout");
  // One "plane" per row with a single output: the max-pool scatter.
  const std::vector<int64_t> shape{dout.shape(0), size};
  return is_f32(dout) ? max_pool_backward_typed<float>(dout, indices, dout.shape(0), size, 1, shape)
                      : max_pool_backward_typed<double>(dout, indices, dout.shape(0), size, 1, shape);
}

py::dict pool_stats_py() {
  const PoolStats s = pool_stats();
  py::dict d;
  d["regions"] = s.regions;
  d["inline_regions"] = s.inline_regions;
  d["slots_run_by_caller"] = s.slots_run_by_caller;
  d["slots_run_by_workers"] = s.slots_run_by_workers;
  d["caller_sleeps"] = s.caller_sleeps;
  d["worker_sleeps"] = s.worker_sleeps;
  d["spins_cut_short"] = s.spins_cut_short;
  d["workers"] = s.workers;
  return d;
}

py::dict cpu_info_py() {
  py::dict d;
  d["isa"] = active_kernels().isa;
  d["supported_isas"] = supported_isas();
  d["num_threads"] = num_threads();
  d["cpu"] = cpu_model_name();
  const CacheSizes& c = cache_sizes();
  d["l1d_bytes"] = c.l1d;
  d["l2_bytes"] = c.l2;
  d["l3_bytes"] = c.l3;
  d["streaming_store_bytes"] = streaming_store_bytes();
  const KernelTable& k = active_kernels();
  d["gemm_tile_f32"] = py::make_tuple(k.f32.gemm_mr, k.f32.gemm_nr);
  d["gemm_tile_f64"] = py::make_tuple(k.f64.gemm_mr, k.f64.gemm_nr);
  d["avx512_fma_speedup"] = avx512_fma_speedup();
  d["pool_spin_us"] = pool_spin_us();
  d["threads_backend"] = openmp_team() ? "openmp" : "pool";
  py::dict grains;
  grains["conv_macs"] = serial_grain(OpFamily::conv);
  grains["pool_bytes"] = serial_grain(OpFamily::pool);
  grains["matmul_macs"] = serial_grain(OpFamily::matmul);
  grains["elementwise_bytes"] = serial_grain(OpFamily::elementwise);
  d["serial_grain"] = grains;
  const BlockingContext& b = blocking();
  py::dict budgets;  // the active table's cache budgets in bytes (ops/blocking.h)
  budgets["gemm_panels_l1"] = b.gemm_panels_l1;
  budgets["gemm_b_block_l2"] = b.gemm_b_block_l2;
  budgets["matmul_a_block_l2"] = b.matmul_a_block_l2;
  budgets["implicit_gemm_tile_group_l1"] = b.implicit_gemm_tile_group_l1;
  budgets["pointwise_k_chunk_l1"] = b.pointwise_k_chunk_l1;
  budgets["pointwise_results_l2"] = b.pointwise_results_l2;
  budgets["image_lanes_results_l2"] = b.image_lanes_results_l2;
  budgets["direct_tile_weights_l1"] = b.direct_tile_weights_l1;
  budgets["direct_tile_pass_l1"] = b.direct_tile_pass_l1;
  budgets["direct_tile_all_weights_l2"] = b.direct_tile_all_weights_l2;
  budgets["direct_tile_image_l2"] = b.direct_tile_image_l2;
  budgets["direct_tile_pointwise_image_l2"] = b.direct_tile_pointwise_image_l2;
  budgets["direct_weight_shared_l2"] = b.direct_weight_shared_l2;
  budgets["direct_weight_group_l2"] = b.direct_weight_group_l2;
  budgets["direct_weight_pixels_l2"] = b.direct_weight_pixels_l2;
  budgets["winograd_block_l2"] = b.winograd_block_l2;
  budgets["winograd_v_chunk_l2"] = b.winograd_v_chunk_l2;
  budgets["winograd_v_whole_l2"] = b.winograd_v_whole_l2;
  d["blocking"] = budgets;
  d["pool"] = pool_stats_py();
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastcnn native kernels (see fastcnn.functional for the documented API)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const std::length_error& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });
  m.def("conv2d_forward", &conv2d_forward_py, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("stride_h"),
        py::arg("stride_w"), py::arg("pad_top"), py::arg("pad_bottom"), py::arg("pad_left"), py::arg("pad_right"),
        py::arg("dilation_h"), py::arg("dilation_w"), py::arg("groups"), py::arg("algorithm") = "auto",
        py::arg("channels_last") = false);
  m.def("conv2d_backward", &conv2d_backward_py, py::arg("dout"), py::arg("x"), py::arg("w"), py::arg("stride_h"),
        py::arg("stride_w"), py::arg("pad_top"), py::arg("pad_bottom"), py::arg("pad_left"), py::arg("pad_right"),
        py::arg("dilation_h"), py::arg("dilation_w"), py::arg("groups"), py::arg("need_dx"), py::arg("need_dw"),
        py::arg("need_db"), py::arg("algorithm") = "auto", py::arg("channels_last") = false);
  m.def("matmul", &matmul_py, py::arg("a"), py::arg("b"));
  m.def("explain_conv2d", &explain_conv2d_py, py::arg("pass_name"), py::arg("x_shape"), py::arg("w"),
        py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"), py::arg("pad_bottom"), py::arg("pad_left"),
        py::arg("pad_right"), py::arg("dilation_h"), py::arg("dilation_w"), py::arg("groups"),
        py::arg("algorithm") = "auto", py::arg("channels_last") = false);
  m.def("set_conv_verbose", [](bool on) { set_conv_plan_verbose(on); }, py::arg("on"));
  m.def("conv_verbose", []() { return conv_plan_verbose(); });
  m.def(
      "set_conv_path_override",
      [](const std::string& pass_name, const py::object& path) {
        ConvPass pass;
        if (pass_name == "forward")
          pass = ConvPass::forward;
        else if (pass_name == "backward_data")
          pass = ConvPass::backward_data;
        else if (pass_name == "backward_weight")
          pass = ConvPass::backward_weight;
        else
          throw py::value_error("pass must be 'forward', 'backward_data' or 'backward_weight'");
        ConvPath p = ConvPath::implicit_gemm;
        if (!path.is_none() && !conv_path_named(path.cast<std::string>(), &p))
          throw py::value_error("unknown path '" + path.cast<std::string>() + "'");
        set_conv_path_override(pass, !path.is_none(), p);
      },
      py::arg("pass_name"), py::arg("path"));
  m.def("max_pool2d_forward", &max_pool2d_forward_py, py::arg("x"), py::arg("kernel_h"), py::arg("kernel_w"),
        py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"), py::arg("pad_bottom"), py::arg("pad_left"),
        py::arg("pad_right"), py::arg("out_h"), py::arg("out_w"), py::arg("want_indices"),
        py::arg("channels_last") = false);
  m.def("max_pool2d_backward", &max_pool2d_backward_py, py::arg("dout"), py::arg("indices"), py::arg("in_h"),
        py::arg("in_w"), py::arg("channels_last") = false);
  m.def("avg_pool2d_forward", &avg_pool2d_forward_py, py::arg("x"), py::arg("kernel_h"), py::arg("kernel_w"),
        py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"), py::arg("pad_bottom"), py::arg("pad_left"),
        py::arg("pad_right"), py::arg("out_h"), py::arg("out_w"), py::arg("count_include_pad"),
        py::arg("channels_last") = false);
  m.def("avg_pool2d_backward", &avg_pool2d_backward_py, py::arg("dout"), py::arg("in_h"), py::arg("in_w"),
        py::arg("kernel_h"), py::arg("kernel_w"), py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"),
        py::arg("pad_bottom"), py::arg("pad_left"), py::arg("pad_right"), py::arg("count_include_pad"),
        py::arg("channels_last") = false);
  m.def("global_avg_pool_forward", &global_avg_pool_forward_py);
  m.def("global_avg_pool_backward", &global_avg_pool_backward_py);
  m.def("global_max_pool_forward", &global_max_pool_forward_py);
  m.def("global_max_pool_backward", &global_max_pool_backward_py);
  bind_elementwise(m);
  bind_augment(m);
  bind_resample(m);
  bind_plan(m);
  bind_kernel_test(m);
  m.def("set_num_threads", [](int n) { set_num_threads(n); });
  m.def("set_output_cache_limit", [](size_t bytes) { set_output_cache_limit(bytes); });
  m.def("output_cache_info", []() {
    py::dict d;
    d["limit_bytes"] = output_cache_limit();
    d["cached_bytes"] = output_cache_bytes();
    d["min_array_bytes"] = kOutputCacheMinBytes;
    d["fresh_blocks"] = output_fresh_blocks();
    d["fresh_bytes"] = output_fresh_bytes();
    return d;
  });
  m.def("get_num_threads", []() { return num_threads(); });
  m.def("set_isa", [](const std::string& name) { set_isa(name); });
  m.def("cpu_info", &cpu_info_py);
  m.def("pool_stats", &pool_stats_py);
  m.def("reset_pool_stats", []() { reset_pool_stats(); });
  m.def("set_pool_spin_us", [](int us) { set_pool_spin_us(us); });
  m.def("pool_spin_us", []() { return pool_spin_us(); });
  m.def("set_openmp_team", [](bool on) { set_openmp_team(on); });
  m.def("openmp_team", []() { return openmp_team(); });
  m.def("set_grain_scale", [](double scale) { set_grain_scale(scale); });
  m.def("grain_scale", []() { return grain_scale(); });
  m.def("serial_grain", [](const std::string& family) {
    if (family == "conv") return serial_grain(OpFamily::conv);
    if (family == "pool") return serial_grain(OpFamily::pool);
    if (family == "matmul") return serial_grain(OpFamily::matmul);
    if (family == "elementwise") return serial_grain(OpFamily::elementwise);
    throw py::value_error("family must be 'conv', 'pool', 'matmul' or 'elementwise', got '" + family + "'");
  });
  m.def(
      "fma_peak_gflops",
      [](int threads) {
        py::gil_scoped_release release;
        return fma_peak_gflops(threads);
      },
      py::arg("threads") = 0, "Measured float32 FMA peak (GFLOP/s) of the active ISA.");
  m.def(
      "copy_bandwidth_gbs",
      [](int threads) {
        py::gil_scoped_release release;
        return copy_bandwidth_gbs(threads);
      },
      py::arg("threads") = 0, "Measured memcpy bandwidth (GB/s read + written) over 128 MiB.");
}

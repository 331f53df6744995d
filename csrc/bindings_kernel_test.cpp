// Private bindings for the kernel tester (tests/kernels/test_microkernels*.py):
// each calls one entry of a named ISA's kernel table (kernel_table.h)
// directly on NumPy buffers the test prepares, the way XNNPACK's
// GemmMicrokernelTester or BLIS' test_gemm_ukr drive a microkernel, so each
// kernel is checked against its documented contract on edge shapes, not only
// through the ops that use it. Only the ISAs this CPU supports can be named.
// The checks here keep every access inside the buffers given.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "binding_helpers.h"
#include "kernels/kernel_table.h"
#include "ops/cpu.h"

namespace py = pybind11;

namespace fastcnn {
namespace {

const KernelTable& table_named(const std::string& isa) {
  const std::vector<std::string> ok = supported_isas();
  if (std::find(ok.begin(), ok.end(), isa) == ok.end())
    throw py::value_error("ISA '" + isa + "' is unknown or not supported by this CPU");
  if (isa == "avx512") return kernel_table_avx512();
  if (isa == "avx2") return kernel_table_avx2();
  return kernel_table_generic();
}

// {field: int, or the function's address (None when null)} of one dtype.
template <typename T>
py::dict fields_of(const Kernels<T>& k) {
  py::dict d;
  for_each_kernel_field(k, [&](const std::string& name, const auto& field) {
    using F = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<F, int>)
      d[py::str(name)] = field;
    else if (field)
      d[py::str(name)] = reinterpret_cast<uintptr_t>(field);
    else
      d[py::str(name)] = py::none();
  });
  return d;
}

// The dtype of `a` as a tag: f(float{}) or f(double{}).
template <typename F>
auto by_dtype(const py::array& a, F&& f) {
  if (a.dtype().is(py::dtype::of<float>())) return f(float{});
  if (a.dtype().is(py::dtype::of<double>())) return f(double{});
  throw py::type_error("kernel test buffers must be float32 or float64");
}

// A C-contiguous buffer of T holding at least `need` elements (the most the
// kernel may touch), else a ValueError: a wrong test fails, never crashes.
template <typename T>
void check_buffer(const py::array& a, const char* name, int64_t need) {
  if (!a.dtype().is(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + " must have dtype " + std::string(py::str(py::dtype::of<T>())));
  if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be C-contiguous");
  if (!binding::aligned(a)) throw py::value_error(std::string(name) + " must be aligned to its element size");
  if (need > static_cast<int64_t>(a.size()))
    throw py::value_error(std::string(name) + " holds " + std::to_string(a.size()) + " values; the kernel reaches " +
                          std::to_string(need));
}
template <typename T>
const T* in(const py::array& a, const char* name, int64_t need) {
  check_buffer<T>(a, name, need);
  return static_cast<const T*>(a.data());
}
template <typename T>
T* out(py::array& a, const char* name, int64_t need) {
  check_buffer<T>(a, name, need);
  if (!a.writeable()) throw py::value_error(std::string(name) + " must be writeable");
  return static_cast<T*>(a.mutable_data());
}
template <typename T>
const T* optional_in(const py::object& o, const char* name, int64_t need) {
  if (o.is_none()) return nullptr;
  return in<T>(o.cast<py::array>(), name, need);
}
const int64_t* int64_in(const py::array& a, const char* name, int64_t need) {
  if (!a.dtype().is(py::dtype::of<int64_t>())) throw py::type_error(std::string(name) + " must be int64");
  check_buffer<int64_t>(a, name, need);
  return static_cast<const int64_t*>(a.data());
}
int64_t* int64_out(py::array& a, const char* name, int64_t need) {
  if (!a.dtype().is(py::dtype::of<int64_t>())) throw py::type_error(std::string(name) + " must be int64");
  check_buffer<int64_t>(a, name, need);
  return static_cast<int64_t*>(a.mutable_data());
}
void require(bool ok, const std::string& what) {
  if (!ok) throw py::value_error(what);
}

// ----------------------------------------------------------------- GEMM

template <typename T>
void test_gemm(const std::string& isa, const std::string& kernel, int64_t kc, const py::array& a, const py::array& b,
               py::array& c, int64_t ldc, int accumulate) {
  const Kernels<T>& k = table_named(isa).get<T>();
  int mr;
  GemmMicrokernel<T> f;
  if (kernel == "gemm")
    mr = k.gemm_mr, f = k.gemm;
  else if (kernel == "gemm_narrow")
    mr = k.gemm_narrow_mr, f = k.gemm_narrow;
  else
    throw py::value_error("kernel must be 'gemm' or 'gemm_narrow'");
  const int nr = k.gemm_nr;
  require(kc >= 0 && ldc >= nr, "need kc >= 0 and ldc >= gemm_nr");
  f(kc, in<T>(a, "a", kc * mr), in<T>(b, "b", kc * nr), out<T>(c, "c", (mr - 1) * ldc + nr), ldc, accumulate);
}

template <typename T>
void test_gemm_offset_b(const std::string& isa, const std::string& kernel, int64_t kc, const py::array& a,
                        const py::array& b, const py::array& offset, py::array& c, int64_t ldc, int accumulate) {
  const Kernels<T>& k = table_named(isa).get<T>();
  int mr;
  GemmOffsetB<T> f;
  if (kernel == "gemm_offset_b")
    mr = k.gemm_mr, f = k.gemm_offset_b;
  else if (kernel == "gemm_offset_b_narrow")
    mr = k.gemm_narrow_mr, f = k.gemm_offset_b_narrow;
  else
    throw py::value_error("kernel must be 'gemm_offset_b' or 'gemm_offset_b_narrow'");
  const int nr = k.gemm_nr;
  require(kc >= 0 && ldc >= nr, "need kc >= 0 and ldc >= gemm_nr");
  const int64_t* off = int64_in(offset, "offset", kc);
  for (int64_t i = 0; i < kc; ++i)
    require(off[i] >= 0 && off[i] + nr <= static_cast<int64_t>(b.size()), "offset[k] + gemm_nr must lie in b");
  f(kc, in<T>(a, "a", kc * mr), in<T>(b, "b", 0), off, out<T>(c, "c", (mr - 1) * ldc + nr), ldc, accumulate);
}

template <typename T>
void test_gemm_offset_b_store(const std::string& isa, const std::string& kernel, int64_t kc, const py::array& a,
                              const py::array& b, const py::array& offset, const py::array& c, int64_t ldc,
                              int accumulate, const py::object& bias, int rows, const py::array& store_offset,
                              const py::array& store_mask, py::array& o, int64_t out_row_stride) {
  const Kernels<T>& k = table_named(isa).get<T>();
  int mr;
  GemmOffsetBStore<T> f;
  if (kernel == "gemm_offset_b_store")
    mr = k.gemm_mr, f = k.gemm_offset_b_store;
  else if (kernel == "gemm_offset_b_store_narrow")
    mr = k.gemm_narrow_mr, f = k.gemm_offset_b_store_narrow;
  else
    throw py::value_error("kernel must be 'gemm_offset_b_store' or 'gemm_offset_b_store_narrow'");
  require(f != nullptr, "this table has no " + kernel);
  const int nr = k.gemm_nr, width = nr / TileStores::kVectors;
  require(kc >= 0 && ldc >= nr && rows >= 1 && rows <= mr && out_row_stride >= 0, "bad kc, ldc, rows or stride");
  const int64_t* off = int64_in(offset, "offset", kc);
  for (int64_t i = 0; i < kc; ++i)
    require(off[i] >= 0 && off[i] + nr <= static_cast<int64_t>(b.size()), "offset[k] + gemm_nr must lie in b");
  TileStores to{};
  const int64_t* so = int64_in(store_offset, "store_offset", 2 * TileStores::kVectors);
  if (!store_mask.dtype().is(py::dtype::of<uint32_t>())) throw py::type_error("store_mask must be uint32");
  check_buffer<uint32_t>(store_mask, "store_mask", 2 * TileStores::kVectors);
  const uint32_t* sm = static_cast<const uint32_t*>(store_mask.data());
  int64_t reach = 0;
  for (int v = 0; v < TileStores::kVectors; ++v)
    for (int piece = 0; piece < 2; ++piece) {
      to.offset[v][piece] = so[v * 2 + piece];
      to.mask[v][piece] = sm[v * 2 + piece];
      require(to.mask[v][piece] < (uint64_t{1} << width), "store_mask has bits past the vector width");
      if (to.mask[v][piece]) {
        require(to.offset[v][piece] >= 0, "store_offset must be >= 0");
        const int top = 31 - __builtin_clz(to.mask[v][piece]);
        reach = std::max(reach, (rows - 1) * out_row_stride + to.offset[v][piece] + top + 1);
      }
    }
  f(kc, in<T>(a, "a", kc * mr), in<T>(b, "b", 0), off, in<T>(c, "c", accumulate ? (rows - 1) * ldc + nr : 0), ldc,
    accumulate, optional_in<T>(bias, "bias", rows), rows, to, out<T>(o, "out", reach), out_row_stride);
}

template <typename T>
void test_gemm_strided_b(const std::string& isa, const std::string& kernel, int64_t kc, const py::array& a,
                         const py::array& b, int64_t ldb, py::array& c, int64_t ldc, int rows, int cols, int accumulate,
                         const py::object& bias) {
  const Kernels<T>& k = table_named(isa).get<T>();
  GemmStridedBKernels<T> e;
  if (kernel == "gemm_strided_b")
    e = k.gemm_strided_b;
  else if (kernel == "gemm_strided_b_narrow")
    e = k.gemm_strided_b_narrow;
  else
    throw py::value_error("kernel must be 'gemm_strided_b' or 'gemm_strided_b_narrow'");
  require(kc >= 1 && rows >= 1 && rows <= e.mr && cols >= 1 && cols <= e.nr && ldb >= cols && ldc >= cols,
          "need kc >= 1, 1 <= rows <= mr, 1 <= cols <= nr, ldb and ldc >= cols");
  // Full-width loads of B when cols == nr; B's last row is then read to nr.
  e.tile(kc, in<T>(a, "a", kc * e.mr), in<T>(b, "b", (kc - 1) * ldb + cols), ldb,
         out<T>(c, "c", (rows - 1) * ldc + cols), ldc, rows, cols, accumulate, optional_in<T>(bias, "bias", rows));
}

// ---------------------------------------------------------- direct tiles

template <typename T>
const DirectTileKernels<T>& direct_tile_named(const Kernels<T>& k, const std::string& kernel) {
  if (kernel == "direct_tile") return k.direct_tile;
  if (kernel == "direct_tile_narrow") return k.direct_tile_narrow;
  if (kernel == "direct_tile_wide") return k.direct_tile_wide;
  throw py::value_error("kernel must be 'direct_tile', 'direct_tile_narrow' or 'direct_tile_wide'");
}

template <typename T>
void test_direct_tile(const std::string& isa, const std::string& kernel, const std::vector<int64_t>& count,
                      const std::vector<int64_t>& step, int64_t b_row_skip, int64_t b_outer_skip, const py::array& src,
                      const py::array& offsets, int rows, const py::array& b, py::array& acc, int64_t ld,
                      const py::object& init) {
  const DirectTileKernels<T>* e = &direct_tile_named(table_named(isa).get<T>(), kernel);
  require(count.size() == 3 && step.size() == 3, "count and step take 3 values");
  require(rows >= 1 && rows <= e->max_rows && ld >= e->lanes, "need 1 <= rows <= max_rows and ld >= lanes");
  DirectWalk walk{};
  int64_t reach = 0, b_reach = 0, b_at = 0;
  for (int i = 0; i < 3; ++i) {
    require(count[i] >= 0 && step[i] >= 0, "count and step must be >= 0");
    walk.count[i] = count[i];
    walk.step[i] = step[i];
    if (count[i] > 0) reach += (count[i] - 1) * step[i];
  }
  walk.b_row_skip = b_row_skip;
  walk.b_outer_skip = b_outer_skip;
  require(b_row_skip >= 0 && b_outer_skip >= 0, "skips must be >= 0");
  for (int64_t i0 = 0; i0 < count[0]; ++i0, b_at += b_outer_skip)
    for (int64_t i1 = 0; i1 < count[1]; ++i1, b_at += b_row_skip)
      for (int64_t i2 = 0; i2 < count[2]; ++i2, b_at += e->lanes) b_reach = std::max(b_reach, b_at + e->lanes);
  const int64_t* off = int64_in(offsets, "offsets", e->max_rows);
  const bool empty = count[0] * count[1] * count[2] == 0;
  for (int r = 0; r < rows; ++r)
    require(off[r] >= 0 && (empty || off[r] + reach < static_cast<int64_t>(src.size())), "offsets[r] + walk past src");
  const T* s = in<T>(src, "src", 0);
  const T* bb = in<T>(b, "b", b_reach);
  T* a = out<T>(acc, "acc", (rows - 1) * ld + e->lanes);
  if (init.is_none())
    e->tile(walk, s, off, rows, bb, a, ld);
  else
    e->tile_from(walk, s, off, rows, bb, a, ld, in<T>(init.cast<py::array>(), "init", e->lanes));
}

template <typename T>
void test_direct_store_transposed(const std::string& isa, const std::string& kernel, const py::array& acc, int64_t ld,
                                  int rows, int live, py::array& o, int64_t out_stride) {
  const DirectTileKernels<T>* e = &direct_tile_named(table_named(isa).get<T>(), kernel);
  require(rows >= 1 && rows <= e->max_rows && live >= 1 && live <= e->lanes && out_stride >= rows && ld >= e->lanes,
          "need 1 <= rows <= max_rows, 1 <= live <= lanes, out_stride >= rows, ld >= lanes");
  // The transposes run in blocks of a vector's rows: acc rows up to the next
  // multiple of the vector width may be read.
  e->store_transposed(in<T>(acc, "acc", (e->max_rows + 16) * ld), ld, rows, live,
                      out<T>(o, "out", (live - 1) * out_stride + rows), out_stride);
}

template <typename T>
void test_direct_gather_lanes(const std::string& isa, const std::string& kernel, const py::array& src, int live,
                              int64_t channel_step, int64_t position_step, int64_t positions, py::array& to) {
  const DirectTileKernels<T>& e = direct_tile_named(table_named(isa).get<T>(), kernel);
  require(live >= 0 && live <= e.lanes && channel_step >= 0 && position_step >= 0 && positions >= 0,
          "need 0 <= live <= lanes, steps and positions >= 0");
  // The gathers' lane offsets are 32-bit (kernel_table.h): 15 lanes at most past the first.
  require(channel_step <= INT32_MAX / 15, "channel_step * 15 must fit in int32");
  const int64_t reach = live > 0 && positions > 0 ? (live - 1) * channel_step + (positions - 1) * position_step + 1 : 0;
  e.gather_lanes(in<T>(src, "src", reach), live, channel_step, position_step, positions,
                 out<T>(to, "to", positions * e.lanes), e.lanes);
}

// ------------------------------------------------------- direct column kernel

// conv: (in_channels, pad_h, pad_w, kernel_h, kernel_w, out_h, out_w, out_pixel) of DirectConv.
template <typename T>
void test_direct_rows(const std::string& isa, const std::vector<int64_t>& conv, const py::array& padded,
                      const py::array& w_packed, const py::object& bias, py::array& o, int64_t co_begin, int64_t co_end,
                      int64_t row_begin, int64_t row_end) {
  const DirectKernels<T>& k = table_named(isa).get<T>().direct;
  require(conv.size() == 8, "conv takes (in_channels, pad_h, pad_w, kernel_h, kernel_w, out_h, out_w, out_pixel)");
  for (int64_t v : conv) require(v >= 1, "conv values must be >= 1");
  DirectConv d;
  d.in_channels = conv[0];
  d.pad_h = conv[1];
  d.pad_w = conv[2];
  d.kernel_h = conv[3];
  d.kernel_w = conv[4];
  d.out_h = conv[5];
  d.out_w = conv[6];
  d.out_pixel = conv[7];
  require(0 <= co_begin && co_begin < co_end && co_begin % k.co_block == 0,
          "need 0 <= co_begin < co_end, co_begin a multiple of co_block");
  require(0 <= row_begin && row_begin <= row_end && row_end <= d.out_h, "need 0 <= row_begin <= row_end <= out_h");
  require(d.out_pixel == 1 || d.out_pixel >= co_end, "out_pixel must be 1 (channels-first) or >= co_end");
  // Whole register blocks of `width` columns: a padded row is read up to
  // round_up(out_w, width) + kernel_w - 1, a plane to row row_end + kernel_h - 1.
  const int64_t columns = (d.out_w + k.width - 1) / k.width * k.width;
  require(d.pad_w >= columns + d.kernel_w - 1 && d.pad_h >= row_end + d.kernel_h - 1,
          "pad_w must be >= round_up(out_w, width) + kernel_w - 1 and pad_h >= row_end + kernel_h - 1");
  const int64_t taps = d.in_channels * d.kernel_h * d.kernel_w, blocks = (co_end + k.co_block - 1) / k.co_block;
  const int64_t out_need = d.out_pixel == 1 ? co_end * d.out_h * d.out_w : d.out_h * d.out_w * d.out_pixel;
  k.rows(d, in<T>(padded, "padded", d.in_channels * d.pad_h * d.pad_w),
         in<T>(w_packed, "w_packed", blocks * taps * k.co_block), optional_in<T>(bias, "bias", co_end),
         out<T>(o, "out", out_need), co_begin, co_end, row_begin, row_end);
}

// ---------------------------------------------------------------- Winograd

WinogradTiles tiles_from(const py::dict& d) {
  WinogradTiles g{};
  auto get = [&](const char* name, int64_t dflt, bool required) -> int64_t {
    if (d.contains(name)) return d[name].cast<int64_t>();
    if (required) throw py::value_error(std::string("tiles needs '") + name + "'");
    return dflt;
  };
  g.h = get("h", 0, true);
  g.w = get("w", 0, true);
  g.pad_top = get("pad_top", 0, false);
  g.pad_left = get("pad_left", 0, false);
  g.tiles_x = get("tiles_x", 0, true);
  g.tiles_per_image = get("tiles_per_image", 0, true);
  g.image_stride = get("image_stride", 0, true);
  g.tile = get("tile", 4, false);
  g.image_lanes = get("image_lanes", 0, false);
  g.step = get("step", 1, false);
  g.phase_offset = get("phase_offset", 0, false);
  // The kernels divide by tiles_x and tiles_per_image; planes lie image_stride apart.
  require(g.h >= 1 && g.w >= 1 && g.tiles_x >= 1 && g.tiles_per_image >= 1 && g.tile >= 1 && g.step >= 1 &&
              g.image_stride >= g.h * g.w && g.phase_offset >= 0,
          "tiles: need h, w, tiles_x, tiles_per_image, tile, step >= 1, image_stride >= h * w, phase_offset >= 0");
  return g;
}

template <typename T>
const WinogradKernels<T>& winograd_scheme(const Kernels<T>& k, const std::string& scheme) {
  if (scheme == "f4x3") return k.winograd_f4x3;
  if (scheme == "f4x5") return k.winograd_f4x5;
  if (scheme == "f4x2") return k.winograd_f4x2;
  throw py::value_error("scheme must be 'f4x3', 'f4x5' or 'f4x2'");
}

// The images a tile range touches, for the plane buffers' bounds.
int64_t images_of(const WinogradTiles& g, int64_t tile_end) {
  return g.image_lanes ? (tile_end + 15) / 16 : (tile_end + g.tiles_per_image - 1) / g.tiles_per_image;
}

template <typename T>
void test_winograd_input(const std::string& isa, const std::string& scheme, const std::string& transform,
                         const py::dict& tiles, const py::array& plane, int64_t tile_begin, int64_t count, py::array& v,
                         int64_t local0, int64_t point_stride, int64_t panel_stride, int nr) {
  const Kernels<T>& k = table_named(isa).get<T>();
  const WinogradKernels<T>& w = winograd_scheme(k, scheme);
  const WinogradTiles g = tiles_from(tiles);
  require(g.image_lanes == 0, "image-lane mode is not driven by this tester");
  require(tile_begin >= 0 && count >= 1 && nr >= 1 && local0 >= 0 && local0 % 16 == 0, "bad tile range or nr");
  const int alpha = scheme == "f4x5" ? 8 : (scheme == "f4x3" ? 6 : 5);
  const int64_t points = alpha * alpha;  // per phase for f4x2 (phase_offset apart)
  const int64_t padded = (count + nr - 1) / nr * nr;
  const int64_t last = local0 + (padded + 15) / 16 * 16 - 1;
  const int64_t v_need = (points - 1) * point_stride + (last / nr) * panel_stride + last % nr + 1 +
                         (scheme == "f4x2" ? 3 * g.phase_offset : 0);
  const int64_t plane_need = images_of(g, tile_begin + count) * g.image_stride;
  void (*f)(const WinogradTiles&, const T*, int64_t, int64_t, T*, int64_t, int64_t, int64_t, int);
  if (transform == "input")
    f = w.input;
  else if (transform == "output_gradient")
    f = w.output_gradient;
  else if (transform == "dx_input" && scheme == "f4x2")
    f = k.winograd_f4x2_dx.input;
  else
    throw py::value_error("transform must be 'input', 'output_gradient' or (f4x2) 'dx_input'");
  require(f != nullptr, "this table has no " + scheme + " " + transform);
  f(g, in<T>(plane, "plane", plane_need), tile_begin, count, out<T>(v, "v", v_need), local0, point_stride, panel_stride,
    nr);
}

template <typename T>
void test_winograd_output(const std::string& isa, const std::string& scheme, const py::dict& tiles, const py::array& m,
                          int64_t point_stride, int64_t tile_begin, int64_t count, double bias, py::array& plane) {
  const Kernels<T>& k = table_named(isa).get<T>();
  const WinogradKernels<T>& w = winograd_scheme(k, scheme);
  const WinogradTiles g = tiles_from(tiles);
  require(g.image_lanes == 0, "image-lane mode is not driven by this tester");
  require(tile_begin >= 0 && count >= 1 && point_stride >= (count + 15) / 16 * 16,
          "need count >= 1 and point_stride >= count rounded up to 16");
  const int alpha = scheme == "f4x5" ? 8 : (scheme == "f4x3" ? 6 : 5);
  w.output(g, in<T>(m, "m", alpha * alpha * point_stride), point_stride, tile_begin, count, static_cast<T>(bias),
           out<T>(plane, "plane", images_of(g, tile_begin + count) * g.image_stride));
}

// F(4x4, 2x2)'s backward-data output transform: four phases' M, phase_stride apart.
template <typename T>
void test_winograd_dx_output(const std::string& isa, const py::dict& tiles, const py::array& m, int64_t point_stride,
                             int64_t phase_stride, int64_t tile_begin, int64_t count, py::array& plane) {
  const Kernels<T>& k = table_named(isa).get<T>();
  const WinogradTiles g = tiles_from(tiles);
  require(g.image_lanes == 0, "image-lane mode is not driven by this tester");
  const int64_t lanes = (count + 15) / 16 * 16;  // whole lane groups of M are read
  require(tile_begin >= 0 && count >= 1 && point_stride >= lanes && phase_stride >= 0,
          "need count >= 1, point_stride >= count rounded up to 16, phase_stride >= 0");
  k.winograd_f4x2_dx.output(g, in<T>(m, "m", 3 * phase_stride + 24 * point_stride + lanes), point_stride, phase_stride,
                            tile_begin, count,
                            out<T>(plane, "plane", images_of(g, tile_begin + count) * g.image_stride));
}

// G: alpha x 7 (rows of the scheme's G, r used); scratch sized by winograd_filter_scratch.
template <typename T>
const T (*winograd_g(const py::array& G, int alpha, int r))[7] {
  require(alpha >= 2 && alpha <= 8 && r >= 1 && r <= alpha && r <= 7, "need 2 <= alpha <= 8, 1 <= r <= min(alpha, 7)");
  return reinterpret_cast<const T(*)[7]>(in<T>(G, "G", alpha * 7));
}

template <typename T>
void test_winograd_filter(const std::string& isa, const py::array& G, int alpha, int r, int64_t c_in,
                          const py::array& g, int64_t g_row, int rows, int mr, py::array& dst, int64_t point_stride) {
  const Kernels<T>& k = table_named(isa).get<T>();
  const T(*gm)[7] = winograd_g<T>(G, alpha, r);
  const int64_t rr = int64_t(r) * r;
  require(c_in >= 1 && mr >= 1 && rows >= 1 && rows <= mr && g_row >= c_in * rr && point_stride >= c_in * mr,
          "need c_in >= 1, 1 <= rows <= mr, g_row >= c_in * r * r, point_stride >= c_in * mr");
  std::vector<T> scratch(static_cast<size_t>(winograd_filter_scratch(alpha, r, mr, c_in, k.filter_width)));
  k.winograd_filter(gm, alpha, r, c_in, in<T>(g, "g", (rows - 1) * g_row + c_in * rr), g_row, rows, mr,
                    out<T>(dst, "dst", (int64_t(alpha) * alpha - 1) * point_stride + c_in * mr), point_stride,
                    scratch.data());
}

template <typename T>
void test_winograd_gradient_transform(const std::string& isa, const py::array& G, int alpha, int r, int64_t c_in,
                                      const py::array& m, int64_t point_stride, py::array& dw) {
  const Kernels<T>& k = table_named(isa).get<T>();
  const T(*gm)[7] = winograd_g<T>(G, alpha, r);
  require(c_in >= 1 && point_stride >= c_in, "need c_in >= 1 and point_stride >= c_in");
  std::vector<T> scratch(static_cast<size_t>((alpha + r) * r * c_in));
  k.winograd_gradient_transform(gm, alpha, r, c_in, in<T>(m, "m", (int64_t(alpha) * alpha - 1) * point_stride + c_in),
                                point_stride, out<T>(dw, "dw", c_in * r * r), scratch.data());
}

// ---------------------------------------------------------------- pooling

PoolWindow window_from(const std::vector<int64_t>& w, bool count_include_pad) {
  require(w.size() == 12,
          "window takes (in_h, in_w, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, "
          "pad_top, pad_bottom, pad_left, pad_right)");
  PoolWindow p{w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11], count_include_pad};
  for (int64_t v : w) require(v >= 0, "window values must be >= 0");
  require(p.in_h > 0 && p.in_w > 0 && p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0,
          "sizes, kernel and stride must be positive");
  // Every window must start inside the padded input and hold an input value
  // (the ops' geometry guarantees both).
  require((p.out_h - 1) * p.stride_h < p.in_h + p.pad_top && (p.out_w - 1) * p.stride_w < p.in_w + p.pad_left,
          "a window starts past the input");
  require(p.pad_top < p.kernel_h && p.pad_left < p.kernel_w, "padding must be smaller than the kernel");
  return p;
}

template <typename T>
void test_pool(const std::string& isa, const std::string& kernel, const std::vector<int64_t>& window,
               bool count_include_pad, const py::array& src, py::array& dst, const py::object& indices,
               int64_t row_begin, int64_t row_end, int64_t channels, bool stream) {
  const PoolKernels<T>& k = table_named(isa).get<T>().pool;
  const PoolWindow p = window_from(window, count_include_pad);
  if (row_end < 0) row_end = p.out_h;
  require(0 <= row_begin && row_begin <= row_end && row_end <= p.out_h && channels >= 1, "bad rows or channels");
  const int64_t in_n = p.in_h * p.in_w * channels, out_n = p.out_h * p.out_w * channels;
  int64_t* idx = nullptr;
  if (!indices.is_none()) {
    py::array ia = indices.cast<py::array>();
    idx = int64_out(ia, "indices", out_n);
  }
  if (kernel == "max_forward")
    k.max_forward(p, in<T>(src, "src", in_n), out<T>(dst, "dst", out_n), idx, row_begin, row_end);
  else if (kernel == "avg_forward")
    k.avg_forward(p, in<T>(src, "src", in_n), out<T>(dst, "dst", out_n), row_begin, row_end);
  else if (kernel == "avg_backward")
    k.avg_backward(p, in<T>(src, "src", out_n), out<T>(dst, "dst", in_n), stream);
  else if (kernel == "max_forward_nhwc")
    k.max_forward_nhwc(p, channels, in<T>(src, "src", in_n), out<T>(dst, "dst", out_n), idx, row_begin, row_end);
  else if (kernel == "avg_forward_nhwc")
    k.avg_forward_nhwc(p, channels, in<T>(src, "src", in_n), out<T>(dst, "dst", out_n), row_begin, row_end);
  else if (kernel == "avg_backward_nhwc")
    k.avg_backward_nhwc(p, channels, in<T>(src, "src", out_n), out<T>(dst, "dst", in_n));
  else
    throw py::value_error("unknown pool kernel '" + kernel + "'");
}

// ------------------------------------------------------------- elementwise

Activation activation_of(int act) {
  require(act >= 0 && act <= 4, "activation: 0 identity, 1 relu, 2 leaky_relu, 3 sigmoid, 4 tanh");
  return static_cast<Activation>(act);
}

// Batch normalisation's fused activations (identity, relu, leaky_relu).
Activation fused_activation_of(int act) {
  require(act >= 0 && act <= 2, "fused activation: 0 identity, 1 relu, 2 leaky_relu");
  return static_cast<Activation>(act);
}

// x 1-D: the "run" kernel, with shift (and the other per-channel values) of
// one value; x 2-D (rows, channels): the "rows" kernel, one value per channel.
struct BnShape {
  bool run;
  int64_t n, rows, channels;
};
BnShape bn_shape(const py::array& x) {
  require(x.ndim() == 1 || x.ndim() == 2, "x must be 1-D (a run) or 2-D (rows, channels)");
  if (x.ndim() == 1) return {true, static_cast<int64_t>(x.size()), 1, 1};
  return {false, static_cast<int64_t>(x.size()), static_cast<int64_t>(x.shape(0)), static_cast<int64_t>(x.shape(1))};
}

template <typename T>
void test_bn_moments(const std::string& isa, const py::array& x, const py::array& shift, py::array& sum,
                     py::array& sum_sq) {
  const ElementwiseKernels<T>& k = table_named(isa).get<T>().elementwise;
  const BnShape s = bn_shape(x);
  if (s.run)
    k.bn_moments_run(in<T>(x, "x", s.n), s.n, in<T>(shift, "shift", 1)[0], out<double>(sum, "sum", 1),
                     out<double>(sum_sq, "sum_sq", 1));
  else
    k.bn_moments_rows(in<T>(x, "x", s.n), s.rows, s.channels, in<T>(shift, "shift", s.channels),
                      out<double>(sum, "sum", s.channels), out<double>(sum_sq, "sum_sq", s.channels));
}

template <typename T>
void test_bn_gradient_moments(const std::string& isa, const py::array& dy, const py::array& x, const py::array& scale,
                              const py::array& shift, const py::array& mean, int act, double slope, py::array& sum_dz,
                              py::array& sum_dz_xc) {
  const ElementwiseKernels<T>& k = table_named(isa).get<T>().elementwise;
  const BnShape s = bn_shape(x);
  const int64_t c = s.channels;
  if (s.run)
    k.bn_gradient_moments_run(in<T>(dy, "dy", s.n), in<T>(x, "x", s.n), s.n, in<T>(scale, "scale", 1)[0],
                              in<T>(shift, "shift", 1)[0], in<T>(mean, "mean", 1)[0], fused_activation_of(act),
                              T(slope), out<double>(sum_dz, "sum_dz", 1), out<double>(sum_dz_xc, "sum_dz_xc", 1));
  else
    k.bn_gradient_moments_rows(in<T>(dy, "dy", s.n), in<T>(x, "x", s.n), s.rows, c, in<T>(scale, "scale", c),
                               in<T>(shift, "shift", c), in<T>(mean, "mean", c), fused_activation_of(act), T(slope),
                               out<double>(sum_dz, "sum_dz", c), out<double>(sum_dz_xc, "sum_dz_xc", c));
}

template <typename T>
void test_bn_gradient_apply(const std::string& isa, const py::array& dy, const py::array& x, const py::array& a,
                            const py::array& b, const py::array& d, const py::array& scale, const py::array& shift,
                            int act, double slope, py::array& o) {
  const ElementwiseKernels<T>& k = table_named(isa).get<T>().elementwise;
  const BnShape s = bn_shape(x);
  const int64_t c = s.channels;
  if (s.run)
    k.bn_gradient_apply_run(in<T>(dy, "dy", s.n), in<T>(x, "x", s.n), s.n, in<T>(a, "a", 1)[0], in<T>(b, "b", 1)[0],
                            in<T>(d, "d", 1)[0], in<T>(scale, "scale", 1)[0], in<T>(shift, "shift", 1)[0],
                            fused_activation_of(act), T(slope), out<T>(o, "out", s.n));
  else
    k.bn_gradient_apply_rows(in<T>(dy, "dy", s.n), in<T>(x, "x", s.n), s.rows, c, in<T>(a, "a", c), in<T>(b, "b", c),
                             in<T>(d, "d", c), in<T>(scale, "scale", c), in<T>(shift, "shift", c),
                             fused_activation_of(act), T(slope), out<T>(o, "out", s.n));
}

// ----------------------------------------------------------------- packers

template <typename T>
void test_copy_runs(const std::string& isa, const py::array& src, const py::array& column, const py::array& offset,
                    const py::array& length, py::array& dst) {
  const Kernels<T>& k = table_named(isa).get<T>();
  const int64_t count = column.size();
  require(offset.size() == count && length.size() == count, "column, offset and length must be as long");
  const int64_t* col = int64_in(column, "column", count);
  const int64_t* off = int64_in(offset, "offset", count);
  const int64_t* len = int64_in(length, "length", count);
  // Whole vectors: up to one vector (64 bytes at most) read and written past each run.
  const int64_t slack = 64 / int64_t(sizeof(T)) - 1;
  int64_t src_need = 0, dst_need = 0;
  for (int64_t r = 0; r < count; ++r) {
    require(col[r] >= 0 && off[r] >= 0 && len[r] >= 0, "column, offset and length must be >= 0");
    if (len[r] == 0) continue;
    src_need = std::max(src_need, off[r] + len[r] + slack);
    dst_need = std::max(dst_need, col[r] + len[r] + slack);
  }
  k.copy_runs(in<T>(src, "src", src_need), col, off, len, count, out<T>(dst, "dst", dst_need));
}

template <typename T>
void test_pack_rows_transposed(const std::string& isa, const py::array& a, int64_t row, int64_t rows, int64_t k, int mr,
                               py::array& dst) {
  require(rows >= 1 && k >= 1 && mr >= 1 && row >= k, "need rows, k, mr >= 1 and row >= k");
  const int64_t panels = (rows + mr - 1) / mr;
  table_named(isa).get<T>().pack_rows_transposed(in<T>(a, "a", (rows - 1) * row + k), row, rows, k, mr,
                                                 out<T>(dst, "dst", panels * mr * k));
}

}  // namespace

void bind_kernel_test(py::module_& m) {
  m.def(
      "_kernel_table",
      [](const std::string& isa) {
        const KernelTable& t = table_named(isa);
        py::dict d;
        d["isa"] = std::string(t.isa);
        d["float32"] = fields_of(t.f32);
        d["float64"] = fields_of(t.f64);
        return d;
      },
      py::arg("isa"));
  m.def(
      "_test_gemm",
      [](const std::string& isa, const std::string& kernel, int64_t kc, const py::array& a, const py::array& b,
         py::array& c, int64_t ldc, int accumulate) {
        by_dtype(a, [&](auto t) { test_gemm<decltype(t)>(isa, kernel, kc, a, b, c, ldc, accumulate); });
      },
      py::arg("isa"), py::arg("kernel"), py::arg("kc"), py::arg("a"), py::arg("b"), py::arg("c"), py::arg("ldc"),
      py::arg("accumulate"));
  m.def(
      "_test_gemm_offset_b",
      [](const std::string& isa, const std::string& kernel, int64_t kc, const py::array& a, const py::array& b,
         const py::array& offset, py::array& c, int64_t ldc, int accumulate) {
        by_dtype(a,
                 [&](auto t) { test_gemm_offset_b<decltype(t)>(isa, kernel, kc, a, b, offset, c, ldc, accumulate); });
      },
      py::arg("isa"), py::arg("kernel"), py::arg("kc"), py::arg("a"), py::arg("b"), py::arg("offset"), py::arg("c"),
      py::arg("ldc"), py::arg("accumulate"));
  m.def(
      "_test_gemm_offset_b_store",
      [](const std::string& isa, const std::string& kernel, int64_t kc, const py::array& a, const py::array& b,
         const py::array& offset, const py::array& c, int64_t ldc, int accumulate, const py::object& bias, int rows,
         const py::array& store_offset, const py::array& store_mask, py::array& o, int64_t out_row_stride) {
        by_dtype(a, [&](auto t) {
          test_gemm_offset_b_store<decltype(t)>(isa, kernel, kc, a, b, offset, c, ldc, accumulate, bias, rows,
                                                store_offset, store_mask, o, out_row_stride);
        });
      },
      py::arg("isa"), py::arg("kernel"), py::arg("kc"), py::arg("a"), py::arg("b"), py::arg("offset"), py::arg("c"),
      py::arg("ldc"), py::arg("accumulate"), py::arg("bias"), py::arg("rows"), py::arg("store_offset"),
      py::arg("store_mask"), py::arg("out"), py::arg("out_row_stride"));
  m.def(
      "_test_gemm_strided_b",
      [](const std::string& isa, const std::string& kernel, int64_t kc, const py::array& a, const py::array& b,
         int64_t ldb, py::array& c, int64_t ldc, int rows, int cols, int accumulate, const py::object& bias) {
        by_dtype(a, [&](auto t) {
          test_gemm_strided_b<decltype(t)>(isa, kernel, kc, a, b, ldb, c, ldc, rows, cols, accumulate, bias);
        });
      },
      py::arg("isa"), py::arg("kernel"), py::arg("kc"), py::arg("a"), py::arg("b"), py::arg("ldb"), py::arg("c"),
      py::arg("ldc"), py::arg("rows"), py::arg("cols"), py::arg("accumulate"), py::arg("bias"));
  m.def(
      "_test_direct_tile",
      [](const std::string& isa, const std::string& kernel, const std::vector<int64_t>& count,
         const std::vector<int64_t>& step, int64_t b_row_skip, int64_t b_outer_skip, const py::array& src,
         const py::array& offsets, int rows, const py::array& b, py::array& acc, int64_t ld, const py::object& init) {
        by_dtype(src, [&](auto t) {
          test_direct_tile<decltype(t)>(isa, kernel, count, step, b_row_skip, b_outer_skip, src, offsets, rows, b, acc,
                                        ld, init);
        });
      },
      py::arg("isa"), py::arg("kernel"), py::arg("count"), py::arg("step"), py::arg("b_row_skip"),
      py::arg("b_outer_skip"), py::arg("src"), py::arg("offsets"), py::arg("rows"), py::arg("b"), py::arg("acc"),
      py::arg("ld"), py::arg("init") = py::none());
  m.def(
      "_test_direct_store_transposed",
      [](const std::string& isa, const std::string& kernel, const py::array& acc, int64_t ld, int rows, int live,
         py::array& o, int64_t out_stride) {
        by_dtype(acc, [&](auto t) {
          test_direct_store_transposed<decltype(t)>(isa, kernel, acc, ld, rows, live, o, out_stride);
        });
      },
      py::arg("isa"), py::arg("kernel"), py::arg("acc"), py::arg("ld"), py::arg("rows"), py::arg("live"),
      py::arg("out"), py::arg("out_stride"));
  m.def(
      "_test_winograd_input",
      [](const std::string& isa, const std::string& scheme, const std::string& transform, const py::dict& tiles,
         const py::array& plane, int64_t tile_begin, int64_t count, py::array& v, int64_t local0, int64_t point_stride,
         int64_t panel_stride, int nr) {
        by_dtype(plane, [&](auto t) {
          test_winograd_input<decltype(t)>(isa, scheme, transform, tiles, plane, tile_begin, count, v, local0,
                                           point_stride, panel_stride, nr);
        });
      },
      py::arg("isa"), py::arg("scheme"), py::arg("transform"), py::arg("tiles"), py::arg("plane"),
      py::arg("tile_begin"), py::arg("count"), py::arg("v"), py::arg("local0"), py::arg("point_stride"),
      py::arg("panel_stride"), py::arg("nr"));
  m.def(
      "_test_winograd_output",
      [](const std::string& isa, const std::string& scheme, const py::dict& tiles, const py::array& mm,
         int64_t point_stride, int64_t tile_begin, int64_t count, double bias, py::array& plane) {
        by_dtype(mm, [&](auto t) {
          test_winograd_output<decltype(t)>(isa, scheme, tiles, mm, point_stride, tile_begin, count, bias, plane);
        });
      },
      py::arg("isa"), py::arg("scheme"), py::arg("tiles"), py::arg("m"), py::arg("point_stride"), py::arg("tile_begin"),
      py::arg("count"), py::arg("bias"), py::arg("plane"));
  m.def(
      "_test_pool",
      [](const std::string& isa, const std::string& kernel, const std::vector<int64_t>& window, bool count_include_pad,
         const py::array& src, py::array& dst, const py::object& indices, int64_t row_begin, int64_t row_end,
         int64_t channels, bool stream) {
        by_dtype(src, [&](auto t) {
          test_pool<decltype(t)>(isa, kernel, window, count_include_pad, src, dst, indices, row_begin, row_end,
                                 channels, stream);
        });
      },
      py::arg("isa"), py::arg("kernel"), py::arg("window"), py::arg("count_include_pad"), py::arg("src"),
      py::arg("dst"), py::arg("indices") = py::none(), py::arg("row_begin") = 0, py::arg("row_end") = -1,
      py::arg("channels") = 1, py::arg("stream") = false);
  m.def(
      "_test_pool_reduce",
      [](const std::string& isa, const std::string& kernel, const py::array& x) -> py::tuple {
        return by_dtype(x, [&](auto t) -> py::tuple {
          using T = decltype(t);
          const PoolKernels<T>& k = table_named(isa).get<T>().pool;
          require(x.size() >= 1, "x must hold a value");
          const T* p = in<T>(x, "x", x.size());
          int64_t index = -1;
          if (kernel == "sum") return py::make_tuple(k.sum(p, x.size()), index);
          if (kernel == "max_with_index") {
            const T best = k.max_with_index(p, x.size(), &index);
            return py::make_tuple(best, index);
          }
          throw py::value_error("kernel must be 'sum' or 'max_with_index'");
        });
      },
      py::arg("isa"), py::arg("kernel"), py::arg("x"));
  m.def(
      "_test_copy",
      [](const std::string& isa, const std::string& kernel, const py::array& src, py::array& dst) {
        by_dtype(src, [&](auto t) {
          using T = decltype(t);
          require(kernel == "pool.copy_streaming", "kernel must be 'pool.copy_streaming'");
          const int64_t n = src.size();
          table_named(isa).get<T>().pool.copy_streaming(in<T>(src, "src", n), out<T>(dst, "dst", n), n);
        });
      },
      py::arg("isa"), py::arg("kernel"), py::arg("src"), py::arg("dst"));
  m.def(
      "_test_activation",
      [](const std::string& isa, int act, double slope, const py::array& x, const py::object& y, py::array& o) {
        // y None: activation_forward(x) -> out; else activation_backward(dy=x, y) -> out.
        by_dtype(x, [&](auto t) {
          using T = decltype(t);
          const ElementwiseKernels<T>& k = table_named(isa).get<T>().elementwise;
          const int64_t n = x.size();
          if (y.is_none())
            k.activation_forward(activation_of(act), T(slope), in<T>(x, "x", n), n, out<T>(o, "out", n));
          else
            k.activation_backward(activation_of(act), T(slope), in<T>(x, "dy", n), in<T>(y.cast<py::array>(), "y", n),
                                  n, out<T>(o, "out", n));
        });
      },
      py::arg("isa"), py::arg("act"), py::arg("slope"), py::arg("x"), py::arg("y"), py::arg("out"));
  m.def(
      "_test_bn_apply",
      [](const std::string& isa, const py::array& x, const py::array& scale, const py::array& shift, int act,
         double slope, py::array& o) {
        // x 1-D: bn_apply_run with scale and shift of one value; x 2-D
        // (rows, channels): bn_apply_rows.
        by_dtype(x, [&](auto t) {
          using T = decltype(t);
          const ElementwiseKernels<T>& k = table_named(isa).get<T>().elementwise;
          const int64_t n = x.size();
          if (x.ndim() == 1) {
            k.bn_apply_run(in<T>(x, "x", n), n, in<T>(scale, "scale", 1)[0], in<T>(shift, "shift", 1)[0],
                           activation_of(act), T(slope), out<T>(o, "out", n));
          } else {
            require(x.ndim() == 2, "x must be 1-D or 2-D");
            const int64_t rows = x.shape(0), channels = x.shape(1);
            k.bn_apply_rows(in<T>(x, "x", n), rows, channels, in<T>(scale, "scale", channels),
                            in<T>(shift, "shift", channels), activation_of(act), T(slope), out<T>(o, "out", n));
          }
        });
      },
      py::arg("isa"), py::arg("x"), py::arg("scale"), py::arg("shift"), py::arg("act"), py::arg("slope"),
      py::arg("out"));
  m.def(
      "_test_softmax",
      [](const std::string& isa, const py::array& x, const py::object& y, py::array& o) {
        // y None: softmax_rows(x) -> out; else softmax_backward_rows(dy=x, y) -> out. x: (rows, columns).
        by_dtype(x, [&](auto t) {
          using T = decltype(t);
          const ElementwiseKernels<T>& k = table_named(isa).get<T>().elementwise;
          require(x.ndim() == 2 && x.shape(1) >= 1, "x must be (rows, columns)");
          const int64_t n = x.size(), rows = x.shape(0), columns = x.shape(1);
          if (y.is_none())
            k.softmax_rows(in<T>(x, "x", n), rows, columns, out<T>(o, "out", n));
          else
            k.softmax_backward_rows(in<T>(x, "dy", n), in<T>(y.cast<py::array>(), "y", n), rows, columns,
                                    out<T>(o, "out", n));
        });
      },
      py::arg("isa"), py::arg("x"), py::arg("y"), py::arg("out"));
  m.def(
      "_test_optimizer_update",
      [](const std::string& isa, int kind, const std::vector<double>& c, double decay, double grad_scale, py::array& p,
         const py::array& g, const py::object& s0, const py::object& s1, const py::object& s2) {
        by_dtype(p, [&](auto t) {
          using T = decltype(t);
          const ElementwiseKernels<T>& k = table_named(isa).get<T>().elementwise;
          require(kind >= 0 && kind <= static_cast<int>(OptimizerKind::nadam) && c.size() <= 10, "bad rule");
          OptimizerRule rule{};
          rule.kind = static_cast<OptimizerKind>(kind);
          for (size_t i = 0; i < c.size(); ++i) rule.c[i] = c[i];
          rule.decay = decay;
          // The states each rule updates (optimizer_impl.h); the others may be None.
          const int needed = kind == static_cast<int>(OptimizerKind::sgd)       ? 0
                             : kind <= static_cast<int>(OptimizerKind::rmsprop) ? 1
                                                                                : 2;
          require(needed < 1 || !s0.is_none(), "this rule needs s0");
          require(needed < 2 || !s1.is_none(), "this rule needs s1");
          const int64_t n = p.size();
          auto state = [&](const py::object& o, const char* name) -> T* {
            if (o.is_none()) return nullptr;
            py::array a = o.cast<py::array>();
            return out<T>(a, name, n);
          };
          k.optimizer_update(rule, T(grad_scale), out<T>(p, "p", n), in<T>(g, "g", n), state(s0, "s0"), state(s1, "s1"),
                             state(s2, "s2"), n);
        });
      },
      py::arg("isa"), py::arg("kind"), py::arg("c"), py::arg("decay"), py::arg("grad_scale"), py::arg("p"),
      py::arg("g"), py::arg("s0"), py::arg("s1"), py::arg("s2"));
  m.def(
      "_test_gemv_rows",
      [](const std::string& isa, const py::array& a, int64_t a_row, int64_t a_step, int rows, const py::array& b,
         int64_t b_row, int64_t k, int64_t n, py::array& c, int64_t c_row) {
        by_dtype(a, [&](auto t) {
          using T = decltype(t);
          require(rows >= 1 && rows <= 8 && k >= 1 && n >= 1 && a_row >= 0 && a_step >= 0 && b_row >= n && c_row >= n,
                  "need 1 <= rows <= 8, k, n >= 1, b_row and c_row >= n");
          table_named(isa).get<T>().elementwise.gemv_rows(in<T>(a, "a", (rows - 1) * a_row + (k - 1) * a_step + 1),
                                                          a_row, a_step, rows, in<T>(b, "b", (k - 1) * b_row + n),
                                                          b_row, k, n, out<T>(c, "c", (rows - 1) * c_row + n), c_row);
        });
      },
      py::arg("isa"), py::arg("a"), py::arg("a_row"), py::arg("a_step"), py::arg("rows"), py::arg("b"),
      py::arg("b_row"), py::arg("k"), py::arg("n"), py::arg("c"), py::arg("c_row"));
  m.def(
      "_test_direct_gather_lanes",
      [](const std::string& isa, const std::string& kernel, const py::array& src, int live, int64_t channel_step,
         int64_t position_step, int64_t positions, py::array& to) {
        by_dtype(src, [&](auto t) {
          test_direct_gather_lanes<decltype(t)>(isa, kernel, src, live, channel_step, position_step, positions, to);
        });
      },
      py::arg("isa"), py::arg("kernel"), py::arg("src"), py::arg("live"), py::arg("channel_step"),
      py::arg("position_step"), py::arg("positions"), py::arg("to"));
  m.def(
      "_test_direct_rows",
      [](const std::string& isa, const std::vector<int64_t>& conv, const py::array& padded, const py::array& w_packed,
         const py::object& bias, py::array& o, int64_t co_begin, int64_t co_end, int64_t row_begin, int64_t row_end) {
        by_dtype(padded, [&](auto t) {
          test_direct_rows<decltype(t)>(isa, conv, padded, w_packed, bias, o, co_begin, co_end, row_begin, row_end);
        });
      },
      py::arg("isa"), py::arg("conv"), py::arg("padded"), py::arg("w_packed"), py::arg("bias"), py::arg("out"),
      py::arg("co_begin"), py::arg("co_end"), py::arg("row_begin"), py::arg("row_end"));
  m.def(
      "_test_winograd_dx_output",
      [](const std::string& isa, const py::dict& tiles, const py::array& mm, int64_t point_stride, int64_t phase_stride,
         int64_t tile_begin, int64_t count, py::array& plane) {
        by_dtype(mm, [&](auto t) {
          test_winograd_dx_output<decltype(t)>(isa, tiles, mm, point_stride, phase_stride, tile_begin, count, plane);
        });
      },
      py::arg("isa"), py::arg("tiles"), py::arg("m"), py::arg("point_stride"), py::arg("phase_stride"),
      py::arg("tile_begin"), py::arg("count"), py::arg("plane"));
  m.def(
      "_test_winograd_filter",
      [](const std::string& isa, const py::array& G, int alpha, int r, int64_t c_in, const py::array& g, int64_t g_row,
         int rows, int mr, py::array& dst, int64_t point_stride) {
        by_dtype(g, [&](auto t) {
          test_winograd_filter<decltype(t)>(isa, G, alpha, r, c_in, g, g_row, rows, mr, dst, point_stride);
        });
      },
      py::arg("isa"), py::arg("G"), py::arg("alpha"), py::arg("r"), py::arg("c_in"), py::arg("g"), py::arg("g_row"),
      py::arg("rows"), py::arg("mr"), py::arg("dst"), py::arg("point_stride"));
  m.def(
      "_test_winograd_gradient_transform",
      [](const std::string& isa, const py::array& G, int alpha, int r, int64_t c_in, const py::array& mm,
         int64_t point_stride, py::array& dw) {
        by_dtype(mm, [&](auto t) {
          test_winograd_gradient_transform<decltype(t)>(isa, G, alpha, r, c_in, mm, point_stride, dw);
        });
      },
      py::arg("isa"), py::arg("G"), py::arg("alpha"), py::arg("r"), py::arg("c_in"), py::arg("m"),
      py::arg("point_stride"), py::arg("dw"));
  m.def(
      "_test_bn_moments",
      [](const std::string& isa, const py::array& x, const py::array& shift, py::array& sum, py::array& sum_sq) {
        // x 1-D: bn_moments_run (shift of one value); x 2-D (rows, channels): bn_moments_rows.
        by_dtype(x, [&](auto t) { test_bn_moments<decltype(t)>(isa, x, shift, sum, sum_sq); });
      },
      py::arg("isa"), py::arg("x"), py::arg("shift"), py::arg("sum"), py::arg("sum_sq"));
  m.def(
      "_test_bn_gradient_moments",
      [](const std::string& isa, const py::array& dy, const py::array& x, const py::array& scale,
         const py::array& shift, const py::array& mean, int act, double slope, py::array& sum_dz,
         py::array& sum_dz_xc) {
        by_dtype(x, [&](auto t) {
          test_bn_gradient_moments<decltype(t)>(isa, dy, x, scale, shift, mean, act, slope, sum_dz, sum_dz_xc);
        });
      },
      py::arg("isa"), py::arg("dy"), py::arg("x"), py::arg("scale"), py::arg("shift"), py::arg("mean"), py::arg("act"),
      py::arg("slope"), py::arg("sum_dz"), py::arg("sum_dz_xc"));
  m.def(
      "_test_bn_gradient_apply",
      [](const std::string& isa, const py::array& dy, const py::array& x, const py::array& a, const py::array& b,
         const py::array& d, const py::array& scale, const py::array& shift, int act, double slope, py::array& o) {
        by_dtype(
            x, [&](auto t) { test_bn_gradient_apply<decltype(t)>(isa, dy, x, a, b, d, scale, shift, act, slope, o); });
      },
      py::arg("isa"), py::arg("dy"), py::arg("x"), py::arg("a"), py::arg("b"), py::arg("d"), py::arg("scale"),
      py::arg("shift"), py::arg("act"), py::arg("slope"), py::arg("out"));
  m.def(
      "_test_dropout_apply",
      [](const std::string& isa, const py::array& x, uint64_t seed, uint64_t first, uint32_t threshold, double scale,
         py::array& o) {
        by_dtype(x, [&](auto t) {
          using T = decltype(t);
          const int64_t n = x.size();
          table_named(isa).get<T>().elementwise.dropout_apply(in<T>(x, "x", n), n, seed, first, threshold, T(scale),
                                                              out<T>(o, "out", n));
        });
      },
      py::arg("isa"), py::arg("x"), py::arg("seed"), py::arg("first"), py::arg("threshold"), py::arg("scale"),
      py::arg("out"));
  m.def(
      "_test_copy_runs",
      [](const std::string& isa, const py::array& src, const py::array& column, const py::array& offset,
         const py::array& length, py::array& dst) {
        by_dtype(src, [&](auto t) { test_copy_runs<decltype(t)>(isa, src, column, offset, length, dst); });
      },
      py::arg("isa"), py::arg("src"), py::arg("column"), py::arg("offset"), py::arg("length"), py::arg("dst"));
  m.def(
      "_test_pack_rows_transposed",
      [](const std::string& isa, const py::array& a, int64_t row, int64_t rows, int64_t k, int mr, py::array& dst) {
        by_dtype(a, [&](auto t) { test_pack_rows_transposed<decltype(t)>(isa, a, row, rows, k, mr, dst); });
      },
      py::arg("isa"), py::arg("a"), py::arg("row"), py::arg("rows"), py::arg("k"), py::arg("mr"), py::arg("dst"));
}

}  // namespace fastcnn

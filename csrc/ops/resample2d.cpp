#include "resample2d.h"

#include <algorithm>
#include <cstring>

#include "grain.h"
#include "parallel.h"

namespace fastcnn {
namespace {

// The interpolation arithmetic is NumPy's in T (fastcnn/resize.py's
// reference path): first along the rows, then along the columns, each as
// a * (1 - w) + b * w with w rounded to T.
template <typename T>
struct Lerp {
  T keep, take;  // 1 - w and w, in T
  explicit Lerp(double w) : keep(T(1) - T(w)), take(T(w)) {}
  T operator()(T a, T b) const { return a * keep + b * take; }
};

// Output row i of one image into `out_row` (out_w pixels of `lanes` values:
// 1 channels-first, C channels-last); `plane` is the image's plane (or
// pixels) with in_w pixels per row. `scratch` holds in_w * lanes values.
template <typename T>
void forward_row(const Resample2d& r, const T* plane, int64_t lanes, int64_t i, T* out_row, T* scratch) {
  const int64_t in_row = r.in_w * lanes, out_w = r.out_w();
  const int64_t* col = r.cols.lo.data();
  const T fill = T(r.fill);
  if (!r.bilinear) {
    const int64_t src = r.rows.lo[i];
    if (src < 0) {
      std::fill_n(out_row, out_w * lanes, fill);
      return;
    }
    const T* s = plane + src * in_row;
    if (r.col_run.length > 0) {  // padding or cropping: fill, one run of columns, fill
      const ColumnRun& run = r.col_run;
      std::fill_n(out_row, run.start * lanes, fill);
      std::copy_n(s + run.first * lanes, run.length * lanes, out_row + run.start * lanes);
      std::fill_n(out_row + (run.start + run.length) * lanes, (out_w - run.start - run.length) * lanes, fill);
      return;
    }
    if (lanes == 1) {
      for (int64_t j = 0; j < out_w; ++j) out_row[j] = col[j] < 0 ? fill : s[col[j] < 0 ? 0 : col[j]];
      return;
    }
    for (int64_t j = 0; j < out_w; ++j) {
      if (col[j] < 0)
        std::fill_n(out_row + j * lanes, lanes, fill);
      else
        std::copy_n(s + col[j] * lanes, lanes, out_row + j * lanes);
    }
    return;
  }
  const Lerp<T> down(r.rows.weight[i]);
  const T* a = plane + r.rows.lo[i] * in_row;
  const T* b = plane + r.rows.hi[i] * in_row;
  for (int64_t k = 0; k < in_row; ++k) scratch[k] = down(a[k], b[k]);
  const int64_t* col_hi = r.cols.hi.data();
  for (int64_t j = 0; j < out_w; ++j) {
    const Lerp<T> across(r.cols.weight[j]);
    const T* p = scratch + col[j] * lanes;
    const T* q = scratch + col_hi[j] * lanes;
    T* o = out_row + j * lanes;
    for (int64_t l = 0; l < lanes; ++l) o[l] = across(p[l], q[l]);
  }
}

// Whether output row i reads exactly what row i - 1 does (nearest
// upsampling repeats each input row), so it can be copied from it.
inline bool repeats_previous_row(const Resample2d& r, int64_t i) {
  return i > 0 && r.rows.lo[i] == r.rows.lo[i - 1] && r.rows.hi[i] == r.rows.hi[i - 1] &&
         r.rows.weight[i] == r.rows.weight[i - 1];
}

// The adjoint of one image's plane (or pixels): every output row's gradient
// added back to the input values forward_row read for it.
template <typename T>
void backward_plane(const Resample2d& r, const T* dout, int64_t lanes, T* dx, T* scratch) {
  const int64_t in_row = r.in_w * lanes, out_row = r.out_w() * lanes;
  std::memset(dx, 0, sizeof(T) * r.in_h * in_row);
  for (int64_t i = 0; i < r.out_h(); ++i) {
    const T* d = dout + i * out_row;
    if (!r.bilinear) {
      const int64_t dst = r.rows.lo[i];
      if (dst < 0) continue;
      for (int64_t j = 0; j < r.out_w(); ++j) {
        const int64_t c = r.cols.lo[j];
        if (c < 0) continue;
        T* t = dx + dst * in_row + c * lanes;
        for (int64_t l = 0; l < lanes; ++l) t[l] += d[j * lanes + l];
      }
      continue;
    }
    std::memset(scratch, 0, sizeof(T) * in_row);
    for (int64_t j = 0; j < r.out_w(); ++j) {
      const Lerp<T> across(r.cols.weight[j]);
      T* p = scratch + r.cols.lo[j] * lanes;
      T* q = scratch + r.cols.hi[j] * lanes;
      for (int64_t l = 0; l < lanes; ++l) {
        p[l] += d[j * lanes + l] * across.keep;
        q[l] += d[j * lanes + l] * across.take;
      }
    }
    const Lerp<T> down(r.rows.weight[i]);
    T* a = dx + r.rows.lo[i] * in_row;
    T* b = dx + r.rows.hi[i] * in_row;
    for (int64_t k = 0; k < in_row; ++k) {
      a[k] += scratch[k] * down.keep;
      b[k] += scratch[k] * down.take;
    }
  }
}

}  // namespace

ColumnRun column_run(const ResampleAxis& cols) {
  ColumnRun run;
  const int64_t n = cols.size();
  int64_t j = 0;
  while (j < n && cols.lo[j] < 0) ++j;
  run.start = j;
  if (j < n) run.first = cols.lo[j];
  while (j < n && cols.lo[j] == run.first + (j - run.start)) ++j;
  run.length = j - run.start;
  while (j < n && cols.lo[j] < 0) ++j;
  if (j != n || run.length == 0) run.length = 0;
  return run;
}

template <typename T>
void resample2d_forward(const Resample2d& r, const T* x, T* out) {
  // Channels-first: planes of one channel; channels-last: images whose
  // pixels hold every channel.
  const int64_t lanes = r.channels_last ? r.channels : 1;
  const int64_t planes = r.channels_last ? r.batch : r.batch * r.channels;
  const int64_t in_plane = r.in_h * r.in_w * lanes, out_plane = r.out_h() * r.out_w() * lanes;
  const int64_t tasks = planes * r.out_h();
  SerialBelowGrain serial(OpFamily::elementwise, int64_t(sizeof(T)) * (planes * (in_plane + out_plane)));
  const int threads = threads_for(tasks);
  std::vector<std::vector<T>> scratch(threads, std::vector<T>(r.bilinear ? r.in_w * lanes : 0));
  const int64_t out_row = r.out_w() * lanes;
  parallel_for(tasks, threads, Denormals::keep, [&](int64_t begin, int64_t end, int t) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t p = task / r.out_h(), i = task % r.out_h();
      T* row = out + p * out_plane + i * out_row;
      if (task > begin && repeats_previous_row(r, i))
        std::copy_n(row - out_row, out_row, row);
      else
        forward_row(r, x + p * in_plane, lanes, i, row, scratch[t].data());
    }
  });
}

template <typename T>
void resample2d_backward(const Resample2d& r, const T* dout, T* dx) {
  const int64_t lanes = r.channels_last ? r.channels : 1;
  const int64_t planes = r.channels_last ? r.batch : r.batch * r.channels;
  const int64_t in_plane = r.in_h * r.in_w * lanes, out_plane = r.out_h() * r.out_w() * lanes;
  SerialBelowGrain serial(OpFamily::elementwise, int64_t(sizeof(T)) * (planes * (in_plane + out_plane)));
  const int threads = threads_for(planes);
  std::vector<std::vector<T>> scratch(threads, std::vector<T>(r.bilinear ? r.in_w * lanes : 0));
  parallel_for(planes, threads, Denormals::keep, [&](int64_t begin, int64_t end, int t) {
    for (int64_t p = begin; p < end; ++p)
      backward_plane(r, dout + p * out_plane, lanes, dx + p * in_plane, scratch[t].data());
  });
}

template void resample2d_forward<float>(const Resample2d&, const float*, float*);
template void resample2d_forward<double>(const Resample2d&, const double*, double*);
template void resample2d_backward<float>(const Resample2d&, const float*, float*);
template void resample2d_backward<double>(const Resample2d&, const double*, double*);

}  // namespace fastcnn

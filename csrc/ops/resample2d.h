// Separable resampling of a batch of 2-D planes: upsampling (nearest or
// bilinear) and padding (constant, reflect, replicate) are both "output row
// i reads input rows lo[i] (and hi[i]), output column j reads input columns
// lo[j] (and hi[j])", with the index tables made in Python
// (fastcnn/resize.py). Forward and backward (the adjoint: each output
// gradient added back to the inputs it read), channels-first or
// channels-last, threaded over rows (forward) and planes or images
// (backward, so that no two threads add into one value).
#pragma once
#include <cstdint>
#include <vector>

namespace fastcnn {

// One axis: output index k reads input lo[k] -- or, gathering, the fill value
// where lo[k] < 0 -- or, interpolating, lo[k] * (1 - weight[k]) + hi[k] * weight[k].
struct ResampleAxis {
  std::vector<int64_t> lo, hi;
  std::vector<double> weight;
  int64_t size() const { return static_cast<int64_t>(lo.size()); }
};

// Gathered columns that are fill values, then input columns first,
// first + 1, ... (length of them, from output column start), then fill
// values: padding and cropping. length 0: the columns are not such a run.
struct ColumnRun {
  int64_t start = 0, first = 0, length = 0;
};

// The run the gathered columns `cols` form, if they form one.
ColumnRun column_run(const ResampleAxis& cols);

struct Resample2d {
  int64_t batch = 0, channels = 0, in_h = 0, in_w = 0;
  bool channels_last = false;
  bool bilinear = false;  // interpolate (upsample2d 'bilinear') rather than gather
  double fill = 0.0;      // gathered index -1 (pad2d 'constant')
  ResampleAxis rows, cols;
  ColumnRun col_run;  // column_run(cols) when gathering; set by the ops
  int64_t out_h() const { return rows.size(); }
  int64_t out_w() const { return cols.size(); }
};

template <typename T>
void resample2d_forward(const Resample2d& r, const T* x, T* out);

// dx gets every input's summed gradient (it is overwritten, not added to).
template <typename T>
void resample2d_backward(const Resample2d& r, const T* dout, T* dx);

}  // namespace fastcnn

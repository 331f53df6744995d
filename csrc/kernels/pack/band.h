// The im2col matrix of a convolution without gathering it element by element.
//
// A convolution reads B[(c, tap)][(y, x)] = src[c][y*s_h + rh_tap][x*s_w + rw_tap]
// (zero outside src). Split each tap offset as rh = s_h*a + q (0 <= q < s_h):
// then the element is row y + a of the "phase plane" src[c][q::s_h], and
// likewise for columns. Lay every phase plane out flat with one fixed row
// width `width` (the grid width plus the spread of the column shifts) and
// index the output grid the same way (flat F = y*width + x). Then row
// (c, tap) of B at grid point (y, x) is flat_plane[c][phase(tap)][F + shift(tap)]:
// along a grid row, one contiguous run. A bounded "band" of each phase plane
// covering a block of grid positions is filled once (zero padding included)
// and every B row of the block is a few run copies out of it, the same runs
// for every row (a RunTable). 1x1 stride-1 unpadded convolutions read src
// directly.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace fastcnn {

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Which phase plane, and which flat shift, each tap of one channel reads.
struct TapTable {
  int64_t taps_h = 0, taps_w = 0;  // taps per channel = taps_h * taps_w
  int64_t stride_h = 1, stride_w = 1;
  int64_t grid_h = 0, grid_w = 0;             // the real output grid
  int64_t width = 0;                          // row width of the wide grid and of phase planes
  int64_t row_origin = 0, col_origin = 0;     // smallest a_h, a_w over the taps
  std::vector<int64_t> phase_h, phase_w;      // the distinct (q_h, q_w) phases in use
  std::vector<int64_t> tap_phase, tap_shift;  // per tap (th * taps_w + tw)
  int64_t shift_max = 0;

  // Positions p of the GEMM run row-major over grid_h rows of row_w points:
  // row_w == grid_w ("compact": only real outputs) or row_w == width
  // ("wide": the band's own layout, whose columns x >= grid_w are computed
  // and thrown away, in exchange for B rows that are single plain copies).
  int64_t row_w = 0;

  int64_t taps() const { return taps_h * taps_w; }
  int64_t phases() const { return static_cast<int64_t>(phase_h.size()); }
  int64_t positions() const { return grid_h * row_w; }
  bool wide() const { return row_w == width; }
  int64_t flat(int64_t p) const { return (p / row_w) * width + p % row_w; }

  // Band of positions [p0, p0 + n): flat indices [flat(p0), flat(p0) + band_count).
  int64_t band_count(int64_t p0, int64_t n) const { return flat(p0 + n - 1) + 1 + shift_max - flat(p0); }
  // The largest band_count of any block of at most n positions.
  int64_t band_capacity(int64_t n) const { return n + (n / row_w + 1) * (width - row_w) + shift_max; }

  // Picks compact or wide positions by estimated cycles per im2col row
  // element: the GEMM does `reuse` multiply-adds with each element (16 per
  // cycle on 8-lane FMA hardware); a wide row costs `wide_copy` per element
  // (0 where the microkernel reads it from the band in place; a plain copy
  // where it is packed) but computes width/grid_w as many columns; compact
  // rows are first staged, one run per grid row.
  void choose_positions(int64_t reuse, double wide_copy) {
    const double gemm = static_cast<double>(reuse) / 16.0;
    const double compact = grid_w * (gemm + 0.3 + 3.0 / static_cast<double>(grid_w));
    const double wide_cost = width * (gemm + wide_copy);
    row_w = wide_cost < compact ? width : grid_w;
  }
};

// A band layout several tables share (their taps' shifts all measured
// from one origin, on rows of one width): one band serves them all.
struct BandFrame {
  int64_t row_origin, col_origin, width;
};

// offsets_h[th] / offsets_w[tw]: rh, rw of each tap (e.g. kh*dilation - pad).
// With a frame (whose origin is at most, and width at least, the table's
// own) the band is laid out by it.
inline TapTable make_tap_table(const std::vector<int64_t>& offsets_h, const std::vector<int64_t>& offsets_w,
                               int64_t stride_h, int64_t stride_w, int64_t grid_h, int64_t grid_w,
                               const BandFrame* frame = nullptr) {
  TapTable t;
  t.taps_h = static_cast<int64_t>(offsets_h.size());
  t.taps_w = static_cast<int64_t>(offsets_w.size());
  t.stride_h = stride_h;
  t.stride_w = stride_w;
  t.grid_h = grid_h;
  t.grid_w = grid_w;
  if (t.taps() == 0) {
    t.width = t.row_w = grid_w;
    return t;
  }
  std::vector<int64_t> ah(t.taps_h), qh(t.taps_h), aw(t.taps_w), qw(t.taps_w);
  for (int64_t i = 0; i < t.taps_h; ++i) {
    ah[i] = floor_div(offsets_h[i], stride_h);
    qh[i] = offsets_h[i] - ah[i] * stride_h;
  }
  for (int64_t j = 0; j < t.taps_w; ++j) {
    aw[j] = floor_div(offsets_w[j], stride_w);
    qw[j] = offsets_w[j] - aw[j] * stride_w;
  }
  t.row_origin = *std::min_element(ah.begin(), ah.end());
  t.col_origin = *std::min_element(aw.begin(), aw.end());
  const int64_t col_spread = *std::max_element(aw.begin(), aw.end()) - t.col_origin;
  t.width = grid_w + col_spread;
  if (frame) {
    t.row_origin = frame->row_origin;
    t.col_origin = frame->col_origin;
    t.width = frame->width;
  }
  for (int64_t i = 0; i < t.taps_h; ++i)
    for (int64_t j = 0; j < t.taps_w; ++j) {
      int64_t phase = 0;
      while (phase < t.phases() && !(t.phase_h[phase] == qh[i] && t.phase_w[phase] == qw[j])) ++phase;
      if (phase == t.phases()) {
        t.phase_h.push_back(qh[i]);
        t.phase_w.push_back(qw[j]);
      }
      const int64_t shift = (ah[i] - t.row_origin) * t.width + (aw[j] - t.col_origin);
      t.tap_phase.push_back(phase);
      t.tap_shift.push_back(shift);
      t.shift_max = std::max(t.shift_max, shift);
    }
  t.row_w = grid_w;
  return t;
}

// True when the phase plane is src itself: B rows can be read in place.
inline bool reads_source_directly(const TapTable& t, int64_t src_h, int64_t src_w) {
  return t.taps() == 1 && t.phases() == 1 && t.stride_h == 1 && t.stride_w == 1 && t.phase_h[0] == 0 &&
         t.phase_w[0] == 0 && t.row_origin == 0 && t.col_origin == 0 && t.width == src_w && t.grid_h <= src_h;
}

// Pieces of one compact B row of a block: `length` values for block
// columns [column, column + length) sit at band offset `offset`; one piece
// per grid row the block touches.
struct RunTable {
  int64_t count = 0;
  int64_t* column;  // caller-provided storage, capacity() entries each
  int64_t* offset;
  int64_t* length;

  static int64_t capacity(int64_t n) { return n + 2; }  // at most one run per column, plus ends
};

inline void make_runs(const TapTable& t, int64_t p0, int64_t n, RunTable* runs) {
  const int64_t f0 = t.flat(p0);
  runs->count = 0;
  for (int64_t j = 0; j < n;) {
    const int64_t p = p0 + j, len = std::min(t.row_w - p % t.row_w, n - j);
    runs->column[runs->count] = j;
    runs->offset[runs->count] = t.flat(p) - f0;
    runs->length[runs->count] = len;
    ++runs->count;
    j += len;
  }
}

// Output columns x in [begin, end) of a grid of `grid_w` whose input column
// x*stride + offset lies in [0, size).
inline void valid_columns(int64_t offset, int64_t stride, int64_t size, int64_t grid_w, int64_t* begin, int64_t* end) {
  int64_t b = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t last = size - 1 - offset;
  int64_t e = last < 0 ? 0 : last / stride + 1;
  e = std::min(e, grid_w);
  *begin = std::min(b, e);
  *end = e;
}

// Fills out[0, count) with flat positions [f0, f0 + count) of the phase
// plane `phase` of one source channel (zero where it falls outside src).
// Pixels of the channel are `pixel` elements apart (1: NCHW; C: NHWC).
template <typename T>
void fill_band(const TapTable& t, int64_t phase, const T* src, int64_t src_h, int64_t src_w, int64_t f0, int64_t count,
               T* __restrict out, int64_t pixel = 1) {
  const int64_t sh = t.stride_h, sw = t.stride_w * pixel;
  // Columns c of a phase-plane row read src column (c + col_origin)*sw + q_w.
  const int64_t col_offset = t.col_origin * t.stride_w + t.phase_w[phase];
  int64_t c_lo, c_hi;
  valid_columns(col_offset, t.stride_w, src_w, t.width, &c_lo, &c_hi);
  int64_t r = f0 / t.width, c = f0 % t.width;
  while (count > 0) {
    const int64_t run = std::min(t.width - c, count);
    const int64_t iy = (r + t.row_origin) * sh + t.phase_h[phase];
    if (iy < 0 || iy >= src_h) {
      std::memset(out, 0, sizeof(T) * run);
    } else {
      const T* row = src + (iy * src_w + col_offset) * pixel;
      const int64_t end = c + run;
      const int64_t lo = std::min(std::max(c_lo, c), end), hi = std::max(std::min(c_hi, end), lo);
      T* o = out;
      for (int64_t i = c; i < lo; ++i) *o++ = 0;
      if (sw == 1) {  // a plain indexed copy, vectorised (a strided one is not)
        const T* from = row + lo;
        for (int64_t i = 0; i < hi - lo; ++i) o[i] = from[i];
        o += hi - lo;
      } else {
        for (int64_t i = lo; i < hi; ++i) *o++ = row[i * sw];
      }
      for (int64_t i = hi; i < end; ++i) *o++ = 0;
    }
    out += run;
    count -= run;
    c = 0;
    ++r;
  }
}

}  // namespace fastcnn

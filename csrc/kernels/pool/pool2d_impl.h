// Pooling loops over one (H, W) plane, written so the compiler vectorises
// the inner loop over output columns with the ISA of the including file.
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace, so each
// ISA gets its own copy of these templates (no cross-ISA symbol merging).
// Needs <cstdint>, <limits>, <vector> and kernel_table.h (PoolWindow) included before.

#include "copy_streaming.h"

// Output columns whose whole window lies inside the input horizontally; only
// those take the vectorised path, the few edge columns take the checked one.
struct InteriorColumns {
  int64_t begin, end;
};

inline InteriorColumns interior_columns(const PoolWindow& p) {
  // ow*sw - pl >= 0  and  ow*sw - pl + kw <= W
  int64_t begin = (p.pad_left + p.stride_w - 1) / p.stride_w;
  int64_t last = p.in_w - p.kernel_w + p.pad_left;  // ow*sw <= last
  int64_t end = last < 0 ? 0 : last / p.stride_w + 1;
  if (end > p.out_w) end = p.out_w;
  if (begin > end) begin = end;
  return {begin, end};
}

// Pool planes are read a few short rows at a time, and the hardware
// prefetcher does not keep up with that across pages: the next rows are
// prefetched ~8 KiB ahead. Prefetches do not fault, so running past the end
// of the input is harmless.
template <typename T>
inline void prefetch_ahead(const T* at, int64_t count) {
  constexpr int64_t kAhead = 8192 / sizeof(T), kLine = 64 / sizeof(T);
  const uintptr_t from = reinterpret_cast<uintptr_t>(at + 0) + sizeof(T) * (count > kAhead ? count : kAhead);
  for (int64_t i = 0; i < count; i += kLine) __builtin_prefetch(reinterpret_cast<const void*>(from + sizeof(T) * i));
}

inline int64_t clamp_index(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Calls column(ow) for every ow in `mid`. For 2x2 windows (kKernel == 2) in
// fixed chunks of 8 that the compiler vectorises whole; a row whose length
// is not a multiple of 8 ends with a chunk overlapping the previous one
// (column must be idempotent). Otherwise a 14-column row (MNIST 28 -> 14)
// would run 6 of its 14 columns in the scalar tail. 3x3 windows keep the plain
// loop: forced 8-wide chunks become gathers there, slower than GCC's own
// choice.
template <int kKernel, class Column>
inline void for_columns(const InteriorColumns& mid, Column&& column) {
  constexpr int64_t kChunk = 8;
  const int64_t n = mid.end - mid.begin;
  if (kKernel != 2 || n < kChunk) {
    for (int64_t ow = mid.begin; ow < mid.end; ++ow) column(ow);
    return;
  }
  for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const int64_t first = mid.begin + (c0 + kChunk <= n ? c0 : n - kChunk);
#pragma omp simd
    for (int64_t k = 0; k < kChunk; ++k) column(first + k);
  }
}

// NaN is the maximum and the first maximum wins (PyTorch's rule): a value
// replaces the best so far if it is larger, or if it is the first NaN.
template <typename T>
inline bool replaces_max(T v, T best) {
  return v > best || (v != v && best == best);
}

// kStride: the horizontal stride when known at compile time (1 or 2, the
// common ones, so the column loop vectorises with fixed-stride loads), else 0.
// kKernel: a square kernel size known at compile time (2 or 3 with stride 2,
// the CNN pools), else 0. Rows whose window lies wholly inside the input then
// take every tap of an output column in registers and store it once; the
// general loop makes one read-modify-write pass over the row per tap.
template <typename T, bool kWithIndex, int kStride, int kKernel = 0>
void max_forward_rows(const PoolWindow& p, const T* __restrict in, T* __restrict out, int64_t* __restrict indices,
                      int64_t row_begin, int64_t row_end) {
  const InteriorColumns mid = interior_columns(p);
  for (int64_t oh = row_begin; oh < row_end; ++oh) {
    const int64_t h0 = oh * p.stride_h - p.pad_top;
    const int64_t h_lo = clamp_index(h0, 0, p.in_h), h_hi = clamp_index(h0 + p.kernel_h, 0, p.in_h);
    T* __restrict o = out + oh * p.out_w;
    int64_t* __restrict idx = kWithIndex ? indices + oh * p.out_w : nullptr;
    prefetch_ahead(in + h_lo * p.in_w, p.stride_h * p.in_w);

    // Edge columns: windows clipped by the left/right border.
    for (int64_t ow = 0; ow < p.out_w; ++ow) {
      if (ow == mid.begin) ow = mid.end;
      if (ow >= p.out_w) break;
      const int64_t w0 = ow * p.stride_w - p.pad_left;
      const int64_t w_lo = clamp_index(w0, 0, p.in_w), w_hi = clamp_index(w0 + p.kernel_w, 0, p.in_w);
      T best = in[h_lo * p.in_w + w_lo];
      int64_t best_i = h_lo * p.in_w + w_lo;
      for (int64_t ih = h_lo; ih < h_hi; ++ih)
        for (int64_t iw = w_lo; iw < w_hi; ++iw) {
          const T v = in[ih * p.in_w + iw];
          if (replaces_max(v, best)) {
            best = v;
            best_i = ih * p.in_w + iw;
          }
        }
      o[ow] = best;
      if (kWithIndex) idx[ow] = best_i;
    }

    // Interior columns: running max over the window taps in row-major order,
    // vectorised across output columns.
    const int64_t sw = kStride ? kStride : p.stride_w, base = -p.pad_left;
    if (kKernel && h_hi - h_lo == kKernel) {
      const T* row0 = in + h_lo * p.in_w + base;
      const int64_t offset0 = h_lo * p.in_w + base;
      const auto column = [&](int64_t ow) {
        if constexpr (!kWithIndex) {
          // Without indices only the value matters: a plain max (one vmaxps
          // per tap) and a separate "saw a NaN" flag, instead of the ordered
          // NaN-aware replacement test.
          T best = row0[ow * sw];
          bool nan = !(best == best);
#pragma GCC unroll 9
          for (int tap = 1; tap < kKernel * kKernel; ++tap) {
            const T v = row0[(tap / kKernel) * p.in_w + tap % kKernel + ow * sw];
            nan = nan | !(v == v);
            best = v > best ? v : best;
          }
          o[ow] = nan ? std::numeric_limits<T>::quiet_NaN() : best;
          return;
        }
        T best = row0[ow * sw];
        int64_t best_i = offset0 + ow * sw;
#pragma GCC unroll 9
        for (int tap = 1; tap < kKernel * kKernel; ++tap) {
          const int64_t at = (tap / kKernel) * p.in_w + tap % kKernel + ow * sw;
          const T v = row0[at];
          const bool take = replaces_max(v, best);
          best = take ? v : best;
          if (kWithIndex) best_i = take ? offset0 + at : best_i;
        }
        o[ow] = best;
        if (kWithIndex) idx[ow] = best_i;
      };
      for_columns<kKernel>(mid, column);
      continue;
    }
    {
      const T* row = in + h_lo * p.in_w + base;
      for (int64_t ow = mid.begin; ow < mid.end; ++ow) {
        o[ow] = row[ow * sw];
        if (kWithIndex) idx[ow] = h_lo * p.in_w + base + ow * sw;
      }
    }
    for (int64_t ih = h_lo; ih < h_hi; ++ih) {
      const T* row = in + ih * p.in_w + base;
      for (int64_t j = (ih == h_lo ? 1 : 0); j < p.kernel_w; ++j) {
        const int64_t offset = ih * p.in_w + base + j;
        for (int64_t ow = mid.begin; ow < mid.end; ++ow) {
          const T v = row[ow * sw + j];
          const bool take = replaces_max(v, o[ow]);
          o[ow] = take ? v : o[ow];
          if (kWithIndex) idx[ow] = take ? offset + ow * sw : idx[ow];
        }
      }
    }
  }
}

// Whether x[0..n) holds a NaN, as an unsigned maximum of the magnitudes'
// bit patterns (a NaN's is above infinity's): vectorised, where a loop of
// NaN compares runs one element at a time.
template <typename T>
inline bool any_nan(const T* __restrict x, int64_t n) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  constexpr U magnitude = ~(U(1) << (8 * sizeof(T) - 1));
  constexpr U infinity = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
  U largest = 0;
  for (int64_t i = 0; i < n; ++i) {
    U u;
    __builtin_memcpy(&u, x + i, sizeof(T));
    u &= magnitude;
    largest = u > largest ? u : largest;
  }
  return largest > infinity;
}

// Max of 3x3 windows at stride 2 without indices (inference, and the
// forward when the gradient is not wanted), separably: each input row's
// 3-column maxima at stride 2 once, then the maximum of three such rows per
// output row; the bottom row's maxima serve as the next output row's top.
// About half the work of taking nine taps per output.
// Rows whose window is clipped vertically, or whose three input rows hold a
// NaN, take max_forward_rows (NaN wins).
template <typename T>
void max_forward_3x3_s2_values(const PoolWindow& p, const T* in, T* out, int64_t row_begin, int64_t row_end) {
  const InteriorColumns mid = interior_columns(p);
  const int64_t count = mid.end - mid.begin;
  if (count <= 0) return max_forward_rows<T, false, 2, 3>(p, in, out, nullptr, row_begin, row_end);
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < 3 * count) buffer.resize(3 * count);
  T* rows[3] = {buffer.data(), buffer.data() + count, buffer.data() + 2 * count};
  const int64_t first_column = 2 * mid.begin - p.pad_left, columns = 2 * count + 1;
  int64_t cached_row = -1;  // the input row whose maxima rows[0] holds
  bool cached_nan = false;
  // Column maxima of input row ih into h; true if the row's columns hold a NaN.
  const auto row_maxima = [&](int64_t ih, T* __restrict h) {
    const T* __restrict r = in + ih * p.in_w + first_column;
    const bool nan = any_nan(r, columns);
    for (int64_t j = 0; j < count; ++j) {
      // Strictly greater replaces: the first of equal values (+0 / -0) wins,
      // row-major over the window like the general loop.
      const T a = r[2 * j], b = r[2 * j + 1], c = r[2 * j + 2];
      const T ab = b > a ? b : a;
      h[j] = c > ab ? c : ab;
    }
    return nan;
  };
  for (int64_t oh = row_begin; oh < row_end; ++oh) {
    const int64_t h0 = 2 * oh - p.pad_top;
    if (h0 < 0 || h0 + 3 > p.in_h) {
      max_forward_rows<T, false, 2, 3>(p, in, out, nullptr, oh, oh + 1);
      continue;
    }
    prefetch_ahead(in + h0 * p.in_w, 2 * p.in_w);
    bool nan = cached_row == h0 ? cached_nan : row_maxima(h0, rows[0]);
    nan |= row_maxima(h0 + 1, rows[1]);
    const bool bottom_nan = row_maxima(h0 + 2, rows[2]);
    nan |= bottom_nan;
    if (nan) {
      max_forward_rows<T, false, 2, 3>(p, in, out, nullptr, oh, oh + 1);
    } else {
      T* __restrict o = out + oh * p.out_w;
      // Edge columns by the general loop's rule (the first tap in row-major
      // order wins; no NaN here).
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        if (ow == mid.begin) ow = mid.end;
        if (ow >= p.out_w) break;
        const int64_t w0 = ow * 2 - p.pad_left;
        const int64_t w_lo = clamp_index(w0, 0, p.in_w), w_hi = clamp_index(w0 + 3, 0, p.in_w);
        T best = in[h0 * p.in_w + w_lo];
        for (int64_t ih = h0; ih < h0 + 3; ++ih)
          for (int64_t iw = w_lo; iw < w_hi; ++iw) best = in[ih * p.in_w + iw] > best ? in[ih * p.in_w + iw] : best;
        o[ow] = best;
      }
      const T* __restrict top = rows[0];
      const T* __restrict centre = rows[1];
      const T* __restrict bottom = rows[2];
      T* __restrict oi = o + mid.begin;
      for (int64_t j = 0; j < count; ++j) {
        const T tc = centre[j] > top[j] ? centre[j] : top[j];
        oi[j] = bottom[j] > tc ? bottom[j] : tc;
      }
    }
    // The bottom row is the next output row's top.
    T* swap = rows[0];
    rows[0] = rows[2];
    rows[2] = swap;
    cached_row = h0 + 2;
    cached_nan = bottom_nan;
  }
}

template <typename T>
void max_forward(const PoolWindow& p, const T* in, T* out, int64_t* indices, int64_t row_begin, int64_t row_end) {
  const bool with_index = indices != nullptr;
  const bool square_s2 = p.stride_w == 2 && p.kernel_h == p.kernel_w;
  if (square_s2 && p.kernel_w == 2)
    with_index ? max_forward_rows<T, true, 2, 2>(p, in, out, indices, row_begin, row_end)
               : max_forward_rows<T, false, 2, 2>(p, in, out, nullptr, row_begin, row_end);
  else if (square_s2 && p.kernel_w == 3 && with_index)
    max_forward_rows<T, true, 2, 3>(p, in, out, indices, row_begin, row_end);
  else if (square_s2 && p.kernel_w == 3 && p.stride_h == 2)  // the separable rows assume it
    max_forward_3x3_s2_values<T>(p, in, out, row_begin, row_end);
  else if (square_s2 && p.kernel_w == 3)
    max_forward_rows<T, false, 2, 3>(p, in, out, nullptr, row_begin, row_end);
  else if (p.stride_w == 1)
    with_index ? max_forward_rows<T, true, 1>(p, in, out, indices, row_begin, row_end)
               : max_forward_rows<T, false, 1>(p, in, out, nullptr, row_begin, row_end);
  else if (p.stride_w == 2)
    with_index ? max_forward_rows<T, true, 2>(p, in, out, indices, row_begin, row_end)
               : max_forward_rows<T, false, 2>(p, in, out, nullptr, row_begin, row_end);
  else
    with_index ? max_forward_rows<T, true, 0>(p, in, out, indices, row_begin, row_end)
               : max_forward_rows<T, false, 0>(p, in, out, nullptr, row_begin, row_end);
}

// PyTorch's divisor: the window clipped to the padded input when padding
// counts, else to the input itself.
inline int64_t avg_divisor(const PoolWindow& p, int64_t oh, int64_t ow) {
  const int64_t h0 = oh * p.stride_h - p.pad_top, w0 = ow * p.stride_w - p.pad_left;
  if (p.count_include_pad) {
    const int64_t h1 = h0 + p.kernel_h < p.in_h + p.pad_bottom ? h0 + p.kernel_h : p.in_h + p.pad_bottom;
    const int64_t w1 = w0 + p.kernel_w < p.in_w + p.pad_right ? w0 + p.kernel_w : p.in_w + p.pad_right;
    return (h1 - h0) * (w1 - w0);
  }
  return (clamp_index(h0 + p.kernel_h, 0, p.in_h) - clamp_index(h0, 0, p.in_h)) *
         (clamp_index(w0 + p.kernel_w, 0, p.in_w) - clamp_index(w0, 0, p.in_w));
}

// o[j] = (a[2j] + a[2j+1] + b[2j] + b[2j+1]) * scale for j < count, on AVX2
// for float rows of 8+ outputs (false otherwise: the caller's loop runs).
// The two rows are added first and neighbours paired by one horizontal add:
// GCC's own vectorisation of the four strided taps costs several times the
// reading of the rows.
// A row that is not a multiple of 8 ends with a chunk overlapping the one
// before it.
template <typename T>
inline bool average_2x2(const T* __restrict a, const T* __restrict b, T* __restrict o, int64_t count, T scale) {
#if defined(__AVX2__)
  if constexpr (sizeof(T) == 4) {
    if (count < 8) return false;
    const __m256 factor = _mm256_set1_ps(scale);
    for (int64_t chunk = 0; chunk < count; chunk += 8) {
      const int64_t j = chunk + 8 <= count ? chunk : count - 8;
      const __m256 lo = _mm256_add_ps(_mm256_loadu_ps(a + 2 * j), _mm256_loadu_ps(b + 2 * j));
      const __m256 hi = _mm256_add_ps(_mm256_loadu_ps(a + 2 * j + 8), _mm256_loadu_ps(b + 2 * j + 8));
      // Pair sums lo 0-3, hi 0-3 | lo 4-7, hi 4-7; 64-bit pairs into order.
      const __m256 pairs = _mm256_hadd_ps(lo, hi);
      const __m256 ordered = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), 0xD8));
      _mm256_storeu_ps(o + j, _mm256_mul_ps(ordered, factor));
    }
    return true;
  }
#endif
  (void)a, (void)b, (void)o, (void)count, (void)scale;
  return false;
}

// kKernel as in max_forward_rows.
template <typename T, int kStride, int kKernel = 0>
void avg_forward_rows(const PoolWindow& p, const T* __restrict in, T* __restrict out, int64_t row_begin,
                      int64_t row_end) {
  const InteriorColumns mid = interior_columns(p);
  const int64_t sw = kStride ? kStride : p.stride_w, base = -p.pad_left;
  for (int64_t oh = row_begin; oh < row_end; ++oh) {
    const int64_t h0 = oh * p.stride_h - p.pad_top;
    const int64_t h_lo = clamp_index(h0, 0, p.in_h), h_hi = clamp_index(h0 + p.kernel_h, 0, p.in_h);
    T* __restrict o = out + oh * p.out_w;
    prefetch_ahead(in + h_lo * p.in_w, p.stride_h * p.in_w);
    for (int64_t ow = 0; ow < p.out_w; ++ow) {
      if (ow == mid.begin) ow = mid.end;
      if (ow >= p.out_w) break;
      const int64_t w0 = ow * sw - p.pad_left;
      const int64_t w_lo = clamp_index(w0, 0, p.in_w), w_hi = clamp_index(w0 + p.kernel_w, 0, p.in_w);
      T sum = 0;
      for (int64_t ih = h_lo; ih < h_hi; ++ih)
        for (int64_t iw = w_lo; iw < w_hi; ++iw) sum += in[ih * p.in_w + iw];
      o[ow] = sum / static_cast<T>(avg_divisor(p, oh, ow));
    }
    if (kKernel && h_hi - h_lo == kKernel && mid.begin < mid.end) {
      const T scale = T(1) / static_cast<T>(avg_divisor(p, oh, mid.begin));
      const T* row0 = in + h_lo * p.in_w + base;
      if (kKernel == 2 && kStride == 2 &&
          average_2x2(row0 + 2 * mid.begin, row0 + 2 * mid.begin + p.in_w, o + mid.begin, mid.end - mid.begin, scale))
        continue;
      const auto column = [&](int64_t ow) {
        T total = 0;
#pragma GCC unroll 9
        for (int tap = 0; tap < kKernel * kKernel; ++tap)
          total += row0[(tap / kKernel) * p.in_w + tap % kKernel + ow * sw];
        o[ow] = total * scale;
      };
      for_columns<kKernel>(mid, column);
      continue;
    }
    for (int64_t ow = mid.begin; ow < mid.end; ++ow) o[ow] = 0;
    for (int64_t ih = h_lo; ih < h_hi; ++ih) {
      const T* row = in + ih * p.in_w + base;
      for (int64_t j = 0; j < p.kernel_w; ++j)
        for (int64_t ow = mid.begin; ow < mid.end; ++ow) o[ow] += row[ow * sw + j];
    }
    if (mid.begin < mid.end) {
      // Interior columns share one divisor per output row.
      const T scale = T(1) / static_cast<T>(avg_divisor(p, oh, mid.begin));
      for (int64_t ow = mid.begin; ow < mid.end; ++ow) o[ow] *= scale;
    }
  }
}

// h[j] = v[2j] + v[2j+1] + v[2j+2] for j < count; v holds 2 * count + 1
// values and at least 16 more that may be read (and ignored). On AVX2 the
// three-tap sums are taken at every column of two vectors and the even ones
// kept by one shuffle and one lane permute: GCC's own vectorisation of the
// strided form spends six lane-crossing permutes per 8 outputs.
template <typename T>
inline void sum3_stride2(const T* __restrict v, T* __restrict h, int64_t count) {
  int64_t j = 0;
#if defined(__AVX2__)
  if constexpr (sizeof(T) == 4) {
    for (; j + 8 <= count; j += 8) {
      const float* at = v + 2 * j;
      const __m256 lo =
          _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(at), _mm256_loadu_ps(at + 1)), _mm256_loadu_ps(at + 2));
      const __m256 hi =
          _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(at + 8), _mm256_loadu_ps(at + 9)), _mm256_loadu_ps(at + 10));
      // lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6, then 64-bit pairs into order.
      const __m256 even = _mm256_shuffle_ps(lo, hi, 0x88);
      _mm256_storeu_ps(h + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xD8)));
    }
  }
#endif
  for (; j < count; ++j) h[j] = v[2 * j] + v[2 * j + 1] + v[2 * j + 2];
}

// Average of 3x3 windows at stride 2, separably: the three input rows of an
// output row summed down the columns (contiguous, cheap), then the 3-column
// sums at stride 2 of that one row, times the interior's shared 1 / divisor.
// Summing across first would need two strided passes per output row (one per
// new input row) where this needs one. Rows clipped vertically take
// avg_forward_rows. From memory the prefetch (prefetch_ahead) matters more.
template <typename T>
void avg_forward_3x3_s2(const PoolWindow& p, const T* in, T* out, int64_t row_begin, int64_t row_end) {
  const InteriorColumns mid = interior_columns(p);
  const int64_t count = mid.end - mid.begin;
  if (count <= 0) return avg_forward_rows<T, 2, 3>(p, in, out, row_begin, row_end);
  const int64_t first_column = 2 * mid.begin - p.pad_left, columns = 2 * count + 1;
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < columns + 16) buffer.resize(columns + 16);
  T* __restrict column_sums = buffer.data();
  for (int64_t oh = row_begin; oh < row_end; ++oh) {
    const int64_t h0 = 2 * oh - p.pad_top;
    if (h0 < 0 || h0 + 3 > p.in_h) {
      avg_forward_rows<T, 2, 3>(p, in, out, oh, oh + 1);
      continue;
    }
    T* __restrict o = out + oh * p.out_w;
    for (int64_t ow = 0; ow < p.out_w; ++ow) {  // edge columns: clipped windows
      if (ow == mid.begin) ow = mid.end;
      if (ow >= p.out_w) break;
      const int64_t w0 = ow * 2 - p.pad_left;
      const int64_t w_lo = clamp_index(w0, 0, p.in_w), w_hi = clamp_index(w0 + 3, 0, p.in_w);
      T sum = 0;
      for (int64_t ih = h0; ih < h0 + 3; ++ih)
        for (int64_t iw = w_lo; iw < w_hi; ++iw) sum += in[ih * p.in_w + iw];
      o[ow] = sum / static_cast<T>(avg_divisor(p, oh, ow));
    }
    const T* __restrict r0 = in + h0 * p.in_w + first_column;
    const T* __restrict r1 = r0 + p.in_w;
    const T* __restrict r2 = r1 + p.in_w;
    for (int64_t i = 0; i < columns; ++i) column_sums[i] = r0[i] + r1[i] + r2[i];
    prefetch_ahead(r0, 2 * p.in_w);
    T* __restrict oi = o + mid.begin;
    sum3_stride2(column_sums, oi, count);
    const T scale = T(1) / static_cast<T>(avg_divisor(p, oh, mid.begin));
    for (int64_t j = 0; j < count; ++j) oi[j] *= scale;
  }
}

template <typename T>
void avg_forward(const PoolWindow& p, const T* in, T* out, int64_t row_begin, int64_t row_end) {
  const bool square_s2 = p.stride_w == 2 && p.kernel_h == p.kernel_w;
  // Every window whole (LeNet's pool): no edges, one divisor.
  if (square_s2 && p.kernel_w == 2 && p.stride_h == 2 && p.pad_top == 0 && p.pad_left == 0 && 2 * p.out_h <= p.in_h &&
      2 * p.out_w <= p.in_w) {
    int64_t oh = row_begin;
    for (; oh < row_end; ++oh) {
      const T* top = in + 2 * oh * p.in_w;
      prefetch_ahead(top, 2 * p.in_w);
      if (!average_2x2(top, top + p.in_w, out + oh * p.out_w, p.out_w, T(0.25))) break;
    }
    if (oh < row_end) avg_forward_rows<T, 2, 2>(p, in, out, oh, row_end);
    return;
  }
  if (square_s2 && p.kernel_w == 2)
    avg_forward_rows<T, 2, 2>(p, in, out, row_begin, row_end);
  else if (square_s2 && p.kernel_w == 3 && p.stride_h == 2)  // the separable rows assume it
    avg_forward_3x3_s2<T>(p, in, out, row_begin, row_end);
  else if (square_s2 && p.kernel_w == 3)
    avg_forward_rows<T, 2, 3>(p, in, out, row_begin, row_end);
  else if (p.stride_w == 1)
    avg_forward_rows<T, 1>(p, in, out, row_begin, row_end);
  else if (p.stride_w == 2)
    avg_forward_rows<T, 2>(p, in, out, row_begin, row_end);
  else
    avg_forward_rows<T, 0>(p, in, out, row_begin, row_end);
}

// Where the backward pass builds the input rows of the gradient. Writing
// in place, a row is built where it belongs. Streaming (a gradient too big
// to stay cached, see copy_streaming.h), it is built in an L1 buffer and
// streamed out: a per-thread scratch plane (50 KB for ResNet's stem pool)
// spilled to L2 and was read back by a second pass.
template <typename T>
class GradientRows {
 public:
  GradientRows(T* din, int64_t width, bool stream) : din_(din), width_(width), stream_(stream) {
    thread_local std::vector<T> buffer;
    if (stream && static_cast<int64_t>(buffer.size()) < width) buffer.resize(width);
    scratch_ = stream ? buffer.data() : nullptr;
  }
  ~GradientRows() {
    if (stream_) stream_fence();
  }
  // Where to build input row ih; then done(ih).
  T* build(int64_t ih) const { return stream_ ? scratch_ : din_ + ih * width_; }
  void done(int64_t ih) const {
    if (stream_) stream_unfenced(scratch_, din_ + ih * width_, width_);
  }
  // Streaming: the row built last also becomes row other.
  void copy_to(int64_t other) const { stream_unfenced(scratch_, din_ + other * width_, width_); }

 private:
  T* din_;
  int64_t width_;
  bool stream_;
  T* scratch_;
};

// 2x2 windows at stride 2 cover each input row and column at most once:
// a window's two input rows are the same row, its output row's quotients
// each repeated twice, written to both. On short rows the general loop
// below (a ring of spread rows, zeroed, added into and copied per row) is
// mostly loop overhead.
// a[2j] = a[2j+1] = b[2j] = b[2j+1] = g[j] * scale for j < count, on AVX2
// for float rows of 8+ (false otherwise): each product duplicated in
// registers by two unpacks and two lane permutes, the last chunk
// overlapping the one before it.
template <typename T>
inline bool repeat_pairs(const T* __restrict g, T* __restrict a, T* __restrict b, int64_t count, T scale) {
#if defined(__AVX2__)
  if constexpr (sizeof(T) == 4) {
    if (count < 8) return false;
    const __m256 factor = _mm256_set1_ps(scale);
    for (int64_t chunk = 0; chunk < count; chunk += 8) {
      const int64_t j = chunk + 8 <= count ? chunk : count - 8;
      const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(g + j), factor);
      const __m256 lo = _mm256_unpacklo_ps(v, v), hi = _mm256_unpackhi_ps(v, v);
      const __m256 first = _mm256_permute2f128_ps(lo, hi, 0x20), second = _mm256_permute2f128_ps(lo, hi, 0x31);
      _mm256_storeu_ps(a + 2 * j, first);
      _mm256_storeu_ps(a + 2 * j + 8, second);
      _mm256_storeu_ps(b + 2 * j, first);
      _mm256_storeu_ps(b + 2 * j + 8, second);
    }
    return true;
  }
#endif
  (void)g, (void)a, (void)b, (void)count, (void)scale;
  return false;
}

template <typename T>
void avg_backward_2x2_s2(const PoolWindow& p, const T* __restrict dout, T* __restrict din, bool stream) {
  // Windows tiling the plane exactly (LeNet's pool), written in place: each
  // output row is its two input rows, nothing else to decide per row.
  if (!stream && p.pad_top == 0 && p.pad_left == 0 && 2 * p.out_h == p.in_h && 2 * p.out_w == p.in_w) {
    int64_t oh = 0;
    for (; oh < p.out_h; ++oh) {
      T* top = din + 2 * oh * p.in_w;
      if (!repeat_pairs(dout + oh * p.out_w, top, top + p.in_w, p.out_w, T(0.25))) break;
    }
    if (oh == p.out_h) return;
  }
  const GradientRows<T> rows(din, p.in_w, stream);
  thread_local std::vector<T> quotient;
  if (static_cast<int64_t>(quotient.size()) < p.out_w + 1) quotient.resize(p.out_w + 1);
  T* __restrict q = quotient.data();  // q[out_w] = 0: columns no window covers
  q[p.out_w] = 0;
  const InteriorColumns mid = interior_columns(p);
  const int64_t count = mid.end - mid.begin, first_column = 2 * mid.begin - p.pad_left;
  int64_t covered = 0;  // input rows [0, covered) written
  for (int64_t oh = 0; oh < p.out_h; ++oh) {
    const T* __restrict g = dout + oh * p.out_w;
    for (int64_t ow = 0; ow < p.out_w; ++ow) {  // edge columns: clipped windows
      if (ow == mid.begin) ow = mid.end;
      if (ow >= p.out_w) break;
      q[ow] = g[ow] / static_cast<T>(avg_divisor(p, oh, ow));
    }
    const int64_t h0 = 2 * oh - p.pad_top;
    const int64_t h_lo = h0 < 0 ? 0 : h0, h_hi = h0 + 2 < p.in_h ? h0 + 2 : p.in_h;
    T* __restrict row = rows.build(h_lo);
    // Written in place, the window's second row is stored beside the first
    // (not copied by a memcpy per row, whose call is costly on short rows);
    // streamed, the row built once is streamed twice.
    T* __restrict twin = !stream && h_hi - 1 > h_lo ? din + (h_hi - 1) * p.in_w : nullptr;
    if (count > 0) {
      // A 2x2 window's divisor is 1, 2 or 4, so multiplying by its
      // reciprocal is exact (as in repeat_pairs).
      const T scale = T(1) / static_cast<T>(avg_divisor(p, oh, mid.begin));
      T* __restrict a = row + first_column;
      const T* __restrict gi = g + mid.begin;
      if (twin) {
        T* __restrict b = twin + first_column;
        for_columns<2>({0, count}, [&](int64_t j) {
          const T v = gi[j] * scale;
          a[2 * j] = v;
          a[2 * j + 1] = v;
          b[2 * j] = v;
          b[2 * j + 1] = v;
        });
      } else {
        for_columns<2>({0, count}, [&](int64_t j) {
          const T v = gi[j] * scale;
          a[2 * j] = v;
          a[2 * j + 1] = v;
        });
      }
    }
    for (T* r : {row, twin}) {
      if (!r) continue;
      for (int64_t iw = 0; iw < first_column; ++iw) {
        const int64_t ow = (iw + p.pad_left) / 2;
        r[iw] = q[ow < p.out_w ? ow : p.out_w];
      }
      for (int64_t iw = first_column + 2 * count; iw < p.in_w; ++iw) {
        const int64_t ow = (iw + p.pad_left) / 2;
        r[iw] = q[ow < p.out_w ? ow : p.out_w];
      }
    }
    rows.done(h_lo);
    if (stream && h_hi - 1 > h_lo) rows.copy_to(h_hi - 1);
    covered = h_hi;
  }
  // Rows past the last window (an odd height without ceil_mode).
  for (int64_t ih = covered; ih < p.in_h; ++ih) {
    T* __restrict row = rows.build(ih);
    for (int64_t iw = 0; iw < p.in_w; ++iw) row[iw] = 0;
    rows.done(ih);
  }
}

// Input row `row` of a 3x3 stride-2 window's gradient from the quotient row
// q (gradient / divisor) it takes, stored shifted by one: q[k] is output
// column k - 1's quotient, q[0] = 0, and zeros past the output (at least
// 16 more entries may be read). Input column c, at t = c + pad_left in the
// padded row, is covered by windows t/2 and, for even t, t/2 - 1.
// On AVX2, 8 quotients make 16 columns: the even-t sums and the odd-t
// values interleaved by two unpacks and two lane permutes.
template <typename T>
inline void expand_3x3_s2(const PoolWindow& p, const T* __restrict q, T* __restrict row) {
  const auto column = [&](int64_t c) {
    const int64_t t = c + p.pad_left, j = t / 2;
    return t % 2 == 0 ? q[j + 1] + q[j] : q[j + 1];
  };
  int64_t c = 0;
#if defined(__AVX2__)
  if constexpr (sizeof(T) == 4) {
    // Chunk j0 writes columns [2*j0 - pad_left, +16).
    const int64_t j_first = (p.pad_left + 1) / 2, j_last = (p.in_w + p.pad_left - 16) / 2;
    if (j_last >= j_first) {
      for (; c < 2 * j_first - p.pad_left; ++c) row[c] = column(c);
      for (int64_t chunk = j_first; chunk < j_last + 8; chunk += 8) {
        const int64_t j0 = chunk <= j_last ? chunk : j_last;
        const __m256 cur = _mm256_loadu_ps(q + j0 + 1), prev = _mm256_loadu_ps(q + j0);
        const __m256 even = _mm256_add_ps(cur, prev);
        const __m256 lo = _mm256_unpacklo_ps(even, cur), hi = _mm256_unpackhi_ps(even, cur);
        float* at = row + 2 * j0 - p.pad_left;
        _mm256_storeu_ps(at, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(at + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
      }
      c = 2 * j_last - p.pad_left + 16;
    }
  }
#endif
  for (; c < p.in_w; ++c) row[c] = column(c);
}

// 3x3 windows at stride 2 (ResNet's stem pool): an input row is covered by
// one output row (odd t = ih + pad_top) or two (even t), so it is the
// horizontal expansion of one quotient row, or of the sum of two, written
// once, instead of added into by the general loop below.
template <typename T>
void avg_backward_3x3_s2(const PoolWindow& p, const T* __restrict dout, T* __restrict din, bool stream) {
  const GradientRows<T> rows(din, p.in_w, stream);
  const int64_t width = (p.out_w > (p.in_w + p.pad_left) / 2 ? p.out_w : (p.in_w + p.pad_left) / 2) + 24;
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < 3 * width) buffer.resize(3 * width);
  T* slots[2] = {buffer.data(), buffer.data() + width};  // quotient rows, by oh % 2
  T* __restrict both = buffer.data() + 2 * width;
  int64_t made = -1;  // quotient rows [0, made] are made
  const InteriorColumns mid = interior_columns(p);
  const auto quotient_row = [&](int64_t oh) -> const T* {
    T* __restrict q = slots[oh % 2];
    for (; made < oh;) {
      const int64_t r = ++made;
      T* __restrict m = slots[r % 2];
      const T* __restrict g = dout + r * p.out_w;
      m[0] = 0;
      for (int64_t ow = 0; ow < p.out_w; ++ow) {  // edge columns: clipped windows
        if (ow == mid.begin) ow = mid.end;
        if (ow >= p.out_w) break;
        m[ow + 1] = g[ow] / static_cast<T>(avg_divisor(p, r, ow));
      }
      if (mid.begin < mid.end) {
        const T divisor = static_cast<T>(avg_divisor(p, r, mid.begin));
        for (int64_t ow = mid.begin; ow < mid.end; ++ow) m[ow + 1] = g[ow] / divisor;
      }
      for (int64_t k = p.out_w + 1; k < width; ++k) m[k] = 0;
    }
    return q;
  };
  for (int64_t ih = 0; ih < p.in_h; ++ih) {
    T* __restrict row = rows.build(ih);
    const int64_t t = ih + p.pad_top;
    const int64_t last = t / 2 < p.out_h ? t / 2 : p.out_h - 1;  // covering rows: first..last
    const int64_t first = t % 2 == 0 && t >= 2 ? t / 2 - 1 : t / 2;
    if (first > last) {
      for (int64_t iw = 0; iw < p.in_w; ++iw) row[iw] = 0;
      rows.done(ih);
      continue;
    }
    const T* __restrict q = quotient_row(last);
    if (first < last) {
      const T* __restrict a = quotient_row(first);  // still in its slot: made before last
      for (int64_t k = 0; k < width; ++k) both[k] = a[k] + q[k];
      q = both;
    }
    expand_3x3_s2(p, q, row);
    rows.done(ih);
  }
}

// Each output row's gradient, divided by its windows' divisors, is spread
// along the row into a buffer of the input's width (k strided adds per
// output, on L1-resident data; window columns outside the input skipped).
// Every input row is then written exactly once, as the sum of the spread
// rows of the (at most ceil(k / stride)) output rows whose windows cover it:
// no zeroing pass and no read-modify-write of the plane. The spread rows
// live in a small ring, each computed once.
template <typename T>
void avg_backward(const PoolWindow& p, const T* __restrict dout, T* __restrict din, bool stream) {
  if (p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && p.stride_w == 2)
    return avg_backward_2x2_s2(p, dout, din, stream);
  if (p.kernel_h == 3 && p.kernel_w == 3 && p.stride_h == 2 && p.stride_w == 2)
    return avg_backward_3x3_s2(p, dout, din, stream);
  const GradientRows<T> rows(din, p.in_w, stream);
  // Output rows covering one input row: at most ceil(kh / sh), and never more than out_h.
  const int64_t cover = (p.kernel_h + p.stride_h - 1) / p.stride_h;
  const int64_t ring = (cover < p.out_h ? cover : p.out_h) + 1;
  thread_local std::vector<T> buffer, quotient;
  if (static_cast<int64_t>(buffer.size()) < ring * p.in_w) buffer.resize(ring * p.in_w);
  if (static_cast<int64_t>(quotient.size()) < p.out_w + 1) quotient.resize(p.out_w + 1);
  int64_t spread_upto = 0;  // output rows [0, spread_upto) have been spread
  const InteriorColumns mid = interior_columns(p);
  for (int64_t ih = 0; ih < p.in_h; ++ih) {
    // Output rows oh with oh*sh - pad_top <= ih < oh*sh - pad_top + kh.
    const int64_t reach = ih + p.pad_top;
    int64_t first = reach - p.kernel_h + 1 <= 0 ? 0 : (reach - p.kernel_h + p.stride_h) / p.stride_h;
    int64_t last = reach / p.stride_h;  // inclusive
    if (last >= p.out_h) last = p.out_h - 1;
    T* __restrict row = rows.build(ih);
    if (first > last) {
      for (int64_t iw = 0; iw < p.in_w; ++iw) row[iw] = 0;
      rows.done(ih);
      continue;
    }
    for (; spread_upto <= last; ++spread_upto) {
      const int64_t oh = spread_upto;
      T* __restrict spread = buffer.data() + (oh % ring) * p.in_w;
      for (int64_t i = 0; i < p.in_w; ++i) spread[i] = 0;
      const T* g = dout + oh * p.out_w;
      for (int64_t ow = 0; ow < p.out_w; ++ow) {  // edge columns: clipped windows
        if (ow == mid.begin) ow = mid.end;
        if (ow >= p.out_w) break;
        const T v = g[ow] / static_cast<T>(avg_divisor(p, oh, ow));
        const int64_t w0 = ow * p.stride_w - p.pad_left;
        const int64_t w_lo = clamp_index(w0, 0, p.in_w), w_hi = clamp_index(w0 + p.kernel_w, 0, p.in_w);
        for (int64_t iw = w_lo; iw < w_hi; ++iw) spread[iw] += v;
      }
      if (mid.begin < mid.end) {  // interior columns share one divisor per row
        const T divisor = static_cast<T>(avg_divisor(p, oh, mid.begin));
        T* __restrict at = spread + mid.begin * p.stride_w - p.pad_left;
        if (p.kernel_w == 2 && p.stride_w == 2) {
          for (int64_t ow = 0; ow < mid.end - mid.begin; ++ow) {
            const T v = g[mid.begin + ow] / divisor;
            at[2 * ow] += v;
            at[2 * ow + 1] += v;
          }
        } else if (p.kernel_w == 3 && p.stride_w == 2) {
          // Neighbouring windows share a column: column 2*ow takes windows
          // ow - 1 and ow, column 2*ow + 1 window ow alone. With the
          // quotients in a buffer first, the loop has no chain of adds
          // through memory and vectorises (three strided adds per output
          // would run scalar).
          const int64_t count = mid.end - mid.begin;
          T* __restrict v = quotient.data();  // v[1 + ow]; v[0] = 0
          v[0] = 0;
          for (int64_t ow = 0; ow < count; ++ow) v[1 + ow] = g[mid.begin + ow] / divisor;
          for (int64_t ow = 0; ow < count; ++ow) {
            at[2 * ow] += v[ow] + v[ow + 1];
            at[2 * ow + 1] += v[ow + 1];
          }
          at[2 * count] += v[count];
        } else {
          for (int64_t ow = mid.begin; ow < mid.end; ++ow, at += p.stride_w) {
            const T v = g[ow] / divisor;
            for (int64_t j = 0; j < p.kernel_w; ++j) at[j] += v;
          }
        }
      }
    }
    const T* __restrict a = buffer.data() + (first % ring) * p.in_w;
    for (int64_t iw = 0; iw < p.in_w; ++iw) row[iw] = a[iw];
    for (int64_t oh = first + 1; oh <= last; ++oh) {
      const T* __restrict b = buffer.data() + (oh % ring) * p.in_w;
      for (int64_t iw = 0; iw < p.in_w; ++iw) row[iw] += b[iw];
    }
    rows.done(ih);
  }
}

// Sum with independent partial sums: vectorisable, and more accurate than
// one running float total.
template <typename T>
T sum(const T* __restrict x, int64_t n) {
  constexpr int kLanes = 32;
  T part[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) part[j] += x[i + j];
  T total = 0;
  for (; i < n; ++i) total += x[i];
  for (int j = 0; j < kLanes; ++j) total += part[j];
  return total;
}

template <typename T>
T max_with_index(const T* __restrict x, int64_t n, int64_t* index) {
  T best = x[0];
  int64_t best_i = 0;
  for (int64_t i = 1; i < n; ++i)
    if (replaces_max(x[i], best)) {
      best = x[i];
      best_i = i;
    }
  *index = best_i;
  return best;
}

// Channels-last variants (same namespace, same helpers).
#include "pool2d_nhwc_impl.h"

// The PoolKernels table entry of the including ISA, field by field.
template <typename T>
PoolKernels<T> pool_kernels() {
  PoolKernels<T> k{};
  // Channels-first planes.
  k.max_forward = &max_forward<T>;
  k.avg_forward = &avg_forward<T>;
  k.avg_backward = &avg_backward<T>;
  // Global reductions.
  k.sum = &sum<T>;
  k.max_with_index = &max_with_index<T>;
  // Channels-last images.
  k.max_forward_nhwc = &max_forward_nhwc<T>;
  k.avg_forward_nhwc = &avg_forward_nhwc<T>;
  k.avg_backward_nhwc = &avg_backward_nhwc<T>;
  // Copies.
  k.copy_streaming = &copy_streaming<T>;
  return k;
}

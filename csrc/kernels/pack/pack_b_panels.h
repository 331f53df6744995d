// Packs one im2col row into B micro-panels, from a contiguous row:
//   dst[(j / NR) * panel_stride + j % NR] = row[j]   for j < n,
// zero for n <= j < round_up(n, NR) (wide positions: every panel row is one
// vector copy).
template <class S, int NV>
void pack_b_copy(const typename S::T* __restrict row, int64_t n, int64_t panel_stride,
                 typename S::T* __restrict dst) {
  constexpr int NR = NV * S::width;
  int64_t j = 0;
  for (; j + NR <= n; j += NR, dst += panel_stride)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) S::store(dst + v * S::width, S::load(row + j + v * S::width));
  if (j < n) {
    const int64_t live = n - j;
    for (int64_t q = 0; q < live; ++q) dst[q] = row[j + q];
    for (int64_t q = live; q < NR; ++q) dst[q] = 0;
  }
}

template <typename T, int NR>
void pack_b_copy_portable(const T* __restrict row, int64_t n, int64_t panel_stride,
                          T* __restrict dst) {
  for (int64_t j = 0; j < n; j += NR, dst += panel_stride) {
    const int64_t live = n - j < NR ? n - j : NR;
    for (int64_t q = 0; q < live; ++q) dst[q] = row[j + q];
    for (int64_t q = live; q < NR; ++q) dst[q] = 0;
  }
}

// Concatenates `count` runs into a contiguous row: dst[column[r] + q] =
// src[offset[r] + q] for q < length[r]. Whole vectors are moved, so up to
// one vector is read past each run and written past its end: callers keep
// that much slack in both buffers and write the runs in increasing column
// order (each run overwrites the previous one's spill).
template <class S>
void copy_runs(const typename S::T* __restrict src, const int64_t* column, const int64_t* offset,
               const int64_t* length, int64_t count, typename S::T* __restrict dst) {
  for (int64_t r = 0; r < count; ++r) {
    const typename S::T* from = src + offset[r];
    typename S::T* to = dst + column[r];
    for (int64_t q = 0; q < length[r]; q += S::width) S::store(to + q, S::load(from + q));
  }
}

template <typename T>
void copy_runs_portable(const T* __restrict src, const int64_t* column, const int64_t* offset,
                        const int64_t* length, int64_t count, T* __restrict dst) {
  for (int64_t r = 0; r < count; ++r)
    for (int64_t q = 0; q < length[r]; ++q) dst[column[r] + q] = src[offset[r] + q];
}

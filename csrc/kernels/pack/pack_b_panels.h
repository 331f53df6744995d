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

// Packs one im2col row into B micro-panels through an index list:
//   dst[(j / NR) * panel_stride + j % NR] = row[index[j]]   for j < n,
// zero for n <= j < round_up(n, NR). Used when a block's grid rows are
// shorter than a micro-panel, where copying runs would be mostly overhead.
// Included inside an ISA namespace by kernels/table_<isa>.cpp.

template <class S, int NV>
void pack_b_gather(const typename S::T* __restrict row, const int32_t* __restrict index,
                   int64_t n, int64_t panel_stride, typename S::T* __restrict dst) {
  constexpr int NR = NV * S::width;
  int64_t j = 0;
  for (; j + NR <= n; j += NR, dst += panel_stride)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) S::store(dst + v * S::width, S::gather(row, index + j + v * S::width));
  if (j < n) {
    const int64_t live = n - j;
    for (int64_t q = 0; q < live; ++q) dst[q] = row[index[j + q]];
    for (int64_t q = live; q < NR; ++q) dst[q] = 0;
  }
}

template <typename T, int NR>
void pack_b_gather_portable(const T* __restrict row, const int32_t* __restrict index, int64_t n,
                            int64_t panel_stride, T* __restrict dst) {
  for (int64_t j = 0; j < n; j += NR, dst += panel_stride) {
    const int64_t live = n - j < NR ? n - j : NR;
    for (int64_t q = 0; q < live; ++q) dst[q] = row[index[j + q]];
    for (int64_t q = live; q < NR; ++q) dst[q] = 0;
  }
}

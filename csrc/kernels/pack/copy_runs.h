// Concatenates `count` runs into a contiguous row: dst[column[r] + q] =
// src[offset[r] + q] for q < length[r]. Whole vectors are moved, so up to
// one vector is read past each run and written past its end: callers keep
// that much slack in both buffers and write the runs in increasing column
// order (each run overwrites the previous one's spill).
template <class S>
void copy_runs(const typename S::T* __restrict src, const int64_t* column, const int64_t* offset, const int64_t* length,
               int64_t count, typename S::T* __restrict dst) {
  for (int64_t r = 0; r < count; ++r) {
    const typename S::T* from = src + offset[r];
    typename S::T* to = dst + column[r];
    for (int64_t q = 0; q < length[r]; q += S::width) S::store(to + q, S::load(from + q));
  }
}

template <typename T>
void copy_runs_portable(const T* __restrict src, const int64_t* column, const int64_t* offset, const int64_t* length,
                        int64_t count, T* __restrict dst) {
  for (int64_t r = 0; r < count; ++r)
    for (int64_t q = 0; q < length[r]; ++q) dst[column[r] + q] = src[offset[r] + q];
}

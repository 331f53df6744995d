// dW = G^T M G of one output channel for the Winograd weight gradient
// (ops/conv2d_winograd.cpp): M's point p = (k, l) row, c_in contiguous
// values over the input channels, at m + p * point_stride; G is alpha x r
// (row stride 7). Vectorised over the input channels by the ISA of the
// including file (the baseline build's SSE2 version is a visible share of
// small weight gradients). scratch: (alpha + r) * r * c_in values.
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace.
template <typename T>
void winograd_gradient_transform(const T (*G)[7], int alpha, int r, int64_t c_in, const T* m, int64_t point_stride,
                                 T* __restrict dw, T* __restrict scratch) {
  T* __restrict mg = scratch;                      // (M G)[k][j] over ci
  T* __restrict gmg = scratch + alpha * r * c_in;  // (G^T M G)[i][j] over ci
  for (int k = 0; k < alpha; ++k)
    for (int j = 0; j < r; ++j) {
      T* __restrict acc = mg + (k * r + j) * c_in;
      for (int64_t ci = 0; ci < c_in; ++ci) acc[ci] = 0;
      for (int l = 0; l < alpha; ++l) {
        const T glj = G[l][j];
        const T* __restrict row = m + (k * alpha + l) * point_stride;
        for (int64_t ci = 0; ci < c_in; ++ci) acc[ci] += row[ci] * glj;
      }
    }
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < r; ++j) {
      T* __restrict acc = gmg + (i * r + j) * c_in;
      for (int64_t ci = 0; ci < c_in; ++ci) acc[ci] = 0;
      for (int k = 0; k < alpha; ++k) {
        const T gki = G[k][i];
        const T* __restrict row = mg + (k * r + j) * c_in;
        for (int64_t ci = 0; ci < c_in; ++ci) acc[ci] += gki * row[ci];
      }
    }
  // Into dW's [ci][i][j].
  for (int64_t ci = 0; ci < c_in; ++ci)
    for (int t = 0; t < r * r; ++t) dw[ci * r * r + t] = gmg[t * c_in + ci];
}

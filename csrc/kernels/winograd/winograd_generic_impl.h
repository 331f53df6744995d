// Tile transforms of any Winograd scheme F(m x m, r x r) up to alpha = 8
// points per axis (WinogradMatrices, built in ops/winograd_schemes.cpp),
// for the kernel sizes without hand-written transforms (5x5: F(4x4, 5x5)).
//
// Same contract and layouts as winograd_f4x3_impl.h; the transforms are
// small matrix products over lanes (one tile per lane) that skip the
// matrices' zero entries, instead of hand-derived formulas.
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace.
// Needs <cstdint>, kernel_table.h and winograd/winograd_common.h included before.

constexpr int kWinogradMaxAlpha = 8;

// out[o][l] = sum_k coef[o][k] * in[k][l] for o < n_out, k < n_in, lane l;
// rows of `in`/`out` `in_step`/`out_step` apart (one axis of a 2-D tile).
template <typename T>
inline void winograd_apply(const T (*coef)[kWinogradMaxAlpha], int n_out, int n_in,
                           const T (*in)[kWinogradLanes], int in_step, T (*out)[kWinogradLanes],
                           int out_step) {
  for (int o = 0; o < n_out; ++o) {
    // A register accumulator; `omp simd` keeps GCC from vectorising across
    // rows instead (scalar FMAs and shuffles, 4x slower), and accumulating
    // in memory would chain every FMA through a store-to-load forward.
    alignas(64) T acc[kWinogradLanes];
#pragma omp simd
    for (int l = 0; l < kWinogradLanes; ++l) acc[l] = 0;
    for (int k = 0; k < n_in; ++k) {
      const T c = coef[o][k];
      if (c == 0) continue;
      const T* __restrict x = in[k * in_step];
#pragma omp simd
      for (int l = 0; l < kWinogradLanes; ++l) acc[l] += c * x[l];
    }
    T* __restrict y = out[o * out_step];
#pragma omp simd
    for (int l = 0; l < kWinogradLanes; ++l) y[l] = acc[l];
  }
}

// The scheme's matrices in T, padded to kWinogradMaxAlpha columns.
template <typename T>
struct WinogradCoefficients {
  T bt[kWinogradMaxAlpha][kWinogradMaxAlpha] = {};  // B^T
  T at[kWinogradMaxAlpha][kWinogradMaxAlpha] = {};  // A^T
  T a[kWinogradMaxAlpha][kWinogradMaxAlpha] = {};   // A
  explicit WinogradCoefficients(const WinogradMatrices& s) {
    for (int i = 0; i < s.alpha; ++i)
      for (int j = 0; j < s.alpha; ++j) bt[i][j] = static_cast<T>(s.bt[i][j]);
    for (int i = 0; i < s.m; ++i)
      for (int j = 0; j < s.alpha; ++j) a[j][i] = at[i][j] = static_cast<T>(s.at[i][j]);
  }
};

// B^T d B of alpha x alpha windows at (m*ty - pad_top, m*tx - pad_left).
template <typename T>
void winograd_generic_input(const WinogradTiles& g, const T* plane0, int64_t tile_begin,
                            int64_t count, T* v, int64_t local0, int64_t point_stride,
                            int64_t panel_stride, int nr) {
  constexpr int L = kWinogradLanes, P = kWinogradMaxAlpha * kWinogradMaxAlpha;
  const WinogradMatrices& s = *g.matrices;
  const WinogradCoefficients<T> k(s);
  const int a = s.alpha;
  alignas(64) T d[P][L], t[P][L], u[P][L];
  const int64_t padded = (count + nr - 1) / nr * nr;
  for (int64_t done = 0; done < padded; done += L) {
    const int64_t n = count - done < 0 ? 0 : (count - done < L ? count - done : L);
    if (g.image_lanes) {
      // Windows are rows of the staged copy: transform straight from it.
      if (n == 0) {
        for (int e = 0; e < a * a; ++e)
          for (int l = 0; l < L; ++l) u[e][l] = 0;
      } else {
        const T(*staged)[L] = reinterpret_cast<const T(*)[L]>(
            winograd_staged_windows(g, plane0, tile_begin + done));
        for (int i = 0; i < a; ++i)
          winograd_apply<T>(k.bt, a, a, staged + i * g.w, 1, t + i * a, 1);
        for (int c = 0; c < a; ++c) winograd_apply<T>(k.bt, a, a, t + c, a, u + c, a);
      }
      winograd_store_lanes<T, 0>(u, v, local0 + done, point_stride, panel_stride, nr, a * a);
      continue;
    }
    for (int64_t l = 0; l < L; ++l) {
      if (l >= n) {
        for (int e = 0; e < a * a; ++e) d[e][l] = 0;
        continue;
      }
      const WinogradTile tile = winograd_tile(g, tile_begin + done + l);
      const T* plane = plane0 + tile.image * g.image_stride;
      const int64_t y0 = tile.y - g.pad_top, x0 = tile.x - g.pad_left;
      // The window's part inside the plane, then zeros around it.
      const int i0 = y0 < 0 ? int(-y0) : 0, j0 = x0 < 0 ? int(-x0) : 0;
      const int i1 = y0 + a > g.h ? int(g.h - y0) : a, j1 = x0 + a > g.w ? int(g.w - x0) : a;
      if (i0 > 0 || j0 > 0 || i1 < a || j1 < a)
        for (int e = 0; e < a * a; ++e) d[e][l] = 0;
      for (int i = i0; i < i1; ++i) {
        const T* row = plane + (y0 + i) * g.w + x0;
        for (int j = j0; j < j1; ++j) d[i * a + j][l] = row[j];
      }
    }
    for (int i = 0; i < a; ++i) winograd_apply<T>(k.bt, a, a, d + i * a, 1, t + i * a, 1);  // along rows
    for (int c = 0; c < a; ++c) winograd_apply<T>(k.bt, a, a, t + c, a, u + c, a);          // along columns
    winograd_store_lanes<T, 0>(u, v, local0 + done, point_stride, panel_stride, nr, a * a);
  }
}

// A^T m A of the alpha x alpha GEMM results to m x m output tiles, plus bias.
template <typename T>
void winograd_generic_output(const WinogradTiles& g, const T* m, int64_t point_stride,
                             int64_t tile_begin, int64_t count, T bias, T* plane0) {
  constexpr int L = kWinogradLanes, P = kWinogradMaxAlpha * kWinogradMaxAlpha;
  const WinogradMatrices& s = *g.matrices;
  const WinogradCoefficients<T> k(s);
  const int a = s.alpha, mt = s.m;
  alignas(64) T in[P][L], t[P][L], y[P][L];
  for (int64_t done = 0; done < count; done += L) {
    for (int e = 0; e < a * a; ++e)
      for (int l = 0; l < L; ++l) in[e][l] = m[e * point_stride + done + l];
    for (int r = 0; r < a; ++r) winograd_apply<T>(k.at, mt, a, in + r * a, 1, t + r * mt, 1);
    for (int c = 0; c < mt; ++c) winograd_apply<T>(k.at, mt, a, t + c, mt, y + c, mt);
    const int64_t n = count - done < L ? count - done : L;
    for (int64_t l = 0; l < n; ++l) {
      const WinogradTile tile = winograd_tile(g, tile_begin + done + l);
      if (g.image_lanes && tile.image >= g.image_lanes) continue;
      T* plane = plane0 + tile.image * g.image_stride;
      const int64_t rows = g.h - tile.y < mt ? g.h - tile.y : mt;
      const int64_t cols = g.w - tile.x < mt ? g.w - tile.x : mt;
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) plane[(tile.y + i) * g.w + tile.x + j] = y[i * mt + j][l] + bias;
    }
  }
}

// A e A^T of m x m output-gradient tiles (clipped at the bottom/right edge).
template <typename T>
void winograd_generic_output_gradient(const WinogradTiles& g, const T* plane0, int64_t tile_begin,
                                      int64_t count, T* v, int64_t local0, int64_t point_stride,
                                      int64_t panel_stride, int nr) {
  constexpr int L = kWinogradLanes, P = kWinogradMaxAlpha * kWinogradMaxAlpha;
  const WinogradMatrices& s = *g.matrices;
  const WinogradCoefficients<T> k(s);
  const int a = s.alpha, mt = s.m;
  alignas(64) T e[P][L], t[P][L], u[P][L];
  const int64_t padded = (count + nr - 1) / nr * nr;
  for (int64_t done = 0; done < padded; done += L) {
    const int64_t n = count - done < 0 ? 0 : (count - done < L ? count - done : L);
    for (int64_t l = 0; l < L; ++l) {
      if (l >= n) {
        for (int q = 0; q < mt * mt; ++q) e[q][l] = 0;
        continue;
      }
      const WinogradTile tile = winograd_tile(g, tile_begin + done + l);
      const T* plane = plane0 + tile.image * g.image_stride;
      const bool real = !g.image_lanes || tile.image < g.image_lanes;
      const int64_t rows = !real ? 0 : (g.h - tile.y < mt ? g.h - tile.y : mt);
      const int64_t cols = g.w - tile.x < mt ? g.w - tile.x : mt;
      for (int64_t i = 0; i < mt; ++i)
        for (int64_t j = 0; j < mt; ++j)
          e[i * mt + j][l] = (i < rows && j < cols) ? plane[(tile.y + i) * g.w + tile.x + j] : T(0);
    }
    for (int i = 0; i < mt; ++i) winograd_apply<T>(k.a, a, mt, e + i * mt, 1, t + i * a, 1);
    for (int c = 0; c < a; ++c) winograd_apply<T>(k.a, a, mt, t + c, a, u + c, a);
    winograd_store_lanes<T, 0>(u, v, local0 + done, point_stride, panel_stride, nr, a * a);
  }
}

// Winograd F(4x4, 5x5) tile transforms: interpolation points 0, ±1, ±2,
// ±1/2, ∞ (alpha = 8; the matrices are derived in ops/winograd_schemes.cpp,
// which also builds G for the weights).
//
// Same contract and layouts as winograd_f4x3_impl.h. The formulas are the
// matrices B^T (8x8), A^T (4x8) and A (8x4) with their symmetry used: the
// rows for the points +p and -p share coefficients up to the sign of the odd
// columns, so each pair is (even part) ± (odd part). That takes B^T from 44
// multiply-adds per 8 values to 30 and A^T from 27 to 16, and, unlike a
// product with runtime matrices, it has no per-coefficient branch or
// broadcast; on MNIST's 5x5 layers the transforms cost more than the GEMMs.
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace.
// Needs <cstdint>, kernel_table.h and winograd/winograd_common.h included before.

// B^T along one axis: out[r] = sum_j BT[r][j] in[j], 8 -> 8 points.
template <typename T>
inline void winograd_bt8(const T* const in[8], T* const out[8]) {
  const T c21_4 = T(21.0 / 4), c2_9 = T(2.0 / 9), c17_18 = T(17.0 / 18);
  const T c1_180 = T(1.0 / 180), c1_36 = T(1.0 / 36), c1_45 = T(1.0 / 45);
  const T c1_360 = T(1.0 / 360), c1_72 = T(1.0 / 72), c1_90 = T(1.0 / 90);
  const T c64_45 = T(64.0 / 45), c16_9 = T(16.0 / 9), c16_45 = T(16.0 / 45);
  const T c128_45 = T(128.0 / 45), c32_9 = T(32.0 / 9), c32_45 = T(32.0 / 45);
#pragma omp simd
  for (int l = 0; l < kWinogradLanes; ++l) {
    const T d0 = in[0][l], d1 = in[1][l], d2 = in[2][l], d3 = in[3][l];
    const T d4 = in[4][l], d5 = in[5][l], d6 = in[6][l], d7 = in[7][l];
    out[0][l] = d0 - d6 + c21_4 * (d4 - d2);
    out[7][l] = d7 - d1 + c21_4 * (d3 - d5);
    const T o1 = c17_18 * d3 - c2_9 * (d1 + d5), e1 = c17_18 * d4 - c2_9 * (d2 + d6);
    out[1][l] = e1 + o1;
    out[2][l] = e1 - o1;
    const T o3 = c1_180 * d1 - c1_36 * d3 + c1_45 * d5, e3 = c1_360 * d2 - c1_72 * d4 + c1_90 * d6;
    out[3][l] = e3 + o3;
    out[4][l] = e3 - o3;
    const T o5 = c64_45 * d1 - c16_9 * d3 + c16_45 * d5, e5 = c128_45 * d2 - c32_9 * d4 + c32_45 * d6;
    out[5][l] = e5 + o5;
    out[6][l] = e5 - o5;
  }
}

// A^T along one axis, 8 -> 4 points.
template <typename T>
inline void winograd_at8(const T* const in[8], T* const out[4]) {
#pragma omp simd
  for (int l = 0; l < kWinogradLanes; ++l) {
    const T m0 = in[0][l], m7 = in[7][l];
    const T s1 = in[1][l] + in[2][l], d1 = in[1][l] - in[2][l];
    const T s2 = in[3][l] + in[4][l], d2 = in[3][l] - in[4][l];
    const T s3 = in[5][l] + in[6][l], d3 = in[5][l] - in[6][l];
    out[0][l] = m0 + s1 + s2 + s3;
    out[1][l] = d1 + T(2) * d2 + T(0.5) * d3;
    out[2][l] = s1 + T(4) * s2 + T(0.25) * s3;
    out[3][l] = d1 + T(8) * d2 + T(0.125) * d3 + m7;
  }
}

// A (the transpose of A^T) along one axis, 4 -> 8 points.
template <typename T>
inline void winograd_a8(const T* const in[4], T* const out[8]) {
#pragma omp simd
  for (int l = 0; l < kWinogradLanes; ++l) {
    const T e0 = in[0][l], e1 = in[1][l], e2 = in[2][l], e3 = in[3][l];
    const T ev1 = e0 + e2, od1 = e1 + e3;
    const T ev3 = e0 + T(4) * e2, od3 = T(2) * e1 + T(8) * e3;
    const T ev5 = e0 + T(0.25) * e2, od5 = T(0.5) * e1 + T(0.125) * e3;
    out[0][l] = e0;
    out[1][l] = ev1 + od1;
    out[2][l] = ev1 - od1;
    out[3][l] = ev3 + od3;
    out[4][l] = ev3 - od3;
    out[5][l] = ev5 + od5;
    out[6][l] = ev5 - od5;
    out[7][l] = e3;
  }
}

// B^T d B of an 8x8 block of lane vectors: d[i * in_row + j] is row i,
// column j; u[r * 8 + c] the transformed point (r, c).
template <typename T>
inline void winograd_f4x5_input_tile(const T (*d)[kWinogradLanes], int64_t in_row, T (*t)[kWinogradLanes],
                                     T (*u)[kWinogradLanes]) {
  for (int i = 0; i < 8; ++i) {  // along rows (the column index j)
    const T* row = d[i * in_row];
    const T* in[8] = {row,
                      row + kWinogradLanes,
                      row + 2 * kWinogradLanes,
                      row + 3 * kWinogradLanes,
                      row + 4 * kWinogradLanes,
                      row + 5 * kWinogradLanes,
                      row + 6 * kWinogradLanes,
                      row + 7 * kWinogradLanes};
    T* out[8] = {t[i * 8],     t[i * 8 + 1], t[i * 8 + 2], t[i * 8 + 3],
                 t[i * 8 + 4], t[i * 8 + 5], t[i * 8 + 6], t[i * 8 + 7]};
    winograd_bt8(in, out);
  }
  for (int c = 0; c < 8; ++c) {  // along columns (the row index i)
    const T* in[8] = {t[c], t[8 + c], t[16 + c], t[24 + c], t[32 + c], t[40 + c], t[48 + c], t[56 + c]};
    T* out[8] = {u[c], u[8 + c], u[16 + c], u[24 + c], u[32 + c], u[40 + c], u[48 + c], u[56 + c]};
    winograd_bt8(in, out);
  }
}

// Tiles [tile_begin, tile_begin + count) of one channel: 8x8 windows at
// (4*ty - pad_top, 4*tx - pad_left), zero outside the plane (or, in
// image-lane mode, rows of the staged copy), into packed B micro-panels.
template <typename T>
void winograd_f4x5_input(const WinogradTiles& g, const T* plane0, int64_t tile_begin, int64_t count, T* v,
                         int64_t local0, int64_t point_stride, int64_t panel_stride, int nr) {
  constexpr int L = kWinogradLanes;
  alignas(64) T d[64][L], t[64][L], u[64][L];
  const int64_t padded = (count + nr - 1) / nr * nr;
  for (int64_t done = 0; done < padded; done += L) {
    const int64_t n = count - done < 0 ? 0 : (count - done < L ? count - done : L);
    if (g.image_lanes) {
      // Windows are rows of the staged copy: transform straight from it.
      if (n == 0) {
        for (int e = 0; e < 64; ++e)
          for (int l = 0; l < L; ++l) u[e][l] = 0;
      } else {
        const T(*staged)[L] = reinterpret_cast<const T(*)[L]>(winograd_staged_windows(g, plane0, tile_begin + done));
        winograd_f4x5_input_tile<T>(staged, g.w, t, u);
      }
      winograd_store_lanes<T, 64>(u, v, local0 + done, point_stride, panel_stride, nr);
      continue;
    }
    const bool gathered = winograd_gather_windows<T, 8, 8>(g, plane0, tile_begin + done, n, -g.pad_top, -g.pad_left, d);
    WinogradTile lane_tiles[kWinogradLanes];
    if (!gathered) winograd_lane_tiles(g, tile_begin + done, lane_tiles);
    for (int64_t l = 0; l < L && !gathered; ++l) {
      if (l >= n) {
        for (int e = 0; e < 64; ++e) d[e][l] = 0;
        continue;
      }
      const WinogradTile& tile = lane_tiles[l];
      const T* plane = plane0 + tile.image * g.image_stride;
      const int64_t y0 = tile.y - g.pad_top, x0 = tile.x - g.pad_left;
      // The window's part inside the plane, then zeros around it.
      const int i0 = y0 < 0 ? int(-y0) : 0, j0 = x0 < 0 ? int(-x0) : 0;
      const int i1 = y0 + 8 > g.h ? int(g.h - y0) : 8, j1 = x0 + 8 > g.w ? int(g.w - x0) : 8;
      if (i0 > 0 || j0 > 0 || i1 < 8 || j1 < 8)
        for (int e = 0; e < 64; ++e) d[e][l] = 0;
      for (int i = i0; i < i1; ++i) {
        const T* row = plane + (y0 + i) * g.w + x0;
        for (int j = j0; j < j1; ++j) d[i * 8 + j][l] = row[j];
      }
    }
    winograd_f4x5_input_tile<T>(d, 8, t, u);
    winograd_store_lanes<T, 64>(u, v, local0 + done, point_stride, panel_stride, nr);
  }
}

// A^T m A of the 64 GEMM results of tiles [tile_begin, tile_begin + count)
// for one output channel to 4x4 output tiles (clipped), plus bias.
template <typename T>
void winograd_f4x5_output(const WinogradTiles& g, const T* m, int64_t point_stride, int64_t tile_begin, int64_t count,
                          T bias, T* plane0) {
  constexpr int L = kWinogradLanes;
  alignas(64) T s[32][L], y[16][L];
  for (int64_t done = 0; done < count; done += L) {
    const T* mm = m + done;
    for (int r = 0; r < 8; ++r) {
      const T* in[8];
      for (int c = 0; c < 8; ++c) in[c] = mm + (r * 8 + c) * point_stride;
      T* out[4] = {s[r * 4], s[r * 4 + 1], s[r * 4 + 2], s[r * 4 + 3]};
      winograd_at8(in, out);
    }
    for (int c = 0; c < 4; ++c) {
      const T* in[8] = {s[c], s[4 + c], s[8 + c], s[12 + c], s[16 + c], s[20 + c], s[24 + c], s[28 + c]};
      T* out[4] = {y[c], y[4 + c], y[8 + c], y[12 + c]};
      winograd_at8(in, out);
    }
    const int64_t n = count - done < L ? count - done : L;
    winograd_store_tiles<T>(g, plane0, tile_begin + done, n, y, bias);
  }
}

// A e A^T of 4x4 output-gradient tiles (clipped at the bottom/right edge)
// for the weight gradient, stored like the input transform.
template <typename T>
void winograd_f4x5_output_gradient(const WinogradTiles& g, const T* plane0, int64_t tile_begin, int64_t count, T* v,
                                   int64_t local0, int64_t point_stride, int64_t panel_stride, int nr) {
  constexpr int L = kWinogradLanes;
  alignas(64) T e[16][L], t[32][L], u[64][L];
  const int64_t padded = (count + nr - 1) / nr * nr;
  for (int64_t done = 0; done < padded; done += L) {
    const int64_t n = count - done < 0 ? 0 : (count - done < L ? count - done : L);
    const bool gathered = winograd_gather_windows<T, 4, 4>(g, plane0, tile_begin + done, n, 0, 0, e);
    WinogradTile lane_tiles[kWinogradLanes];
    if (!gathered) winograd_lane_tiles(g, tile_begin + done, lane_tiles);
    for (int64_t l = 0; l < L && !gathered; ++l) {
      if (l >= n) {
        for (int q = 0; q < 16; ++q) e[q][l] = 0;
        continue;
      }
      const WinogradTile& tile = lane_tiles[l];
      const T* plane = plane0 + tile.image * g.image_stride;
      const bool real = !g.image_lanes || tile.image < g.image_lanes;
      const int64_t rows = !real ? 0 : (g.h - tile.y < 4 ? g.h - tile.y : 4);
      const int64_t cols = g.w - tile.x < 4 ? g.w - tile.x : 4;
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 4; ++j)
          e[i * 4 + j][l] = (i < rows && j < cols) ? plane[(tile.y + i) * g.w + tile.x + j] : T(0);
    }
    for (int i = 0; i < 4; ++i) {  // A (8x4) along rows, then along columns
      const T* in[4] = {e[i * 4], e[i * 4 + 1], e[i * 4 + 2], e[i * 4 + 3]};
      T* out[8] = {t[i * 8],     t[i * 8 + 1], t[i * 8 + 2], t[i * 8 + 3],
                   t[i * 8 + 4], t[i * 8 + 5], t[i * 8 + 6], t[i * 8 + 7]};
      winograd_a8(in, out);
    }
    for (int c = 0; c < 8; ++c) {
      const T* in[4] = {t[c], t[8 + c], t[16 + c], t[24 + c]};
      T* out[8] = {u[c], u[8 + c], u[16 + c], u[24 + c], u[32 + c], u[40 + c], u[48 + c], u[56 + c]};
      winograd_a8(in, out);
    }
    winograd_store_lanes<T, 64>(u, v, local0 + done, point_stride, panel_stride, nr);
  }
}

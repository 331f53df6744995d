// Winograd F(4x4, 3x3) tile transforms (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016; interpolation points 0, ±1, ±2, ∞).
//
// A 4x4 output tile of a 3x3 stride-1 correlation needs a 6x6 input tile d:
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A
// so per (tile, input channel, output channel) 36 multiply-adds instead of
// 144; the 36 element-wise products become 36 independent GEMMs over channels
// (done by the caller with the GEMM microkernel). Here: the input transform
// B^T d B straight into packed B micro-panels, and the output transform A^T m A
// straight into the output plane.
//
// Both work on kLanes tiles at once, one tile per SIMD lane: every formula is
// a loop over lanes that the compiler vectorises with the ISA of the
// including file. Only the gather of 6x6 windows and the scatter of 4x4 tiles
// touch memory with strides.
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace.
// Needs <cstdint>, kernel_table.h and winograd/winograd_common.h included before.

// The 6-point transform B^T applied along one axis: out[r] = sum_j BT[r][j] in[j].
template <typename T>
inline void winograd_bt6(const T* const in[6], T* const out[6]) {
  for (int l = 0; l < kWinogradLanes; ++l) {
    const T d0 = in[0][l], d1 = in[1][l], d2 = in[2][l], d3 = in[3][l], d4 = in[4][l], d5 = in[5][l];
    out[0][l] = T(4) * d0 - T(5) * d2 + d4;
    out[1][l] = -T(4) * (d1 + d2) + d3 + d4;
    out[2][l] = T(4) * (d1 - d2) - d3 + d4;
    out[3][l] = T(2) * (d3 - d1) - d2 + d4;
    out[4][l] = T(2) * (d1 - d3) - d2 + d4;
    out[5][l] = T(4) * d1 - T(5) * d3 + d5;
  }
}

// The 6-to-4 point transform A^T along one axis.
template <typename T>
inline void winograd_at4(const T* const in[6], T* const out[4]) {
  for (int l = 0; l < kWinogradLanes; ++l) {
    const T m0 = in[0][l], m1 = in[1][l], m2 = in[2][l], m3 = in[3][l], m4 = in[4][l], m5 = in[5][l];
    const T s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    out[0][l] = m0 + s12 + s34;
    out[1][l] = d12 + T(2) * d34;
    out[2][l] = s12 + T(4) * s34;
    out[3][l] = d12 + T(8) * d34 + m5;
  }
}

// The 4-to-6 point transform A along one axis (the transpose of A^T).
template <typename T>
inline void winograd_a6(const T* const in[4], T* const out[6]) {
  for (int l = 0; l < kWinogradLanes; ++l) {
    const T e0 = in[0][l], e1 = in[1][l], e2 = in[2][l], e3 = in[3][l];
    const T s02 = e0 + e2, s13 = e1 + e3, q02 = e0 + T(4) * e2, q13 = T(2) * e1 + T(8) * e3;
    out[0][l] = e0;
    out[1][l] = s02 + s13;
    out[2][l] = s02 - s13;
    out[3][l] = q02 + q13;
    out[4][l] = q02 - q13;
    out[5][l] = e3;
  }
}

// Tiles [tile_begin, tile_begin + count) of one channel: 6x6 windows at
// (4*ty - pad_top, 4*tx - pad_left) of plane0 + image * image_stride, zero
// outside the plane; transformed point (r, c) of the tile with block-local
// index j = local0 + lane goes to v[(r*6 + c) * point_stride + (j / nr) *
// panel_stride + j % nr]. Lanes past `count`, to the end of the last
// micro-panel, are written as zeros.
template <typename T>
void winograd_f4x3_input(const WinogradTiles& g, const T* plane0, int64_t tile_begin, int64_t count, T* v,
                         int64_t local0, int64_t point_stride, int64_t panel_stride, int nr) {
  constexpr int L = kWinogradLanes;
  alignas(64) T d[36][L], t[36][L], u[36][L];
  // Up to the end of the last micro-panel, so the GEMM never reads stale columns.
  const int64_t padded = (count + nr - 1) / nr * nr;
  for (int64_t done = 0; done < padded; done += L) {
    const int64_t n = count - done < 0 ? 0 : (count - done < L ? count - done : L);
    const bool gathered = winograd_gather_windows<T, 6, 6>(g, plane0, tile_begin + done, n, -g.pad_top, -g.pad_left, d);
    WinogradTile lane_tiles[kWinogradLanes];
    if (!gathered) winograd_lane_tiles(g, tile_begin + done, lane_tiles);
    for (int64_t l = 0; l < L && !gathered; ++l) {
      if (l >= n) {
        for (int e = 0; e < 36; ++e) d[e][l] = 0;
        continue;
      }
      const WinogradTile& tile = lane_tiles[l];
      const T* plane = plane0 + tile.image * g.image_stride;
      const int64_t y0 = tile.y - g.pad_top, x0 = tile.x - g.pad_left;
      if (y0 >= 0 && y0 + 6 <= g.h && x0 >= 0 && x0 + 6 <= g.w) {
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 6; ++j) d[i * 6 + j][l] = plane[(y0 + i) * g.w + x0 + j];
      } else {
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 6; ++j) {
            const int64_t y = y0 + i, x = x0 + j;
            d[i * 6 + j][l] = (y >= 0 && y < g.h && x >= 0 && x < g.w) ? plane[y * g.w + x] : T(0);
          }
      }
    }
    // Along rows (the column index j), then along columns (the row index i).
    for (int i = 0; i < 6; ++i) {
      const T* in[6] = {d[i * 6], d[i * 6 + 1], d[i * 6 + 2], d[i * 6 + 3], d[i * 6 + 4], d[i * 6 + 5]};
      T* out[6] = {t[i * 6], t[i * 6 + 1], t[i * 6 + 2], t[i * 6 + 3], t[i * 6 + 4], t[i * 6 + 5]};
      winograd_bt6(in, out);
    }
    for (int c = 0; c < 6; ++c) {
      const T* in[6] = {t[c], t[6 + c], t[12 + c], t[18 + c], t[24 + c], t[30 + c]};
      T* out[6] = {u[c], u[6 + c], u[12 + c], u[18 + c], u[24 + c], u[30 + c]};
      winograd_bt6(in, out);
    }
    winograd_store_lanes<T, 36>(u, v, local0 + done, point_stride, panel_stride, nr);
  }
}

// The A e A^T transform (4x4 -> 6x6) of output-gradient tiles, for the
// weight gradient: dW = G^T [ sum over tiles (A e A^T) ⊙ (B^T d B) ] G.
// Tiles [tile_begin, tile_begin + count) of one channel of dout, clipped at
// the plane's bottom/right edge (zeros past it); stored like the input
// transform.
template <typename T>
void winograd_f4x3_output_gradient(const WinogradTiles& g, const T* plane0, int64_t tile_begin, int64_t count, T* v,
                                   int64_t local0, int64_t point_stride, int64_t panel_stride, int nr) {
  constexpr int L = kWinogradLanes;
  alignas(64) T e[16][L], t[24][L], u[36][L];
  const int64_t padded = (count + nr - 1) / nr * nr;
  for (int64_t done = 0; done < padded; done += L) {
    const int64_t n = count - done < 0 ? 0 : (count - done < L ? count - done : L);
    const bool gathered = winograd_gather_windows<T, 4, 4>(g, plane0, tile_begin + done, n, 0, 0, e);
    WinogradTile lane_tiles[kWinogradLanes];
    if (!gathered) winograd_lane_tiles(g, tile_begin + done, lane_tiles);
    for (int64_t l = 0; l < L && !gathered; ++l) {
      if (l >= n) {
        for (int k = 0; k < 16; ++k) e[k][l] = 0;
        continue;
      }
      const WinogradTile& tile = lane_tiles[l];
      const T* plane = plane0 + tile.image * g.image_stride;
      const int64_t rows = g.h - tile.y < 4 ? g.h - tile.y : 4;
      const int64_t cols = g.w - tile.x < 4 ? g.w - tile.x : 4;
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 4; ++j)
          e[i * 4 + j][l] = (i < rows && j < cols) ? plane[(tile.y + i) * g.w + tile.x + j] : T(0);
    }
    // A (6x4) along rows, then along columns.
    for (int i = 0; i < 4; ++i) {
      const T* in[4] = {e[i * 4], e[i * 4 + 1], e[i * 4 + 2], e[i * 4 + 3]};
      T* out[6] = {t[i * 6], t[i * 6 + 1], t[i * 6 + 2], t[i * 6 + 3], t[i * 6 + 4], t[i * 6 + 5]};
      winograd_a6(in, out);
    }
    for (int c = 0; c < 6; ++c) {
      const T* in[4] = {t[c], t[6 + c], t[12 + c], t[18 + c]};
      T* out[6] = {u[c], u[6 + c], u[12 + c], u[18 + c], u[24 + c], u[30 + c]};
      winograd_a6(in, out);
    }
    winograd_store_lanes<T, 36>(u, v, local0 + done, point_stride, panel_stride, nr);
  }
}

// The 36 GEMM results of tiles [tile_begin, tile_begin + count) for one
// output channel, m[(r*6 + c) * point_stride + local], to 4x4 output tiles
// (clipped at the plane's bottom/right edge) plus bias.
template <typename T>
void winograd_f4x3_output(const WinogradTiles& g, const T* m, int64_t point_stride, int64_t tile_begin, int64_t count,
                          T bias, T* plane0) {
  constexpr int L = kWinogradLanes;
  alignas(64) T s[24][L], y[16][L];
  for (int64_t done = 0; done < count; done += L) {
    const T* mm = m + done;
    for (int r = 0; r < 6; ++r) {
      const T* in[6] = {mm + (r * 6) * point_stride,     mm + (r * 6 + 1) * point_stride,
                        mm + (r * 6 + 2) * point_stride, mm + (r * 6 + 3) * point_stride,
                        mm + (r * 6 + 4) * point_stride, mm + (r * 6 + 5) * point_stride};
      T* out[4] = {s[r * 4], s[r * 4 + 1], s[r * 4 + 2], s[r * 4 + 3]};
      winograd_at4(in, out);
    }
    for (int c = 0; c < 4; ++c) {
      const T* in[6] = {s[c], s[4 + c], s[8 + c], s[12 + c], s[16 + c], s[20 + c]};
      T* out[4] = {y[c], y[4 + c], y[8 + c], y[12 + c]};
      winograd_at4(in, out);
    }
    const int64_t n = count - done < L ? count - done : L;
    winograd_store_tiles<T>(g, plane0, tile_begin + done, n, y, bias);
  }
}

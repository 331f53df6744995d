// Winograd F(4x4, 2x2) tile transforms: points 0, 1, -1, 2, ∞ (alpha = 5).
//
// fastcnn uses them for 3x3 stride-2 convolutions, split into four stride-1
// 2x2 correlations over the input's even/odd row and column phases (see
// ops/conv2d_winograd.cpp): a window's 5x5 values are every other row and
// column of the input (WinogradTiles::step = 2), gathered in place.
//
// B^T's rows are scaled to small integers (G's rows carry the inverse
// scales, ops/winograd_schemes.cpp), so the input transform is adds and
// small-integer multiply-adds only:
//   B^T = [2 -1 -2  1 0]      A^T = [1 1  1 1 0]
//         [0  2  1 -1 0]            [0 1 -1 2 0]
//         [0 -2  3 -1 0]            [0 1  1 4 0]
//         [0 -1  0  1 0]            [0 1 -1 8 1]
//         [0  2 -1 -2 1]
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace.
// Needs <cstdint>, kernel_table.h and winograd/winograd_common.h included before.

// B^T along one axis, 5 -> 5 points.
template <typename T>
inline void winograd_bt5(const T* const in[5], T* const out[5]) {
#pragma omp simd
  for (int l = 0; l < kWinogradLanes; ++l) {
    const T d0 = in[0][l], d1 = in[1][l], d2 = in[2][l], d3 = in[3][l], d4 = in[4][l];
    const T d13 = d1 - d3;
    out[0][l] = T(2) * (d0 - d2) - d13;
    out[1][l] = T(2) * d1 + d2 - d3;
    out[2][l] = T(3) * d2 - T(2) * d1 - d3;
    out[3][l] = -d13;
    out[4][l] = T(2) * d13 - d2 + d4;
  }
}

// A^T along one axis, 5 -> 4 points.
template <typename T>
inline void winograd_at5(const T* const in[5], T* const out[4]) {
#pragma omp simd
  for (int l = 0; l < kWinogradLanes; ++l) {
    const T m3 = in[3][l];
    const T s = in[1][l] + in[2][l], d = in[1][l] - in[2][l];
    out[0][l] = in[0][l] + s + m3;
    out[1][l] = d + T(2) * m3;
    out[2][l] = s + T(4) * m3;
    out[3][l] = d + T(8) * m3 + in[4][l];
  }
}

// u = B^T d B of 16 lanes' 5x5 windows (points row-major); t: scratch.
template <typename T>
inline void winograd_f4x2_input_tile(const T (*d)[kWinogradLanes], T (*t)[kWinogradLanes], T (*u)[kWinogradLanes]) {
  for (int i = 0; i < 5; ++i) {  // along rows (the column index j)
    const T* in[5] = {d[i * 5], d[i * 5 + 1], d[i * 5 + 2], d[i * 5 + 3], d[i * 5 + 4]};
    T* out[5] = {t[i * 5], t[i * 5 + 1], t[i * 5 + 2], t[i * 5 + 3], t[i * 5 + 4]};
    winograd_bt5(in, out);
  }
  for (int c = 0; c < 5; ++c) {  // along columns (the row index i)
    const T* in[5] = {t[c], t[5 + c], t[10 + c], t[15 + c], t[20 + c]};
    T* out[5] = {u[c], u[5 + c], u[10 + c], u[15 + c], u[20 + c]};
    winograd_bt5(in, out);
  }
}

// y = A^T m A of 16 lanes, point (r, c) of m at mm + (r * 5 + c) *
// point_stride; s: scratch.
template <typename T>
inline void winograd_f4x2_output_tile(const T* mm, int64_t point_stride, T (*s)[kWinogradLanes],
                                      T (*y)[kWinogradLanes]) {
  for (int r = 0; r < 5; ++r) {
    const T* in[5];
    for (int c = 0; c < 5; ++c) in[c] = mm + (r * 5 + c) * point_stride;
    T* out[4] = {s[r * 4], s[r * 4 + 1], s[r * 4 + 2], s[r * 4 + 3]};
    winograd_at5(in, out);
  }
  for (int c = 0; c < 4; ++c) {
    const T* in[5] = {s[c], s[4 + c], s[8 + c], s[12 + c], s[16 + c]};
    T* out[4] = {y[c], y[4 + c], y[8 + c], y[12 + c]};
    winograd_at5(in, out);
  }
}

// Which phase (its index in kWinogradPhase) has row parity py, column parity px.
inline int winograd_phase_index(int py, int px) { return py == 0 ? (px == 0 ? 1 : 0) : (px == 0 ? 2 : 3); }

// d[q][i * 5 + j][l] = element (2i + py, 2j + px) of lane l's 10 x 10
// region of the input plane (corner (2 ty - pad_top, 2 tx - pad_left) for
// its tile at output corner (ty, tx)), (py, px) = kWinogradPhase[q], zero
// outside the plane or for dead lanes. AVX-512 float with an even plane
// width: each region row is read as column pairs (even, odd), 8 lanes per
// 64-bit gather, and split into the two column phases by permutes: half the
// loads of gathering each phase's floats. False elsewhere (nothing written).
template <typename T>
inline bool winograd_gather_phases(const WinogradTiles& g, const T* plane0, int64_t first, int64_t n,
                                   T (*d)[25][kWinogradLanes]) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) {
    if (g.w % 2 != 0) return false;
    WinogradLaneWindows lanes;
    if (!winograd_lane_windows(g, first, n, -g.pad_top, -g.pad_left, &lanes)) return false;
    // With an odd left pad the regions start at odd columns: pairs start one column earlier.
    const int shift = static_cast<int>(g.pad_left & 1), pairs = 5 + shift;
    const __m512i offset = _mm512_load_si512(lanes.offset), y = _mm512_load_si512(lanes.y),
                  x = _mm512_load_si512(lanes.x);
    const __m512i h = _mm512_set1_epi32(static_cast<int>(g.h)), w = _mm512_set1_epi32(static_cast<int>(g.w));
    const __m512i zero = _mm512_setzero_si512();
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    __mmask16 col_ok[6];
    for (int k = 0; k < pairs; ++k) {
      const __m512i xk = _mm512_add_epi32(x, _mm512_set1_epi32(2 * k - shift));
      col_ok[k] = _mm512_cmpge_epi32_mask(xk, zero) & _mm512_cmplt_epi32_mask(xk, w);
    }
    for (int r = 0; r < 10; ++r) {
      const __m512i yr = _mm512_add_epi32(y, _mm512_set1_epi32(r));
      const __mmask16 row_ok = _mm512_cmpge_epi32_mask(yr, zero) & _mm512_cmplt_epi32_mask(yr, h);
      const __m512i row = _mm512_add_epi32(offset, _mm512_set1_epi32(static_cast<int>(r * g.w) - shift));
      const int py = r & 1, i = r >> 1;
      for (int k = 0; k < pairs; ++k) {
        const __mmask16 m = row_ok & col_ok[k];
        const __m512i index = _mm512_add_epi32(row, _mm512_set1_epi32(2 * k));
        const __m512i a =
            _mm512_mask_i32gather_epi64(zero, static_cast<__mmask8>(m), _mm512_castsi512_si256(index), plane0, 4);
        const __m512i b = _mm512_mask_i32gather_epi64(zero, static_cast<__mmask8>(m >> 8),
                                                      _mm512_extracti64x4_epi64(index, 1), plane0, 4);
        const __m512 lo = _mm512_permutex2var_ps(_mm512_castsi512_ps(a), even, _mm512_castsi512_ps(b));
        const __m512 hi = _mm512_permutex2var_ps(_mm512_castsi512_ps(a), odd, _mm512_castsi512_ps(b));
        // Region columns 2k - shift (lo) and 2k - shift + 1 (hi) are phase
        // column c % 2, window column c / 2.
        const int c_lo = 2 * k - shift, c_hi = c_lo + 1;
        if (c_lo >= 0) _mm512_store_ps(d[winograd_phase_index(py, c_lo & 1)][i * 5 + (c_lo >> 1)], lo);
        if (c_hi < 10) _mm512_store_ps(d[winograd_phase_index(py, c_hi & 1)][i * 5 + (c_hi >> 1)], hi);
      }
    }
    return true;
  }
#endif
  (void)g, (void)plane0, (void)first, (void)n, (void)d;
  return false;
}

// Tiles [tile_begin, tile_begin + count) of one channel, all four phases:
// phase (py, px) = kWinogradPhase[q] of the tile at output corner (ty, tx)
// is the 5x5 window whose row i, column j is the plane's element (2 (ty +
// i) + py - pad_top, 2 (tx + j) + px - pad_left) (g.step = 2), zero outside
// the plane; its V rows go phase_offset * q elements past v's packed B
// micro-panels.
template <typename T>
void winograd_f4x2_input(const WinogradTiles& g, const T* plane0, int64_t tile_begin, int64_t count, T* v,
                         int64_t local0, int64_t point_stride, int64_t panel_stride, int nr) {
  constexpr int L = kWinogradLanes;
  alignas(64) T d[4][25][L], t[25][L], u[25][L];
  const int64_t padded = (count + nr - 1) / nr * nr;
  for (int64_t done = 0; done < padded; done += L) {
    const int64_t n = count - done < 0 ? 0 : (count - done < L ? count - done : L);
    if (!winograd_gather_phases<T>(g, plane0, tile_begin + done, n, d)) {
      WinogradTile lane_tiles[kWinogradLanes];
      winograd_lane_tiles(g, tile_begin + done, lane_tiles);
      for (int q = 0; q < 4; ++q)
        for (int64_t l = 0; l < L; ++l) {
          const WinogradTile& tile = lane_tiles[l];
          const T* plane = plane0 + tile.image * g.image_stride;
          const int64_t y0 = 2 * tile.y + kWinogradPhase[q][0] - g.pad_top;
          const int64_t x0 = 2 * tile.x + kWinogradPhase[q][1] - g.pad_left;
          for (int i = 0; i < 5; ++i) {
            const int64_t y = y0 + 2 * i;
            for (int j = 0; j < 5; ++j) {
              const int64_t x = x0 + 2 * j;
              d[q][i * 5 + j][l] = (l < n && y >= 0 && y < g.h && x >= 0 && x < g.w) ? plane[y * g.w + x] : T(0);
            }
          }
        }
    }
    for (int q = 0; q < 4; ++q) {
      winograd_f4x2_input_tile<T>(d[q], t, u);
      winograd_store_lanes<T, 25>(u, v + q * g.phase_offset, local0 + done, point_stride, panel_stride, nr);
    }
  }
}

// A^T m A of the 25 GEMM results of tiles [tile_begin, tile_begin + count)
// for one output channel to 4x4 output tiles (clipped), plus bias.
template <typename T>
void winograd_f4x2_output(const WinogradTiles& g, const T* m, int64_t point_stride, int64_t tile_begin, int64_t count,
                          T bias, T* plane0) {
  constexpr int L = kWinogradLanes;
  alignas(64) T s[20][L], y[16][L];
  for (int64_t done = 0; done < count; done += L) {
    winograd_f4x2_output_tile<T>(m + done, point_stride, s, y);
    const int64_t n = count - done < L ? count - done : L;
    winograd_store_tiles<T>(g, plane0, tile_begin + done, n, y, bias);
  }
}

// 3x3 stride-2 backward-data (ops/conv2d_winograd.cpp) runs F(4x4, 2x2) the
// other way round: dout's 5x5 windows in, the four phases of dx out.

// Tiles [tile_begin, tile_begin + count) of one channel: the 5x5 window of
// the tile at corner (ty, tx) starts at (ty - pad_top, tx - pad_left), step
// 1, zero outside the plane; stored like winograd_f4x2_input's phase 0.
template <typename T>
void winograd_f4x2_window_input(const WinogradTiles& g, const T* plane0, int64_t tile_begin, int64_t count, T* v,
                                int64_t local0, int64_t point_stride, int64_t panel_stride, int nr) {
  constexpr int L = kWinogradLanes;
  alignas(64) T d[25][L], t[25][L], u[25][L];
  const int64_t padded = (count + nr - 1) / nr * nr;
  for (int64_t done = 0; done < padded; done += L) {
    const int64_t n = count - done < 0 ? 0 : (count - done < L ? count - done : L);
    if (!winograd_gather_windows<T, 5, 5>(g, plane0, tile_begin + done, n, -g.pad_top, -g.pad_left, d)) {
      WinogradTile lane_tiles[kWinogradLanes];
      winograd_lane_tiles(g, tile_begin + done, lane_tiles);
      for (int64_t l = 0; l < L; ++l) {
        const WinogradTile& tile = lane_tiles[l];
        const T* plane = plane0 + tile.image * g.image_stride;
        const int64_t y0 = tile.y - g.pad_top, x0 = tile.x - g.pad_left;
        for (int i = 0; i < 5; ++i)
          for (int j = 0; j < 5; ++j) {
            const int64_t y = y0 + i, x = x0 + j;
            d[i * 5 + j][l] = (l < n && y >= 0 && y < g.h && x >= 0 && x < g.w) ? plane[y * g.w + x] : T(0);
          }
      }
    }
    winograd_f4x2_input_tile<T>(d, t, u);
    winograd_store_lanes<T, 25>(u, v, local0 + done, point_stride, panel_stride, nr);
  }
}

// A^T m A of the four phases of one dx channel, phase q = 2 qy + qx's 25
// GEMM results at m + q * phase_stride (points point_stride apart), for
// tiles [tile_begin, tile_begin + count): phase (qy, qx) of the tile at
// phase-grid corner (ty, tx) is dx[2 (ty + i) + qy][2 (tx + j) + qx], i, j <
// 4, so the four phases fill an 8x8 block, clipped at the plane's bottom and
// right edge.
template <typename T>
void winograd_f4x2_phase_output(const WinogradTiles& g, const T* m, int64_t point_stride, int64_t phase_stride,
                                int64_t tile_begin, int64_t count, T* plane0) {
  constexpr int L = kWinogradLanes;
  alignas(64) T s[20][L], y[4][16][L];
  for (int64_t done = 0; done < count; done += L) {
    for (int q = 0; q < 4; ++q) winograd_f4x2_output_tile<T>(m + q * phase_stride + done, point_stride, s, y[q]);
    const int64_t n = count - done < L ? count - done : L;
    WinogradTile lane_tiles[kWinogradLanes];
    winograd_lane_tiles(g, tile_begin + done, lane_tiles);
    for (int64_t l = 0; l < n; ++l) {
      const WinogradTile& tile = lane_tiles[l];
      T* plane = plane0 + tile.image * g.image_stride;
      const int64_t x0 = 2 * tile.x;
      for (int i = 0; i < 4; ++i)
        for (int qy = 0; qy < 2; ++qy) {
          const int64_t row = 2 * (tile.y + i) + qy;
          if (row >= g.h) break;
          T* out = plane + row * g.w + x0;
          const T(*even)[L] = y[2 * qy], (*odd)[L] = y[2 * qy + 1];
          if (x0 + 8 <= g.w) {
            for (int j = 0; j < 4; ++j) {
              out[2 * j] = even[i * 4 + j][l];
              out[2 * j + 1] = odd[i * 4 + j][l];
            }
          } else {
            for (int j = 0; j < 4; ++j) {
              if (x0 + 2 * j < g.w) out[2 * j] = even[i * 4 + j][l];
              if (x0 + 2 * j + 1 < g.w) out[2 * j + 1] = odd[i * 4 + j][l];
            }
          }
        }
    }
  }
}

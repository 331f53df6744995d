// Pieces shared by the Winograd tile transforms (winograd_f4x3_impl.h and
// winograd_f4x5_impl.h): tiles to lanes and lanes to packed panels.
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace.

// Tiles transformed at once, one per SIMD lane (a whole vector of floats on
// AVX-512, two on AVX2).
constexpr int kWinogradLanes = 16;

// Lane l of u[p], p < points, to column j = first + l of a packed
// micro-panel layout: v[p * point_stride + (j / nr) * panel_stride + j % nr].
// (nr = the block's tile count writes plain tile-contiguous rows.)
template <typename T, int kPoints>
inline void winograd_store_lanes(const T (*u)[kWinogradLanes], T* v, int64_t first, int64_t point_stride,
                                 int64_t panel_stride, int nr, int points = kPoints) {
  constexpr int L = kWinogradLanes;
  // Runs of min(nr, L) consecutive columns (nr and L are powers of two, and
  // callers align `first` to L).
  const int64_t run = nr < L ? nr : L;
  for (int64_t l0 = 0; l0 < L; l0 += run) {
    const int64_t j = first + l0;
    // A GEMM's nr is a power of two: shift and mask instead of a 64-bit division.
    const bool pow2 = (nr & (nr - 1)) == 0;
    const int64_t panel = pow2 ? j >> __builtin_ctz(static_cast<unsigned>(nr)) : j / nr;
    T* dst = v + panel * panel_stride + (pow2 ? j & (nr - 1) : j % nr);
    for (int e = 0; e < points; ++e)
      for (int64_t l = 0; l < run; ++l) dst[e * point_stride + l] = u[e][l0 + l];
  }
}

// In image-lane mode, the staged windows of lane group `first` (a multiple
// of the lane count): row i, column j of all 16 windows is the vector at
// result + (i * g.w + j) * 16.
template <typename T>
inline const T* winograd_staged_windows(const WinogradTiles& g, const T* plane0, int64_t first);

struct WinogradTile {
  int64_t image, y, x;  // image index and top-left output (= window) corner
};

inline WinogradTile winograd_tile(const WinogradTiles& g, int64_t tile) {
  if (g.image_lanes) {
    const int64_t group = tile / (kWinogradLanes * g.tiles_per_image);
    const int64_t position = (tile / kWinogradLanes) % g.tiles_per_image;
    return {group * kWinogradLanes + tile % kWinogradLanes, (position / g.tiles_x) * g.tile,
            (position % g.tiles_x) * g.tile};
  }
  const int64_t in_image = tile % g.tiles_per_image;
  return {tile / g.tiles_per_image, (in_image / g.tiles_x) * g.tile, (in_image % g.tiles_x) * g.tile};
}

// The tiles of lanes first .. first + kWinogradLanes - 1 with one or two
// integer divisions, not two per lane (64-bit divisions cost more than a
// lane's share of the transform).
inline void winograd_lane_tiles(const WinogradTiles& g, int64_t first, WinogradTile* tiles) {
  tiles[0] = winograd_tile(g, first);
  if (g.image_lanes) {  // lanes are images at one tile position, 16 to a group
    for (int l = 1; l < kWinogradLanes; ++l)
      tiles[l] = (first + l) % kWinogradLanes == 0
                     ? winograd_tile(g, first + l)
                     : WinogradTile{tiles[l - 1].image + 1, tiles[l - 1].y, tiles[l - 1].x};
    return;
  }
  int64_t position = first % g.tiles_per_image;
  const int64_t row_end = g.tiles_x * g.tile;
  for (int l = 1; l < kWinogradLanes; ++l) {
    WinogradTile t = tiles[l - 1];
    if (++position == g.tiles_per_image) {
      position = 0;
      t = {t.image + 1, 0, 0};
    } else if ((t.x += g.tile) == row_end) {
      t.x = 0;
      t.y += g.tile;
    }
    tiles[l] = t;
  }
}

template <typename T>
inline const T* winograd_staged_windows(const WinogradTiles& g, const T* plane0, int64_t first) {
  const WinogradTile corner = winograd_tile(g, first);  // lane 0: image group * 16
  return plane0 + (corner.image / kWinogradLanes) * g.image_stride + (corner.y * g.w + corner.x) * kWinogradLanes;
}

// Whether lane l of a lane group starting at `first` holds a real tile.
inline bool winograd_lane_is_tile(const WinogradTiles& g, int64_t first, int l, int64_t tiles) {
  if (first + l >= tiles) return false;
  return !g.image_lanes || winograd_tile(g, first + l).image < g.image_lanes;
}

// Lane offsets of a lane group's windows for the vector gather below:
// lane l < n holds tile first + l, its KH x KW window's corner at step x
// the tile's corner + (dy, dx), its elements step rows and columns apart.
// Dead lanes (past n, or past the batch in image-lane mode) get a row far
// outside so every mask bit is clear.
// False when an offset would not fit the 32-bit gather indices.
struct WinogradLaneWindows {
  alignas(64) int32_t offset[kWinogradLanes], y[kWinogradLanes], x[kWinogradLanes];
};

inline bool winograd_lane_windows(const WinogradTiles& g, int64_t first, int64_t n, int64_t dy, int64_t dx,
                                  WinogradLaneWindows* lanes) {
  // Offsets stay in int32 when every image ends below 2^30 and rows are
  // under 2^26 wide (corners lie at most 8 rows above the plane, windows
  // reach at most 8 rows below): checked without a division per lane.
  constexpr int64_t kLimit = int64_t{1} << 30;
  if (g.w >= kLimit / (16 * g.step) || dy < -8) return false;
  WinogradTile tiles[kWinogradLanes];
  winograd_lane_tiles(g, first, tiles);
  for (int l = 0; l < kWinogradLanes; ++l) {
    const WinogradTile& tile = tiles[l];
    const bool live = l < n && (!g.image_lanes || tile.image < g.image_lanes);
    if (!live) {
      lanes->offset[l] = 0;
      lanes->y[l] = -(1 << 29);
      lanes->x[l] = 0;
      continue;
    }
    const int64_t y0 = g.step * tile.y + dy, x0 = g.step * tile.x + dx;
    const int64_t image = tile.image * g.image_stride;
    if (image + g.h * g.w >= kLimit) return false;
    lanes->offset[l] = static_cast<int32_t>(image + y0 * g.w + x0);
    lanes->y[l] = static_cast<int32_t>(y0);
    lanes->x[l] = static_cast<int32_t>(x0);
  }
  return true;
}

// d[i * KW + j][l] = plane0[window of lane l at (i, j)], 0 outside the
// plane or for dead lanes: one masked vector gather per window element
// instead of 16 scalar loads and stores. Returns false (nothing written)
// without AVX-512 or when the offsets do not fit; callers then gather by hand.
template <typename T, int KH, int KW>
inline bool winograd_gather_windows(const WinogradTiles& g, const T* plane0, int64_t first, int64_t n, int64_t dy,
                                    int64_t dx, T (*d)[kWinogradLanes]) {
#if defined(__AVX512F__)
  WinogradLaneWindows lanes;
  if (!winograd_lane_windows(g, first, n, dy, dx, &lanes)) return false;
  const __m512i offset = _mm512_load_si512(lanes.offset), y = _mm512_load_si512(lanes.y),
                x = _mm512_load_si512(lanes.x);
  const __m512i h = _mm512_set1_epi32(static_cast<int>(g.h)), w = _mm512_set1_epi32(static_cast<int>(g.w));
  __mmask16 col_ok[KW];
  const int step = static_cast<int>(g.step);
  for (int j = 0; j < KW; ++j) {
    const __m512i xj = _mm512_add_epi32(x, _mm512_set1_epi32(j * step));
    col_ok[j] = _mm512_cmpge_epi32_mask(xj, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(xj, w);
  }
  for (int i = 0; i < KH; ++i) {
    const __m512i yi = _mm512_add_epi32(y, _mm512_set1_epi32(i * step));
    const __mmask16 row_ok = _mm512_cmpge_epi32_mask(yi, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(yi, h);
    const __m512i row = _mm512_add_epi32(offset, _mm512_set1_epi32(static_cast<int>(i * step * g.w)));
    for (int j = 0; j < KW; ++j) {
      const __mmask16 m = row_ok & col_ok[j];
      const __m512i index = _mm512_add_epi32(row, _mm512_set1_epi32(j * step));
      if constexpr (sizeof(T) == 4) {
        _mm512_store_ps(d[i * KW + j], _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, index, plane0, 4));
      } else {
        _mm512_store_pd(d[i * KW + j], _mm512_mask_i32gather_pd(_mm512_setzero_pd(), static_cast<__mmask8>(m),
                                                                _mm512_castsi512_si256(index), plane0, 8));
        _mm512_store_pd(d[i * KW + j] + 8, _mm512_mask_i32gather_pd(_mm512_setzero_pd(), static_cast<__mmask8>(m >> 8),
                                                                    _mm512_extracti64x4_epi64(index, 1), plane0, 8));
      }
    }
  }
  return true;
#else
  (void)g, (void)plane0, (void)first, (void)n, (void)dy, (void)dx, (void)d;
  return false;
#endif
}

// plane0[4x4 tile of lane l] = y[i * 4 + j][l] + bias for lanes l < n (and,
// in image-lane mode, images in the batch), clipped at the plane's
// bottom/right edge. float on AVX-512: the 16 x 16 block is transposed in
// registers so each tile row is one 4-float store; elsewhere element by
// element.
template <typename T>
inline void winograd_store_tiles(const WinogradTiles& g, T* plane0, int64_t first, int64_t n,
                                 const T (*y)[kWinogradLanes], T bias) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) {
    __m512 r[16], t[16];
    const __m512 b = _mm512_set1_ps(bias);
    for (int e = 0; e < 16; ++e) r[e] = _mm512_add_ps(_mm512_load_ps(y[e]), b);
    // 16 x 16 transpose: afterwards r[l] is lane l's tile, row-major.
    for (int k = 0; k < 8; ++k) {
      t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
      t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 4; ++k) {
      const __m512d t0 = _mm512_castps_pd(t[4 * k]), t1 = _mm512_castps_pd(t[4 * k + 1]),
                    t2 = _mm512_castps_pd(t[4 * k + 2]), t3 = _mm512_castps_pd(t[4 * k + 3]);
      r[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
      r[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
      r[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
      r[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int m = 0; m < 4; ++m) {
      t[m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88);
      t[4 + m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xdd);
      t[8 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88);
      t[12 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xdd);
    }
    for (int m = 0; m < 4; ++m) {
      r[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);
      r[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xdd);
      r[4 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0x88);
      r[12 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0xdd);
    }
    WinogradTile tiles[kWinogradLanes];
    winograd_lane_tiles(g, first, tiles);
    for (int64_t l = 0; l < n; ++l) {
      const WinogradTile& tile = tiles[l];
      if (g.image_lanes && tile.image >= g.image_lanes) continue;
      const int64_t rows = g.h - tile.y < 4 ? g.h - tile.y : 4;
      const int64_t cols = g.w - tile.x < 4 ? g.w - tile.x : 4;
      float* base = plane0 + tile.image * g.image_stride + tile.y * g.w + tile.x;
      const __m128 row[4] = {_mm512_castps512_ps128(r[l]), _mm512_extractf32x4_ps(r[l], 1),
                             _mm512_extractf32x4_ps(r[l], 2), _mm512_extractf32x4_ps(r[l], 3)};
      if (cols == 4) {
        for (int64_t i = 0; i < rows; ++i) _mm_storeu_ps(base + i * g.w, row[i]);
      } else {
        const __mmask8 mask = static_cast<__mmask8>((1u << cols) - 1);
        for (int64_t i = 0; i < rows; ++i) _mm_mask_storeu_ps(base + i * g.w, mask, row[i]);
      }
    }
    return;
  }
#endif
  WinogradTile lane_tiles[kWinogradLanes];
  winograd_lane_tiles(g, first, lane_tiles);
  for (int64_t l = 0; l < n; ++l) {
    const WinogradTile& tile = lane_tiles[l];
    if (g.image_lanes && tile.image >= g.image_lanes) continue;
    T* plane = plane0 + tile.image * g.image_stride;
    const int64_t rows = g.h - tile.y < 4 ? g.h - tile.y : 4;
    const int64_t cols = g.w - tile.x < 4 ? g.w - tile.x : 4;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) plane[(tile.y + i) * g.w + tile.x + j] = y[i * 4 + j][l] + bias;
  }
}

// U = G g G^T of one A micro-panel: `rows` output channels' filters
// g[row * g_row + ci * r * r + ...] (rows <= mr; rows past them are zeros). Point (i, c) of
// channel ci, row `row` goes to dst[(i * alpha + c) * point_stride + ci * mr
// + row]. The filters are first transposed to [k][j][ci * mr + row], the
// destination's order, so both products run over contiguous vectors of the
// ISA's trait S and each point's panel is stored as whole vectors, not by a
// gather across rows per (point, ci). G is alpha x r (row stride 7). scratch:
// winograd_filter_scratch(...) values (kernel_table.h).
template <class S>
void winograd_filter_transform(const typename S::T (*G)[7], int alpha, int r, int64_t c_in, const typename S::T* g,
                               int64_t g_row, int rows, int mr, typename S::T* dst, int64_t point_stride,
                               typename S::T* scratch) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int W = S::width;
  const int64_t live = c_in * mr;            // values of one point's panel
  const int64_t m = (live + W - 1) / W * W;  // padded to whole vectors
  const int rr = r * r;
  T* wt = scratch;               // [k][j][ci * mr + row]
  T* gg = wt + int64_t(rr) * m;  // [i][k][ci * mr + row]
  if (live < m)
    for (int kj = 0; kj < rr; ++kj)
      for (int64_t e = live; e < m; ++e) wt[kj * m + e] = T(0);
  // [row][ci][kj] -> [ci][kj][row] by register blocks into gg (free until
  // the products), then each run of mr rows to its place in [kj][ci][row].
  // (U's writes, not this transpose, bound the transform.)
  pack_rows_transposed(g, g_row, rows, c_in * rr, mr, gg);
  for (int64_t ci = 0; ci < c_in; ++ci)
    for (int kj = 0; kj < rr; ++kj) {
      const T* from = gg + (ci * rr + kj) * mr;
      T* to = wt + kj * m + ci * mr;
      for (int row = 0; row < mr; ++row) to[row] = from[row];
    }
  // Each row of G as its nonzero coefficients, broadcast once.
  V coef[8][7];
  int tap[8][7], taps[8];
  for (int i = 0; i < alpha; ++i) {
    taps[i] = 0;
    for (int k = 0; k < r; ++k)
      if (G[i][k] != T(0)) {
        coef[i][taps[i]] = S::broadcast(&G[i][k]);
        tap[i][taps[i]++] = k;
      }
  }
  // Both products a few vectors of (ci, row) at a time, so that chunk's
  // filters and G g stay in L1 (whole rows of G g are alpha * r * c_in * mr
  // values, 295 KB for 512 channels, would stream from L2 for each of the
  // alpha^2 points).
  constexpr int64_t kChunk = 8 * W;
  const int64_t whole = live / W * W;
  for (int64_t e0 = 0; e0 < m; e0 += kChunk) {
    const int64_t e1 = e0 + kChunk < m ? e0 + kChunk : m;
    for (int i = 0; i < alpha; ++i)  // G g
      for (int j = 0; j < r; ++j)
        for (int64_t e = e0; e < e1; e += W) {
          V acc = S::zero();
          for (int t = 0; t < taps[i]; ++t) acc = S::fmadd(coef[i][t], S::load(wt + (tap[i][t] * r + j) * m + e), acc);
          S::store(gg + (i * r + j) * m + e, acc);
        }
    for (int i = 0; i < alpha; ++i)  // (G g) G^T, one point at a time
      for (int c = 0; c < alpha; ++c) {
        T* out = dst + (i * alpha + c) * point_stride;
        const T* ggi = gg + int64_t(i) * r * m;
        for (int64_t e = e0; e < e1; e += W) {
          V acc = S::zero();
          for (int t = 0; t < taps[c]; ++t) acc = S::fmadd(coef[c][t], S::load(ggi + tap[c][t] * m + e), acc);
          if (e < whole)
            S::store(out + e, acc);
          else
            S::store_first(out + e, acc, static_cast<int>(live - e));
        }
      }
  }
}

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
inline void winograd_store_lanes(const T (*u)[kWinogradLanes], T* v, int64_t first,
                                 int64_t point_stride, int64_t panel_stride, int nr,
                                 int points = kPoints) {
  constexpr int L = kWinogradLanes;
  // Runs of min(nr, L) consecutive columns (nr and L are powers of two, and
  // callers align `first` to L).
  const int64_t run = nr < L ? nr : L;
  for (int64_t l0 = 0; l0 < L; l0 += run) {
    const int64_t j = first + l0;
    T* dst = v + (j / nr) * panel_stride + j % nr;
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


template <typename T>
inline const T* winograd_staged_windows(const WinogradTiles& g, const T* plane0, int64_t first) {
  const WinogradTile corner = winograd_tile(g, first);  // lane 0: image group * 16
  return plane0 + (corner.image / kWinogradLanes) * g.image_stride +
         (corner.y * g.w + corner.x) * kWinogradLanes;
}

// Whether lane l of a lane group starting at `first` holds a real tile.
inline bool winograd_lane_is_tile(const WinogradTiles& g, int64_t first, int l, int64_t tiles) {
  if (first + l >= tiles) return false;
  return !g.image_lanes || winograd_tile(g, first + l).image < g.image_lanes;
}

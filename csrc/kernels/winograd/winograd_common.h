// Pieces shared by the Winograd tile transforms (winograd_f4x3_impl.h and
// winograd_generic_impl.h): tiles to lanes and lanes to packed panels.
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace.

// Tiles transformed at once, one per SIMD lane (a whole vector of floats on
// AVX-512, two on AVX2).
constexpr int kWinogradLanes = 16;

// Lane l of u[p] to column j = first + l of a packed micro-panel layout:
// v[p * point_stride + (j / nr) * panel_stride + j % nr]. nr = 1 with
// panel_stride = MR (or NR) writes tile j as row j of an A (B) micro-panel,
// the layout of the weight gradient's GEMM, whose k runs over tiles.
template <typename T, int kPoints>
inline void winograd_store_lanes(const T (*u)[kWinogradLanes], T* v, int64_t first,
                                 int64_t point_stride, int64_t panel_stride, int nr) {
  constexpr int L = kWinogradLanes;
  // Runs of min(nr, L) consecutive columns (nr and L are powers of two, and
  // callers align `first` to L).
  const int64_t run = nr < L ? nr : L;
  for (int64_t l0 = 0; l0 < L; l0 += run) {
    const int64_t j = first + l0;
    T* dst = v + (j / nr) * panel_stride + j % nr;
    for (int e = 0; e < kPoints; ++e)
      for (int64_t l = 0; l < run; ++l) dst[e * point_stride + l] = u[e][l0 + l];
  }
}

struct WinogradTile {
  int64_t image, y, x;  // image index and top-left output (= window) corner
};

inline WinogradTile winograd_tile(const WinogradTiles& g, int64_t tile) {
  const int64_t in_image = tile % g.tiles_per_image;
  return {tile / g.tiles_per_image, (in_image / g.tiles_x) * g.tile, (in_image % g.tiles_x) * g.tile};
}


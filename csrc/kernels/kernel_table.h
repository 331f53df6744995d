// The per-ISA kernel table: every SIMD-specific function the operators call.
//
// Operators (csrc/ops/) are compiled once for baseline x86-64; each ISA's
// kernels are compiled in their own translation units with their own flags
// and reached only through this table, so a wheel built anywhere runs on any
// x86-64 CPU and picks the widest path at run time.
#pragma once
#include <cstdint>
#include <string>

namespace fastcnn {

// C[MR x NR] (+)= A_panel[kc x MR] * B_panel[kc x NR].
// a: kc groups of MR values (column k of the A micro-panel), b: kc groups of
// NR values; c: row-major with row stride ldc. accumulate=0 overwrites C.
template <typename T>
using GemmMicrokernel = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int accumulate);

// Window geometry of one pooling op on one (H, W) plane.
struct PoolWindow {
  int64_t in_h, in_w, out_h, out_w;
  int64_t kernel_h, kernel_w, stride_h, stride_w;
  int64_t pad_top, pad_bottom, pad_left, pad_right;
  bool count_include_pad;
};

// Pooling kernels work on one plane; forward ones on output rows [row_begin, row_end).
template <typename T>
struct PoolKernels {
  void (*max_forward)(const PoolWindow&, const T* in, T* out, int64_t* indices, int64_t row_begin, int64_t row_end);
  void (*avg_forward)(const PoolWindow&, const T* in, T* out, int64_t row_begin, int64_t row_end);
  // stream: din is written with non-temporal stores (see pool/copy_streaming.h).
  void (*avg_backward)(const PoolWindow&, const T* dout, T* din, bool stream);
  // Global reductions over `n` contiguous values.
  T (*sum)(const T* x, int64_t n);
  T (*max_with_index)(const T* x, int64_t n, int64_t* index);
  // Channels-last: one (H, W, C) image (see pool/pool2d_nhwc_impl.h).
  void (*max_forward_nhwc)(const PoolWindow&, int64_t channels, const T* in, T* out, int64_t* indices,
                           int64_t row_begin, int64_t row_end);
  void (*avg_forward_nhwc)(const PoolWindow&, int64_t channels, const T* in, T* out, int64_t row_begin,
                           int64_t row_end);
  void (*avg_backward_nhwc)(const PoolWindow&, int64_t channels, const T* dout, T* din);
  // dst[i] = src[i] for i < n, whole cache lines of dst with non-temporal
  // stores (see pool/copy_streaming.h).
  void (*copy_streaming)(const T* src, T* dst, int64_t n);
};

// C[MR x NR] (+)= A_panel[kc x MR] * B, B's row k being the NR values at
// b + offset[k] (see gemm/gemm_offset_b_impl.h).
template <typename T>
using GemmOffsetB = void (*)(int64_t kc, const T* a, const T* b, const int64_t* offset, T* c, int64_t ldc,
                             int accumulate);

// Where a GEMM tile's final sums go, for drivers that store them straight
// into the output rather than through a block buffer: vector v of tile row
// r is written to out + r * out_row_stride + offset[v][piece] for the lanes
// set in mask[v][piece] (bit i: lane i). Two pieces, since a tile row's
// vector can cross the end of one output row (wide columns between them
// are dropped by both masks). The tiles are two vectors wide (nr).
struct TileStores {
  static constexpr int kVectors = 2;
  int64_t offset[kVectors][2];
  uint32_t mask[kVectors][2];
};

// gemm_offset_b whose sums (plus C's, when accumulate) plus bias[r] (bias
// may be null) go to the output by `to`, for tile rows r < rows; c is only
// read.
template <typename T>
using GemmOffsetBStore = void (*)(int64_t kc, const T* a, const T* b, const int64_t* offset, const T* c, int64_t ldc,
                                  int accumulate, const T* bias, int rows, const TileStores& to, T* out,
                                  int64_t out_row_stride);

// Concatenates runs of a band into a contiguous row, moving whole vectors
// (reads and writes up to one vector past each run; see pack/copy_runs.h).
template <typename T>
using CopyRuns = void (*)(const T* src, const int64_t* column, const int64_t* offset, const int64_t* length,
                          int64_t count, T* dst);

// A Winograd scheme F(m x m, r x r) with alpha = m + r - 1 points per axis:
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A
// (built in ops/winograd_schemes.cpp; the transforms are hand-written per
// scheme: winograd/winograd_f4x3_impl.h and winograd/winograd_f4x5_impl.h).
struct WinogradMatrices {
  int m, r, alpha;
  double bt[8][8];  // alpha x alpha
  double at[6][8];  // m x alpha
  double g[8][7];   // alpha x r
};

// Where the m x m output tiles of a Winograd convolution lie: tile t is tile
// t % tiles_per_image of image t / tiles_per_image, row-major over tiles_x
// columns of tiles, its corner at (tile * row, tile * column). h, w, pad_*:
// the plane a transform reads or writes (the input, padded, for the input
// transform; the output for the output transform); images are image_stride
// elements apart.
struct WinogradTiles {
  int64_t h, w, pad_top, pad_left;
  int64_t tiles_x, tiles_per_image, image_stride;
  int64_t tile;
  // Image lanes, for small planes where most windows cross the border: 0,
  // or the batch size when the 16 lanes of a transform are 16 images at one
  // tile position rather than 16 tiles of one image. Tile t is then position
  // (t / 16) % tiles_per_image of image (t / (16 tiles_per_image)) * 16 +
  // t % 16 (images past the batch are zeros), and the input transforms read
  // a staged copy [image group][channel][h][w][16 images], zero-padded (h,
  // w: the copy's; pad_*: 0; image_stride: one image group).
  int64_t image_lanes;
  // Windows of a strided correlation's input phase (F(4x4, 2x2) for 3x3
  // stride 2): the window of the tile at output corner (y, x) starts at
  // (step * y - pad_top, step * x - pad_left) and takes every step-th row and
  // column. 1 elsewhere.
  int64_t step = 1;
  // F(4x4, 2x2)'s input transform writes the four phases of a channel:
  // phase q's B rows phase_offset * q elements after phase 0's.
  int64_t phase_offset = 0;
};

// The input phases of a 3x3 stride-2 convolution in the order of their B
// rows: (row parity, column parity) of the padded input. Every Winograd
// point's nonzero phases are then one run (ops/conv2d_winograd.cpp).
constexpr int kWinogradPhase[4][2] = {{0, 1}, {0, 0}, {1, 0}, {1, 1}};

template <typename T>
struct WinogradKernels {
  // B^T d B of `count` tiles of one channel into packed B micro-panels (see
  // winograd/winograd_common.h for the layout).
  void (*input)(const WinogradTiles&, const T* plane0, int64_t tile_begin, int64_t count, T* v, int64_t local0,
                int64_t point_stride, int64_t panel_stride, int nr);
  // A^T m A of `count` tiles of one output channel into the output, plus bias.
  void (*output)(const WinogradTiles&, const T* m, int64_t point_stride, int64_t tile_begin, int64_t count, T bias,
                 T* plane0);
  // A e A^T of `count` m x m tiles of one channel of dout (weight
  // gradient), stored like `input`.
  void (*output_gradient)(const WinogradTiles&, const T* plane0, int64_t tile_begin, int64_t count, T* v,
                          int64_t local0, int64_t point_stride, int64_t panel_stride, int nr);
};

// A direct stride-1 convolution of one zero-padded image (see
// direct/conv2d_direct_impl.h): C_in planes of pad_h x pad_w (with at least
// `width` columns of slack past out_w + kernel_w - 1) into C_out planes, or
// (out_pixel > 1) into channels-last pixels of out_pixel = C_out values.
struct DirectConv {
  int64_t in_channels, pad_h, pad_w, kernel_h, kernel_w, out_h, out_w;
  int64_t out_pixel = 1;
};

template <typename T>
struct DirectKernels {
  int co_block;  // output channels per register block (the weights' packing)
  int width;     // output columns per register block
  void (*rows)(const DirectConv&, const T* padded, const T* w_packed, const T* bias, T* out, int64_t co_begin,
               int64_t co_end, int64_t row_begin, int64_t row_end);
};

// The direct tile's walk (see direct/direct_tile_impl.h): step i =
// (i0*count[1] + i1)*count[2] + i2 reads src at i0*step[0] + i1*step[1] +
// i2*step[2] past each row's offset.
// b advances one row of `lanes` per step, plus b_row_skip elements after
// each run of count[2] steps (a walk over part of each row of a position
// grid) and b_outer_skip after each run of count[1] runs (over part of each
// image's grid when count[0] walks images).
struct DirectWalk {
  int64_t count[3], step[3];
  int64_t b_row_skip = 0, b_outer_skip = 0;
};

template <typename T>
struct DirectTileKernels {
  int lanes;     // values per row of b and acc (a multiple of the vector width)
  int max_rows;  // rows per tile
  // acc[r * ld + j] += sum over the walk's steps i of src[offsets[r] + at(i)] * b[i * lanes + j],
  // r < rows <= max_rows, j < lanes.
  void (*tile)(const DirectWalk&, const T* src, const int64_t* offsets, int rows, const T* b, T* acc, int64_t ld);
  // The same sums started from init[j] in every row (a bias row) instead of
  // acc's values: no pass over acc first. (A separate instantiation: an
  // extra argument in `tile` would slow the weight gradient's walks.)
  void (*tile_from)(const DirectWalk&, const T* src, const int64_t* offsets, int rows, const T* b, T* acc, int64_t ld,
                    const T* init);
  // out[j * out_stride + r] = acc[r * ld + j], r < rows, j < live.
  void (*store_transposed)(const T* acc, int64_t ld, int rows, int live, T* out, int64_t out_stride);
  // to[q * lanes + j] = from[j * channel_step + q * position_step] for j < live, else 0
  // (channel_step * (vector width - 1) must fit in int32).
  void (*gather_lanes)(const T* from, int live, int64_t channel_step, int64_t position_step, int64_t positions, T* to,
                       int lanes);
};

// F(4x4, 2x2) the other way round, for 3x3 stride-2 backward-data: dout's
// 5x5 windows (step 1) into packed B micro-panels like WinogradKernels::input,
// and the output transforms of a dx channel's four phases (GEMM rows
// phase_stride apart) into interleaved 8x8 blocks of its plane.
template <typename T>
struct WinogradPhaseGradientKernels {
  void (*input)(const WinogradTiles&, const T* plane0, int64_t tile_begin, int64_t count, T* v, int64_t local0,
                int64_t point_stride, int64_t panel_stride, int nr);
  void (*output)(const WinogradTiles&, const T* m, int64_t point_stride, int64_t phase_stride, int64_t tile_begin,
                 int64_t count, T* plane0);
};

// Scratch values of one Kernels::winograd_filter call.
inline int64_t winograd_filter_scratch(int alpha, int r, int mr, int64_t c_in, int width) {
  const int64_t m = (c_in * mr + width - 1) / width * width;
  return (static_cast<int64_t>(r) * r + static_cast<int64_t>(alpha) * r) * m;
}

// C tile (mr x nr) += packed A micro-panel * B rows read in place at a
// stride (see gemm/gemm_strided_b_impl.h): 1x1 convolutions of
// channels-first images.
template <typename T>
struct GemmStridedBKernels {
  int mr, nr;
  void (*tile)(int64_t kc, const T* a, const T* b, int64_t ldb, T* c, int64_t ldc, int rows, int cols, int accumulate,
               const T* bias);
};

// Activations fused into batch normalisation's store (identity, relu,
// leaky_relu) and run on their own (all).
enum class Activation : int { identity = 0, relu = 1, leaky_relu = 2, sigmoid = 3, tanh = 4 };

// The update rules of fastcnn/optimizers.py (see elementwise/optimizer_impl.h
// for each rule's scalars c[]). decay: decoupled weight decay, p -= p * decay
// first (weight_decay * learning_rate).
enum class OptimizerKind : int { sgd, sgd_momentum, sgd_nesterov, adagrad, rmsprop, adam, adamax, nadam };
struct OptimizerRule {
  OptimizerKind kind;
  double c[10];
  double decay;
};

// Memory-bound passes (see elementwise/batch_norm_impl.h and
// elementwise/activation_impl.h): "run" kernels take one channel's n
// contiguous values (channels-first), "rows" kernels rows of `channels`
// values (channels-last); sums accumulate into the double outputs.
template <typename T>
struct ElementwiseKernels {
  void (*bn_moments_run)(const T* x, int64_t n, T shift, double* sum, double* sum_sq);
  void (*bn_moments_rows)(const T* x, int64_t rows, int64_t channels, const T* shift, double* sum, double* sum_sq);
  void (*bn_apply_run)(const T* x, int64_t n, T scale, T shift, Activation act, T slope, T* y);
  void (*bn_apply_rows)(const T* x, int64_t rows, int64_t channels, const T* scale, const T* shift, Activation act,
                        T slope, T* y);
  void (*bn_gradient_moments_run)(const T* dy, const T* x, int64_t n, T scale, T shift, T mean, Activation act, T slope,
                                  double* sum_dz, double* sum_dz_xc);
  void (*bn_gradient_moments_rows)(const T* dy, const T* x, int64_t rows, int64_t channels, const T* scale,
                                   const T* shift, const T* mean, Activation act, T slope, double* sum_dz,
                                   double* sum_dz_xc);
  void (*bn_gradient_apply_run)(const T* dy, const T* x, int64_t n, T a, T b, T d, T scale, T shift, Activation act,
                                T slope, T* dx);
  void (*bn_gradient_apply_rows)(const T* dy, const T* x, int64_t rows, int64_t channels, const T* a, const T* b,
                                 const T* d, const T* scale, const T* shift, Activation act, T slope, T* dx);
  void (*activation_forward)(Activation act, T slope, const T* x, int64_t n, T* y);
  void (*activation_backward)(Activation act, T slope, const T* dy, const T* y, int64_t n, T* dx);
  void (*softmax_rows)(const T* x, int64_t rows, int64_t columns, T* y);
  void (*softmax_backward_rows)(const T* dy, const T* y, int64_t rows, int64_t columns, T* dx);
  void (*dropout_apply)(const T* x, int64_t n, uint64_t seed, uint64_t first, uint32_t threshold, T scale, T* y);
  // One update of n values: p, the gradient g (times grad_scale: clipnorm's
  // factor) and the rule's state arrays s0..s2 (null where unused).
  void (*optimizer_update)(const OptimizerRule& rule, T grad_scale, T* p, const T* g, T* s0, T* s1, T* s2, int64_t n);
  // Up to 8 rows of a product with B read once in place (elementwise/gemv_impl.h):
  // c[i * c_row + j] = sum over p < k of a[i * a_row + p * a_step] * b[p * b_row + j].
  void (*gemv_rows)(const T* a, int64_t a_row, int64_t a_step, int rows, const T* b, int64_t b_row, int64_t k,
                    int64_t n, T* c, int64_t c_row);
};

// Every SIMD-specific function of one dtype, grouped by family. The tables
// (kernels/table_<isa>.cpp) assign each field by name; a field added here
// goes into each table, into for_each_kernel_field below and into the
// kernel tester (a test named in KERNEL_TESTS of
// tests/kernels/test_microkernels.py). Every function pointer must be set,
// except those kOptionalKernelFields names.
template <typename T>
struct Kernels {
  // --- GEMM microkernels and their tile sizes (gemm/gemm_microkernel.h):
  // C[mr x nr] (+)= packed A micro-panel * packed B micro-panel.
  int gemm_mr, gemm_nr;
  GemmMicrokernel<T> gemm;
  // A microkernel with fewer rows (gemm_mr when there is none): where C's
  // rows are a multiple of it but not of gemm_mr, it wastes no padding rows.
  // Its columns are gemm_nr too.
  int gemm_narrow_mr;
  GemmMicrokernel<T> gemm_narrow;

  // --- Offset-B (indirect) GEMM (gemm/gemm_offset_b_impl.h): the gemm tiles
  // with B's row k read in place at b + offset[k].
  GemmOffsetB<T> gemm_offset_b;         // gemm_mr x gemm_nr
  GemmOffsetB<T> gemm_offset_b_narrow;  // gemm_narrow_mr x gemm_nr
  // gemm_offset_b and gemm_offset_b_narrow storing into the output (null
  // where the ISA has no masked stores: the portable table).
  GemmOffsetBStore<T> gemm_offset_b_store, gemm_offset_b_store_narrow;

  // --- Strided-B GEMM (gemm/gemm_strided_b_impl.h): the GEMM tile and a
  // narrow variant with B's rows read in place at a stride. AVX2's narrow
  // entry is its main 6-row tile: 4 rows x 2 vectors are 8 accumulators, too
  // few to cover the FMA latency.
  GemmStridedBKernels<T> gemm_strided_b, gemm_strided_b_narrow;

  // --- Direct column kernel (direct/conv2d_direct_impl.h).
  DirectKernels<T> direct;

  // --- Direct tiles (direct/direct_tile_impl.h).
  DirectTileKernels<T> direct_tile;
  // Half the lanes and twice the rows, for channel counts the main tile would
  // pad by over 25% (16 output channels on 32 lanes).
  DirectTileKernels<T> direct_tile_narrow;
  // Twice the lanes and half the rows (the main tile where there is none),
  // for 2+ blocks of the wide tile's lanes.
  DirectTileKernels<T> direct_tile_wide;

  // --- Winograd transforms (winograd/).
  WinogradKernels<T> winograd_f4x3;  // F(4x4, 3x3)
  WinogradKernels<T> winograd_f4x5;  // F(4x4, 5x5)
  // F(4x4, 2x2) over input phases, for 3x3 stride-2 forward (no
  // output_gradient: null).
  WinogradKernels<T> winograd_f4x2;
  // F(4x4, 2x2) for 3x3 stride-2 backward-data (see winograd/winograd_f4x2_impl.h).
  WinogradPhaseGradientKernels<T> winograd_f4x2_dx;
  // Winograd U = G g G^T of one A micro-panel of output channels (see
  // winograd/winograd_common.h), shared by every scheme; filter_width sizes
  // its scratch (winograd_filter_scratch). g_row: values between two output
  // channels' filters (c_in * r * r, or more for a range of input channels).
  void (*winograd_filter)(const T (*G)[7], int alpha, int r, int64_t c_in, const T* g, int64_t g_row, int rows, int mr,
                          T* dst, int64_t point_stride, T* scratch);
  int filter_width;
  // dW = G^T M G of one output channel (winograd/winograd_gradient_transform.h).
  void (*winograd_gradient_transform)(const T (*G)[7], int alpha, int r, int64_t c_in, const T* m, int64_t point_stride,
                                      T* dw, T* scratch);

  // --- Pooling (pool/).
  PoolKernels<T> pool;

  // --- Elementwise passes (elementwise/): batch norm, activations, softmax,
  // dropout, optimizer updates, gemv.
  ElementwiseKernels<T> elementwise;

  // --- Packers (pack/).
  CopyRuns<T> copy_runs;
  // pack_a_panels(a, row, 1, rows, k, mr, dst), by blocks in registers (see
  // pack/pack_rows_transposed.h).
  void (*pack_rows_transposed)(const T* a, int64_t row, int64_t rows, int64_t k, int mr, T* dst);
};

// Function-pointer fields a table may leave null (their callers test them);
// every other one must be set (check_kernel_table).
constexpr const char* kOptionalKernelFields[] = {
    "winograd_f4x2.output_gradient",  // no F(4x4, 2x2) weight gradient
    "gemm_offset_b_store",            // null in the portable table (no masked stores)
    "gemm_offset_b_store_narrow",     // likewise
};

// Calls f(name, field) for every int and function-pointer field of a
// Kernels<T> (K: Kernels<T> or const Kernels<T>), sub-structs' fields named
// "pool.max_forward" and so on. check_kernel_table and the kernel tester's
// bindings walk the tables with it; check_kernel_table also fails when a
// field is missing here. Instantiate it only in baseline-compiled files
// (kernels/kernel_table_check.cpp, bindings), never in a table_<isa>.cpp.
template <typename S, typename F>
void for_each_gemm_strided_b_field(S& s, const std::string& p, F& f) {
  f(p + ".mr", s.mr);
  f(p + ".nr", s.nr);
  f(p + ".tile", s.tile);
}
template <typename S, typename F>
void for_each_direct_tile_field(S& s, const std::string& p, F& f) {
  f(p + ".lanes", s.lanes);
  f(p + ".max_rows", s.max_rows);
  f(p + ".tile", s.tile);
  f(p + ".tile_from", s.tile_from);
  f(p + ".store_transposed", s.store_transposed);
  f(p + ".gather_lanes", s.gather_lanes);
}
template <typename S, typename F>
void for_each_winograd_field(S& s, const std::string& p, F& f) {
  f(p + ".input", s.input);
  f(p + ".output", s.output);
  f(p + ".output_gradient", s.output_gradient);
}
template <typename K, typename F>
void for_each_kernel_field(K& k, F&& f) {
  // GEMM microkernels and their tile sizes
  f(std::string("gemm_mr"), k.gemm_mr);
  f(std::string("gemm_nr"), k.gemm_nr);
  f(std::string("gemm"), k.gemm);
  f(std::string("gemm_narrow_mr"), k.gemm_narrow_mr);
  f(std::string("gemm_narrow"), k.gemm_narrow);
  // offset-B GEMM
  f(std::string("gemm_offset_b"), k.gemm_offset_b);
  f(std::string("gemm_offset_b_narrow"), k.gemm_offset_b_narrow);
  f(std::string("gemm_offset_b_store"), k.gemm_offset_b_store);
  f(std::string("gemm_offset_b_store_narrow"), k.gemm_offset_b_store_narrow);
  // strided-B GEMM
  for_each_gemm_strided_b_field(k.gemm_strided_b, "gemm_strided_b", f);
  for_each_gemm_strided_b_field(k.gemm_strided_b_narrow, "gemm_strided_b_narrow", f);
  // direct column kernel
  f(std::string("direct.co_block"), k.direct.co_block);
  f(std::string("direct.width"), k.direct.width);
  f(std::string("direct.rows"), k.direct.rows);
  // direct tiles
  for_each_direct_tile_field(k.direct_tile, "direct_tile", f);
  for_each_direct_tile_field(k.direct_tile_narrow, "direct_tile_narrow", f);
  for_each_direct_tile_field(k.direct_tile_wide, "direct_tile_wide", f);
  // Winograd
  for_each_winograd_field(k.winograd_f4x3, "winograd_f4x3", f);
  for_each_winograd_field(k.winograd_f4x5, "winograd_f4x5", f);
  for_each_winograd_field(k.winograd_f4x2, "winograd_f4x2", f);
  f(std::string("winograd_f4x2_dx.input"), k.winograd_f4x2_dx.input);
  f(std::string("winograd_f4x2_dx.output"), k.winograd_f4x2_dx.output);
  f(std::string("winograd_filter"), k.winograd_filter);
  f(std::string("filter_width"), k.filter_width);
  f(std::string("winograd_gradient_transform"), k.winograd_gradient_transform);
  // pool
  f(std::string("pool.max_forward"), k.pool.max_forward);
  f(std::string("pool.avg_forward"), k.pool.avg_forward);
  f(std::string("pool.avg_backward"), k.pool.avg_backward);
  f(std::string("pool.sum"), k.pool.sum);
  f(std::string("pool.max_with_index"), k.pool.max_with_index);
  f(std::string("pool.max_forward_nhwc"), k.pool.max_forward_nhwc);
  f(std::string("pool.avg_forward_nhwc"), k.pool.avg_forward_nhwc);
  f(std::string("pool.avg_backward_nhwc"), k.pool.avg_backward_nhwc);
  f(std::string("pool.copy_streaming"), k.pool.copy_streaming);
  // elementwise
  auto& e = k.elementwise;
  f(std::string("elementwise.bn_moments_run"), e.bn_moments_run);
  f(std::string("elementwise.bn_moments_rows"), e.bn_moments_rows);
  f(std::string("elementwise.bn_apply_run"), e.bn_apply_run);
  f(std::string("elementwise.bn_apply_rows"), e.bn_apply_rows);
  f(std::string("elementwise.bn_gradient_moments_run"), e.bn_gradient_moments_run);
  f(std::string("elementwise.bn_gradient_moments_rows"), e.bn_gradient_moments_rows);
  f(std::string("elementwise.bn_gradient_apply_run"), e.bn_gradient_apply_run);
  f(std::string("elementwise.bn_gradient_apply_rows"), e.bn_gradient_apply_rows);
  f(std::string("elementwise.activation_forward"), e.activation_forward);
  f(std::string("elementwise.activation_backward"), e.activation_backward);
  f(std::string("elementwise.softmax_rows"), e.softmax_rows);
  f(std::string("elementwise.softmax_backward_rows"), e.softmax_backward_rows);
  f(std::string("elementwise.dropout_apply"), e.dropout_apply);
  f(std::string("elementwise.optimizer_update"), e.optimizer_update);
  f(std::string("elementwise.gemv_rows"), e.gemv_rows);
  // packers
  f(std::string("copy_runs"), k.copy_runs);
  f(std::string("pack_rows_transposed"), k.pack_rows_transposed);
}

struct KernelTable {
  const char* isa;
  // Register-only FMA loop: flops done in `iterations` steps (see peak/fma_peak.h).
  double (*fma_peak)(int64_t iterations, float* sink);
  Kernels<float> f32;
  Kernels<double> f64;

  template <typename T>
  const Kernels<T>& get() const;
};

// Throws std::logic_error naming each function pointer of `table` left null
// (other than kOptionalKernelFields), each size field not positive, and each
// field for_each_kernel_field misses; else returns the table. Every
// kernel_table_<isa>() passes its table through it once, on first use.
KernelTable check_kernel_table(const KernelTable& table);

template <>
inline const Kernels<float>& KernelTable::get<float>() const {
  return f32;
}
template <>
inline const Kernels<double>& KernelTable::get<double>() const {
  return f64;
}

// Defined in kernels/table_<isa>.cpp, each compiled with that ISA's flags.
const KernelTable& kernel_table_avx512();
const KernelTable& kernel_table_avx2();
const KernelTable& kernel_table_generic();

}  // namespace fastcnn

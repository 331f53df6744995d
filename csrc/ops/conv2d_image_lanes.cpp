// Convolution forward as a GEMM whose columns are images: C[m][(pos, n)] =
// sum over (c, tap) of W[m][(c, tap)] * x[n][c][pos + tap].
//
// On small planes the per-image implicit GEMM (implicit_gemm.h) wastes its
// tiles: MNIST's 7x7 output is 49 columns, two 32-wide tiles of which 15
// columns are padding, and each im2col row is staged from runs of 7. Here a chunk of images
// is first laid out as [channel][row][column][image] with the zero padding
// included, so B's row (c, tap) at output position `pos` for nr consecutive
// images is one contiguous run of the chunk: the microkernel reads every B
// row in place (gemm_offset_b), nothing is staged, and the tiles are full
// whenever the batch is a multiple of nr.
#include <algorithm>
#include <vector>

#include "packed_weights.h"
#include "blocking.h"
#include "conv2d.h"
#include "conv2d_layout.h"
#include "cpu.h"
#include "gemm_blocking.h"
#include "pack_weights.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

namespace {

// Rows and columns of the padded input that the convolution reads.
int64_t read_rows(const Conv2dParams& p) { return (p.out_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1; }
int64_t read_cols(const Conv2dParams& p) { return (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1; }

// The chunk buffer is shared by the threads; a bound on it keeps the path
// to planes where nr images stay within a few L2s.
constexpr int64_t kChunkBytes = int64_t{4} << 20;

int gemm_nr(int element_bytes) {
  return element_bytes == 4 ? active_kernels().f32.gemm_nr : active_kernels().f64.gemm_nr;
}

// One tile of nr images: [channel][row][col][lane] over the padded rows and
// columns that the convolution reads.
int64_t tile_elements(const Conv2dParams& p, int nr) { return p.in_channels * read_rows(p) * read_cols(p) * nr; }

// Images [n0, n0 + live) of x as one tile; `row_begin`/`row_end` count
// (channel, row) pairs of it. With live < nr (the batch's end) the other
// lanes keep what the workspace held: lanes never mix, and their results
// are dropped.
template <typename T>
void lay_out_tile(const Conv2dParams& p, const T* x, int64_t n0, int64_t live, int nr, int64_t row_begin,
                  int64_t row_end, T* tile) {
  const int64_t rows = read_rows(p), cols = read_cols(p);
  const int64_t image = p.in_channels * p.in_h * p.in_w;
  const int64_t in_channel = p.channel_step(p.in_h, p.in_w), in_pixel = p.pixel_step(p.in_channels);
  const int64_t x_lo = std::min(cols, std::max<int64_t>(0, p.pad_left));
  const int64_t x_hi = std::max(x_lo, std::min(cols, p.pad_left + p.in_w));
  for (int64_t task = row_begin; task < row_end; ++task) {
    const int64_t c = task / rows, iy = task % rows - p.pad_top;
    T* out = tile + task * cols * nr;
    if (iy < 0 || iy >= p.in_h) {
      std::fill(out, out + cols * nr, T(0));
      continue;
    }
    std::fill(out, out + x_lo * nr, T(0));
    std::fill(out + x_hi * nr, out + cols * nr, T(0));
    const T* from = x + n0 * image + c * in_channel + (iy * p.in_w + x_lo - p.pad_left) * in_pixel;
    T* to = out + x_lo * nr;
    if (in_pixel == 1) {  // each image's row is contiguous: [image][col] -> [col][lane]
      transpose_block(from, image, live, x_hi - x_lo, to, nr);
    } else {
      for (int64_t i = 0; i < live; ++i)
        for (int64_t col = 0; col < x_hi - x_lo; ++col) to[col * nr + i] = from[i * image + col * in_pixel];
    }
  }
}

}  // namespace

bool image_lanes_applies(const Conv2dParams& p, int element_bytes) {
  return tile_elements(p, gemm_nr(element_bytes)) * element_bytes <= kChunkBytes;
}

// Where the per-image GEMM's column tiles would be less full than the
// image lanes (the batch's last tile of images is the lanes' padding), and
// a tile's results stay in L2 until they are written out: they go out
// scattered, a short run per image and channel, where the per-image GEMM
// streams them.
bool prefers_image_lanes(const Conv2dParams& p, int element_bytes) {
  const int nr = gemm_nr(element_bytes);
  const int64_t positions = p.out_h * p.out_w;
  const int64_t tile_results = nr * p.out_channels * positions * element_bytes;
  return image_lanes_applies(p, element_bytes) && tile_results <= blocking().image_lanes_results_l2 &&
         p.batch * round_up(positions, nr) > round_up(p.batch, nr) * positions * 21 / 20;
}

template <typename T>
void conv2d_forward_image_lanes(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out) {
  const Kernels<T> kern = with_row_tile(active_kernels().get<T>(), p.out_per_group());
  const int mr = kern.gemm_mr, nr = kern.gemm_nr;
  const int64_t groups = p.groups, m = p.out_per_group(), k = p.gemm_k();
  const int64_t panels = ceil_div(m, mr);

  PackedWeights<T> a_packed(PackSite::image_lanes, {groups, m, k, mr}, groups * panels * mr * k);
  if (!a_packed.ready()) {
    pack_group_weight_panels(kern, w, groups, m, k, mr, a_packed.data());
    a_packed.packed();
  }

  const int64_t rows = read_rows(p), cols = read_cols(p), plane = rows * cols * nr;
  const int64_t tile_size = tile_elements(p, nr);
  const int64_t tiles_per_chunk =
      std::min(ceil_div(p.batch, nr), std::max<int64_t>(1, kChunkBytes / int64_t(sizeof(T)) / tile_size));
  const int64_t channels = p.in_per_group();
  // B row (c, th, tw): its offset in a tile from the output position's corner.
  std::vector<int64_t> offsets(k);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t th = 0; th < p.kernel_h; ++th)
      for (int64_t tw = 0; tw < p.kernel_w; ++tw)
        offsets[(c * p.kernel_h + th) * p.kernel_w + tw] =
            c * plane + (th * p.dilation_h * cols + tw * p.dilation_w) * nr;

  const int64_t kc_max = gemm_blocking(mr, nr, sizeof(T), k, nr).kc;
  const int64_t positions = p.out_h * p.out_w;
  const int64_t out_image = p.out_channels * positions;
  const int64_t out_channel = p.channel_step(p.out_h, p.out_w), out_pixel = p.pixel_step(p.out_channels);
  // A task is a block of output positions of one tile: the results of up
  // to 16 positions per image and channel go out as one run (channels-first).
  const int threads = num_threads();
  const int64_t min_blocks = ceil_div(2 * threads, groups * tiles_per_chunk);
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(16, ceil_div(positions, min_blocks)));
  const int64_t blocks = ceil_div(positions, block);
  // c_block[row][position][lane]: each row's block of results is one
  // contiguous [position][lane] matrix for the transposition out.
  const int64_t m_rows = panels * mr, c_row = block * nr;
  const int64_t per_thread = round_up(m_rows * c_row, 16);
  Workspace<T> chunk(tiles_per_chunk * tile_size);
  Workspace<T> c_blocks(threads * per_thread);

  for (int64_t n0 = 0; n0 < p.batch; n0 += tiles_per_chunk * nr) {
    const int64_t tiles = std::min(tiles_per_chunk, ceil_div(p.batch - n0, nr));
    const int64_t fill_rows = p.in_channels * rows;
    parallel_for(tiles * fill_rows, threads, Denormals::keep, [&](int64_t begin, int64_t end, int) {
      for (int64_t t = begin / fill_rows; t * fill_rows < end; ++t) {
        const int64_t first = std::max(begin, t * fill_rows) - t * fill_rows;
        const int64_t last = std::min(end, (t + 1) * fill_rows) - t * fill_rows;
        lay_out_tile(p, x, n0 + t * nr, std::min<int64_t>(nr, p.batch - n0 - t * nr), nr, first, last,
                     chunk.data() + t * tile_size);
      }
    });
    parallel_for_stealing(
        groups * tiles * blocks, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
          T* c_block = c_blocks.slot(thread, per_thread);
          for (int64_t task = begin; task < end; ++task) {
            const int64_t pos0 = task % blocks * block, pos1 = std::min(positions, pos0 + block);
            const int64_t tile = task / blocks % tiles, g = task / blocks / tiles;
            const T* a = a_packed.data() + g * panels * mr * k;
            const T* b_tile = chunk.data() + tile * tile_size + g * channels * plane;
            for (int64_t pos = pos0; pos < pos1; ++pos) {
              const int64_t y = pos / p.out_w, xo = pos % p.out_w;
              const T* b = b_tile + (y * p.stride_h * cols + xo * p.stride_w) * nr;
              T* c = c_block + (pos - pos0) * nr;
              for (int64_t k0 = 0; k0 < k; k0 += kc_max) {
                const int64_t kc = std::min(kc_max, k - k0);
                for (int64_t panel = 0; panel < panels; ++panel)
                  kern.gemm_offset_b(kc, a + panel * mr * k + k0 * mr, b, offsets.data() + k0, c + panel * mr * c_row,
                                     c_row, k0 > 0);
              }
            }
            // Each image's results go to its own output, one image apart.
            const int64_t first = n0 + tile * nr, live = std::min<int64_t>(nr, p.batch - first);
            T* o = out + first * out_image + g * m * out_channel;
            for (int64_t row = 0; row < m; ++row) {
              const T add = bias ? bias[g * m + row] : T(0);
              T* to = o + row * out_channel + pos0 * out_pixel;
              if (out_pixel == 1) {  // [position][lane] -> [image][position]
                transpose_block<T, true>(c_block + row * c_row, nr, pos1 - pos0, live, to, out_image, add);
              } else {
                for (int64_t pos = 0; pos < pos1 - pos0; ++pos)
                  for (int64_t i = 0; i < live; ++i)
                    to[i * out_image + pos * out_pixel] = c_block[row * c_row + pos * nr + i] + add;
              }
            }
          }
        });
  }
}

template void conv2d_forward_image_lanes<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_forward_image_lanes<double>(const Conv2dParams&, const double*, const double*, const double*,
                                                 double*);

}  // namespace fastcnn

// Convolution forward by the direct tile (kernels/direct/direct_tile_impl.h):
// a register block of R output positions x `lanes` output channels summed
// over every tap (ci, kh, kw), reading the input in place from one
// zero-padded copy per image (or from x itself when there is no padding) and
// the weights from a copy transposed to [tap][output channel].
//
// Unlike the implicit GEMM it packs nothing per block and its positions run
// on across output rows, so small planes waste no columns (a 14x14 plane is
// 196 positions, not 7 panels of 32) and strides cost nothing extra. Any
// stride, padding and dilation; one group.
#include <algorithm>
#include <vector>

#include "packed_weights.h"
#include "blocking.h"
#include "conv2d.h"
#include "conv2d_layout.h"
#include "cpu.h"
#include "pack_weights.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

namespace {

struct DirectTilesLayout {
  int64_t pad_h, pad_w, plane, positions, chunks, chunk;
  int64_t block_groups;   // each task's output channel blocks: one of these groups
  int64_t pass_channels;  // input channels per pass over a task's positions
  bool in_place;
  int64_t padded, acc;  // per-thread elements
  int64_t offsets;      // a task's position offsets (int64 stored in T slots)
  int64_t per_thread() const { return padded + acc + offsets; }
};

DirectTilesLayout direct_tiles_layout(const Conv2dParams& p, int lanes, int rows, int64_t threads,
                                      int64_t element_bytes) {
  DirectTilesLayout l;
  // A block's weights (taps x lanes) well past L1 (ResNet 64 -> 128 3x3:
  // 72 KiB) are split into passes over input channels whose weights fit in
  // half of it, summed in [position][lane] rows kept for the whole task.
  // Blocks up to a quarter past L1 keep one pass: there the extra passes over
  // the rows cost more than the weights' L1 misses.
  const int64_t weight_bytes = p.in_channels * p.kernel_h * p.kernel_w * lanes * element_bytes;
  const int64_t passes =
      weight_bytes > blocking().direct_tile_weights_l1 ? ceil_div(weight_bytes, blocking().direct_tile_pass_l1) : 1;
  l.pass_channels = ceil_div(p.in_channels, std::min(passes, p.in_channels));
  l.pad_h = p.in_h + p.pad_top + p.pad_bottom;
  l.pad_w = p.in_w + p.pad_left + p.pad_right;
  l.plane = l.pad_h * l.pad_w;
  l.positions = p.out_h * p.out_w;
  l.in_place = p.pad_top == 0 && p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
  // Split an image's positions only when there are too few images for the threads.
  const int64_t want = p.batch >= 2 * threads ? 1 : ceil_div(2 * threads, p.batch);
  // Deep layers split their output channels instead: with positions split,
  // every task would read all of the weights, which pass L2 (512 -> 512 3x3
  // at 7x7, batch 1: 9.4 MB).
  const int64_t blocks = ceil_div(p.out_channels, lanes);
  const bool large_weights =
      blocks * lanes * p.in_channels * p.kernel_h * p.kernel_w * element_bytes > blocking().direct_tile_all_weights_l2;
  l.block_groups = large_weights ? std::min(blocks, want) : 1;
  // or, with passes, when a task's [position][lane] rows would pass 1 MiB.
  const bool one_pass = l.pass_channels >= p.in_channels;
  const int64_t bounded = one_pass ? 1 : ceil_div(l.positions * lanes * element_bytes, int64_t{1} << 20);
  l.chunks =
      std::max<int64_t>(1, std::min(std::max(ceil_div(want, l.block_groups), bounded), ceil_div(l.positions, rows)));
  l.chunk = round_up(ceil_div(l.positions, l.chunks), rows);
  l.padded = l.in_place ? 0 : round_up(p.in_channels * l.plane, 16);
  l.acc = round_up((one_pass ? rows : l.chunk) * lanes, 16);
  l.offsets = round_up(l.chunk * 8 / element_bytes, 16);
  return l;
}

}  // namespace

bool direct_tiles_applies(const Conv2dParams& p) { return p.groups == 1; }

bool direct_tile_lanes_filled(int element_bytes, int64_t channels) {
  const int lanes = direct_tile_shape(element_bytes, channels).lanes;
  return channels * 4 >= round_up(channels, lanes) * 3;
}

// The padded image is per thread: beyond 4 MiB the implicit GEMM, whose
// scratch is blocked, takes over.
bool direct_tiles_fits(const Conv2dParams& p, int element_bytes) {
  const DirectTileShape tile = direct_tile_shape(element_bytes, p.out_channels);
  return direct_tiles_layout(p, tile.lanes, tile.max_rows, num_threads(), element_bytes).per_thread() * element_bytes <=
         (int64_t{4} << 20);
}

// The tiles beat the implicit GEMM on small output planes, where the GEMM pads
// its 32-column panels per image; and, as the tiles store their results by
// gathers, on larger planes whose (padded) image stays in half the L2. An
// image beyond that is re-read from L3 by every tile. A 1x1 walk is only
// C_in steps, so 1x1 needs small planes too. Output channels far below the
// lane count waste the tile.
bool prefers_direct_tiles(const Conv2dParams& p, int element_bytes) {
  if (!direct_tiles_applies(p) || !direct_tiles_fits(p, element_bytes)) return false;
  const bool lanes_filled = direct_tile_lanes_filled(element_bytes, p.out_channels);
  const int64_t image_bytes =
      p.in_channels * (p.in_h + p.pad_top + p.pad_bottom) * (p.in_w + p.pad_left + p.pad_right) * element_bytes;
  const bool image_in_l2 = image_bytes <= blocking().direct_tile_image_l2;
  const bool small_plane = p.out_h * p.out_w <= 256;
  if (!lanes_filled) return false;
  // The larger-plane and 64-channel 1x1 rules hold for AVX-512's tiles;
  // AVX2's 6 x 16 tile keeps the small-plane rule (on larger planes the GEMM
  // beats it).
  const bool avx512 = avx512_active();
  if (p.kernel_h == 1 && p.kernel_w == 1) {
    if (!avx512) return p.in_channels >= 256;
    // A 1x1 walk is short, so its image must fit a quarter of L2, not half.
    return p.in_channels >= 64 && small_plane && image_bytes <= blocking().direct_tile_pointwise_image_l2;
  }
  // Strided kxk layers keep the tiles past that on AVX-512: their positions
  // read every other input column, and the GEMM's band fill per phase costs
  // more than the tiles' L3 reads.
  const bool strided = p.stride_h > 1 || p.stride_w > 1;
  return p.in_channels * p.kernel_h * p.kernel_w >= 72 && (small_plane || (avx512 && (image_in_l2 || strided)));
}

template <typename T>
void conv2d_forward_direct_tiles(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out) {
  const DirectTileKernels<T>& kern = direct_tile_kernels<T>(direct_tile_shape(sizeof(T), p.out_channels).kind);
  const int lanes = kern.lanes, max_rows = kern.max_rows;
  const int64_t taps = p.in_channels * p.kernel_h * p.kernel_w;
  const int64_t blocks = ceil_div(p.out_channels, lanes);
  const int threads_wanted = num_threads();
  const DirectTilesLayout l = direct_tiles_layout(p, lanes, max_rows, threads_wanted, sizeof(T));
  const int64_t tasks = p.batch * l.block_groups * l.chunks;
  const int threads = threads_for(tasks);

  // w_t[block][tap][lane] = w[block * lanes + lane][tap], zero past C_out,
  // taps in the walk's order: (ci, kh, kw), or (kh, kw, ci) for channels-last
  // data, whose input channels are contiguous.
  const bool nhwc = p.channels_last;
  const int64_t c_in = p.in_channels, kernel_taps = p.kernel_h * p.kernel_w;
  PackedWeights<T> w_t(nhwc ? PackSite::direct_tiles_nhwc : PackSite::direct_tiles,
                       {p.out_channels, c_in, kernel_taps, lanes}, blocks * taps * lanes);
  if (w_t.ready()) {
    // packed by an earlier run of this inference plan step
  } else if (!nhwc) {
    pack_weight_panels(active_kernels().get<T>(), w, p.out_channels, taps, lanes, w_t.data());
    w_t.packed();
  } else {  // the (ci, kh, kw) rows packed, then put in (kh, kw, ci) order
    Workspace<T> by_channel(blocks * taps * lanes);
    pack_weight_panels(active_kernels().get<T>(), w, p.out_channels, taps, lanes, by_channel.data());
    parallel_for(blocks, threads_for(taps * lanes >= (int64_t{1} << 16) ? blocks : 1), Denormals::keep,
                 [&](int64_t begin, int64_t end, int) {
                   for (int64_t b = begin; b < end; ++b)
                     for (int64_t tap = 0; tap < taps; ++tap) {
                       const int64_t source = (tap % c_in) * kernel_taps + tap / c_in;
                       std::copy_n(by_channel.data() + (b * taps + source) * lanes, lanes,
                                   w_t.data() + (b * taps + tap) * lanes);
                     }
                 });
    w_t.packed();
  }

  // Each tile starts from its block's bias row (zero past C_out or without bias).
  std::vector<T> initial(blocks * lanes, T(0));
  if (bias)
    for (int64_t co = 0; co < p.out_channels; ++co) initial[co] = bias[co];

  const bool one_pass = l.pass_channels >= p.in_channels;
  // The walk over `channels` channels' taps: channels a plane apart, kernel
  // rows dilation rows apart (1x1: one long innermost loop, not C_in loops of one step).
  // Channels-last: kernel rows, then (kw, ci) as one contiguous run where
  // the kernel columns are adjacent pixels and every channel is in the pass.
  const auto walk_for = [&](int64_t channels) {
    if (nhwc) {
      const int64_t row = p.dilation_h * l.pad_w * c_in;
      if (channels == c_in && p.dilation_w == 1) return DirectWalk{{p.kernel_h, 1, p.kernel_w * c_in}, {row, 0, 1}};
      return DirectWalk{{p.kernel_h, p.kernel_w, channels}, {row, p.dilation_w * c_in, 1}, (c_in - channels) * lanes};
    }
    if (p.kernel_h == 1 && p.kernel_w == 1) return DirectWalk{{1, 1, channels}, {0, 0, l.plane}};
    return DirectWalk{{channels, p.kernel_h, p.kernel_w}, {l.plane, p.dilation_h * l.pad_w, p.dilation_w}};
  };
  // A pass's first input channel: where its walk starts in the source and in w_t.
  const auto channel_offset = [&](int64_t c0) { return nhwc ? c0 : c0 * l.plane; };
  const auto channel_taps = [&](int64_t c0) { return nhwc ? c0 : c0 * kernel_taps; };
  const DirectWalk full_walk = walk_for(p.in_channels);
  const int64_t in_image = p.in_channels * p.in_h * p.in_w;
  const int64_t per_thread = l.per_thread();
  Workspace<T> scratch(threads * per_thread);

  parallel_for_stealing(tasks, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* padded = scratch.slot(thread, per_thread);
    T* acc = padded + l.padded;
    // Where each of the task's positions starts in the (padded) planes,
    // made once per task without a division per position and tile.
    int64_t* offsets = reinterpret_cast<int64_t*>(acc + l.acc);
    int64_t padded_image = -1;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / l.chunks / l.block_groups, chunk = task % l.chunks;
      const int64_t group = task / l.chunks % l.block_groups;
      const int64_t b_begin = blocks * group / l.block_groups, b_end = blocks * (group + 1) / l.block_groups;
      const int64_t p0 = std::min(l.positions, chunk * l.chunk);
      const int64_t p1 = std::min(l.positions, p0 + l.chunk);
      if (p0 >= p1) continue;
      const T* image = x + n * in_image;
      if (!l.in_place && padded_image != n) {
        if (nhwc)
          pad_input_pixels(p, image, l.pad_w, padded);
        else
          pad_input_planes(p, image, 0, p.in_channels, l.pad_w, l.plane, padded);
        padded_image = n;
      }
      const T* src = l.in_place ? image : padded;
      for (int64_t q = p0, oh = p0 / p.out_w, ow = p0 % p.out_w; q < p1; ++q) {
        offsets[q - p0] = (oh * p.stride_h * l.pad_w + ow * p.stride_w) * (nhwc ? c_in : 1);
        if (++ow == p.out_w) {
          ow = 0;
          ++oh;
        }
      }
      for (int64_t b = b_begin; b < b_end; ++b) {
        const int64_t co0 = b * lanes;
        const int live = static_cast<int>(std::min<int64_t>(lanes, p.out_channels - co0));
        const auto store = [&](const T* rows_acc, int64_t s0, int64_t s1) {
          if (p.channels_last) {
            for (int64_t q = s0; q < s1; ++q)
              std::copy_n(rows_acc + (q - s0) * lanes, live, out + (n * l.positions + q) * p.out_channels + co0);
          } else {
            kern.store_transposed(rows_acc, lanes, static_cast<int>(s1 - s0), live,
                                  out + (n * p.out_channels + co0) * l.positions + s0, l.positions);
          }
        };
        if (one_pass) {  // each tile summed over every tap and stored while its rows are in L1
          const T* weights = w_t.data() + b * taps * lanes;
          // Channels-last whole blocks are summed in the output rows
          // themselves (a copy through acc per position is costly beside a
          // short walk: 27 steps for CIFAR's 3 -> 32).
          const bool in_output = nhwc && live == lanes;
          for (int64_t q0 = p0; q0 < p1; q0 += max_rows) {
            const int rows = static_cast<int>(std::min<int64_t>(max_rows, p1 - q0));
            if (in_output) {
              kern.tile_from(full_walk, src, offsets + (q0 - p0), rows, weights,
                             out + (n * l.positions + q0) * p.out_channels + co0, p.out_channels, initial.data() + co0);
              continue;
            }
            kern.tile_from(full_walk, src, offsets + (q0 - p0), rows, weights, acc, lanes, initial.data() + co0);
            store(acc, q0, q0 + rows);
          }
          continue;
        }
        // The first pass starts each row from the bias (no copy of it per
        // position first); channels-last whole blocks sum in the output rows
        // themselves, as in one pass (copying each position's row in and out
        // of acc would be a pass of its own).
        const bool in_output = nhwc && live == lanes;
        T* const rows_at = in_output ? out + (n * l.positions + p0) * p.out_channels + co0 : acc;
        const int64_t ld = in_output ? p.out_channels : lanes;
        for (int64_t c0 = 0; c0 < p.in_channels; c0 += l.pass_channels) {
          const DirectWalk walk = walk_for(std::min(l.pass_channels, p.in_channels - c0));
          const T* weights = w_t.data() + (b * taps + channel_taps(c0)) * lanes;
          for (int64_t q0 = p0; q0 < p1; q0 += max_rows) {
            const int rows = static_cast<int>(std::min<int64_t>(max_rows, p1 - q0));
            T* const tile_rows = rows_at + (q0 - p0) * ld;
            if (c0 == 0)
              kern.tile_from(walk, src, offsets + (q0 - p0), rows, weights, tile_rows, ld, initial.data() + co0);
            else
              kern.tile(walk, src + channel_offset(c0), offsets + (q0 - p0), rows, weights, tile_rows, ld);
          }
        }
        if (!in_output) store(acc, p0, p1);
      }
    }
  });
}

template void conv2d_forward_direct_tiles<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_forward_direct_tiles<double>(const Conv2dParams&, const double*, const double*, const double*,
                                                  double*);

}  // namespace fastcnn

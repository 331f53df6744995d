// Weight gradient by the direct tile (kernels/direct/direct_tile_impl.h):
//
//   dW[co][ci, kh, kw] = sum over n, oh, ow of dout[n, co, oh, ow] * x_padded[n, ci, oh*sh + kh*dh, ow*sw + kw*dw]
//
// Tasks are (group of images, range of input channels). Per task a thread
// transposes the group's dout to [block of `lanes` output channels][image]
// [position][lane] (zeros past C_out; kept while consecutive tasks share the
// group), zero-pads the task's input channels once, and runs register tiles
// of up to max_rows taps over every position of every image of the group
// into its own partial dW^T [tap][C_out rounded up]: the accumulators are
// loaded and stored once per group, not once per image (a 7x7 plane has only
// 49 positions to spread that over). One pass
// at the end sums the partials (in thread order: deterministic for a given
// thread count) and transposes them into dW.
#include <algorithm>
#include <vector>

#include "conv2d.h"
#include "blocking.h"
#include "conv2d_layout.h"
#include "cpu.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

bool direct_weight_applies(const Conv2dParams& p) { return p.groups == 1; }

DirectTileShape direct_tile_shape(int element_bytes, int64_t channels) {
  const auto pick = [channels](const auto& main, const auto& narrow, const auto& wide) {
    // 2+ wide blocks (AVX-512's 64 x 6 instead of 32 x 12, so 6 row pointers,
    // not 12, stay in registers); with one wide block the two tie.
    if (wide.lanes > main.lanes && channels >= 2 * wide.lanes &&
        round_up(channels, wide.lanes) <= round_up(channels, main.lanes))
      return DirectTileShape{wide.lanes, wide.max_rows, DirectTileKind::wide};
    if (narrow.lanes < main.lanes && round_up(channels, narrow.lanes) * 100 < round_up(channels, main.lanes) * 80)
      return DirectTileShape{narrow.lanes, narrow.max_rows, DirectTileKind::narrow};
    return DirectTileShape{main.lanes, main.max_rows, DirectTileKind::main};
  };
  const KernelTable& t = active_kernels();
  return element_bytes == 4 ? pick(t.f32.direct_tile, t.f32.direct_tile_narrow, t.f32.direct_tile_wide)
                            : pick(t.f64.direct_tile, t.f64.direct_tile_narrow, t.f64.direct_tile_wide);
}

namespace {

struct ValidRange {
  int64_t oh = 0, h = 0, ow = 0, w = 0;
};

// Elements of one thread's scratch: the partial dW^T, dout_t and one task's
// padded input channels, each rounded to 64 bytes.
struct DirectWeightLayout {
  int64_t lanes, ld, positions, pad_h, pad_w, plane, channels_per_task, ranges, group, groups;
  int64_t partial, dout_t, padded;
  bool pixels;  // channels-last input read pixel by pixel (else copied to planes)
  // One dW^T for all threads, each owning whole ranges of input channels
  // (tasks run range by range), instead of a partial sum per thread.
  bool shared;
  int64_t per_thread() const { return (shared ? 0 : partial) + dout_t + padded; }
};

// Images with this many output positions already spread a tile's
// accumulator loads and stores thinly; grouping them only streams more data
// through the L2.
constexpr int64_t kGroupPositions = 256;

DirectWeightLayout direct_weight_layout(const Conv2dParams& p, int lanes, int64_t threads, int element_bytes) {
  DirectWeightLayout l;
  l.lanes = lanes;
  l.ld = round_up(p.out_channels, lanes);
  l.positions = p.out_h * p.out_w;
  l.pad_h = p.in_h + p.pad_top + p.pad_bottom;
  l.pad_w = p.in_w + p.pad_left + p.pad_right;
  l.plane = l.pad_h * l.pad_w;
  // Split the input channels only when there are too few images to keep
  // every thread busy (each range re-transposes dout).
  l.ranges = p.batch >= 2 * threads ? 1 : std::min(p.in_channels, ceil_div(2 * threads, p.batch));
  // Deep layers' dW^T passes L2 (512 -> 512 3x3: 9.4 MB): a copy per thread
  // would pass the scratch bound and send the layer to the slower im2col GEMM.
  const int64_t taps = p.in_channels * p.kernel_h * p.kernel_w;
  l.shared = taps * l.ld * element_bytes > blocking().direct_weight_shared_l2 && p.in_channels >= threads;
  if (l.shared) l.ranges = std::min(p.in_channels / threads, ceil_div(l.ranges, threads)) * threads;
  l.channels_per_task = ceil_div(p.in_channels, l.ranges);
  // Images per task: small planes take as many as keep a thread's share of
  // the batch in one task, while the group's dout and padded input fit half
  // the L2.
  const int64_t image_bytes = element_bytes * (l.positions * l.ld + l.channels_per_task * l.plane);
  const int64_t share = ceil_div(p.batch, threads);
  const int64_t group_bytes = blocking().direct_weight_group_l2;
  const int64_t enough = l.positions >= kGroupPositions ? 1 : share;
  l.group = std::max<int64_t>(1, std::min({share, enough, group_bytes / image_bytes}));
  l.group = ceil_div(share, ceil_div(share, l.group));  // even groups: 32 as 16 + 16, not 24 + 8
  l.groups = ceil_div(p.batch, l.group);
  l.partial = round_up(taps * l.ld, 16);
  l.dout_t = round_up(l.group * l.positions * l.ld, 16);
  // Channels-last input is walked in place, pixel by pixel (padded whole
  // when padded: its channels are interleaved), except stride-1 kxk layers
  // on images past a quarter of L2, whose planes stream better through L1.
  const bool pointwise = p.kernel_h == 1 && p.kernel_w == 1, strided = p.stride_h > 1 || p.stride_w > 1;
  l.pixels = p.channels_last &&
             (pointwise || strided || p.in_channels * l.plane * element_bytes <= blocking().direct_weight_pixels_l2);
  l.padded = round_up(l.group * (l.pixels ? p.in_channels : l.channels_per_task) * l.plane, 16);
  return l;
}

}  // namespace

// Per-thread scratch grows with C_in x C_out x KH x KW (the partial dW^T)
// and the image: past 4 MiB the GEMM path, whose workspace is blocked,
// takes over.
bool direct_weight_fits(const Conv2dParams& p, int element_bytes) {
  const int lanes = direct_tile_shape(element_bytes, p.out_channels).lanes;
  return direct_weight_layout(p, lanes, num_threads(), element_bytes).per_thread() * element_bytes <=
         (int64_t{4} << 20);
}

// The direct kernel reads x and dout without the im2col matrix the GEMM packs
// and streams, so it is the default whenever its scratch fits (Winograd still
// wins for large 3x3/5x5 layers).
bool prefers_direct_weight(const Conv2dParams& p, int element_bytes) {
  return direct_weight_applies(p) && direct_weight_fits(p, element_bytes);
}

template <typename T>
void conv2d_backward_weight_direct(const Conv2dParams& p, const T* dout, const T* x, T* dw) {
  const DirectTileKernels<T>& kern = direct_tile_kernels<T>(direct_tile_shape(sizeof(T), p.out_channels).kind);
  const int threads = threads_for(p.batch * std::min<int64_t>(p.in_channels, 2 * num_threads()));
  const DirectWeightLayout l = direct_weight_layout(p, kern.lanes, threads, sizeof(T));
  const int64_t taps_per_channel = p.kernel_h * p.kernel_w;
  const int64_t taps = p.in_channels * taps_per_channel;
  const int64_t tasks = l.groups * l.ranges;
  const int64_t per_thread = l.per_thread();
  Workspace<T> scratch(threads * per_thread);
  Workspace<T> shared(l.shared ? l.partial : 0);
  // Partial sums start at 0; dout_t (zeros past C_out included) and the
  // padded planes are written whole by every task, so need no clearing.
  if (l.shared)  // megabytes: zeroed in parallel
    parallel_for(ceil_div(l.partial, int64_t{1} << 16), [&](int64_t begin, int64_t end, int) {
      const int64_t first = begin << 16, last = std::min(l.partial, end << 16);
      std::fill(shared.data() + first, shared.data() + last, T(0));
    });
  else
    for (int th = 0; th < threads; ++th) std::fill_n(scratch.slot(th, per_thread), l.partial, T(0));

  // Channels-last data is read pixel by pixel in place (or from a padded
  // channels-last copy of the whole image): offsets and position steps are
  // in pixels of C_in values, and channel ci is ci values into a pixel.
  const bool nhwc = l.pixels;
  const int64_t pixel = nhwc ? p.in_channels : 1;
  // Where tap (ci, kh, kw) of channel ci of a task starts in its padded copy.
  std::vector<int64_t> tap_offset(taps_per_channel);
  for (int64_t i = 0; i < p.kernel_h; ++i)
    for (int64_t j = 0; j < p.kernel_w; ++j)
      tap_offset[i * p.kernel_w + j] = (i * p.dilation_h * l.pad_w + j * p.dilation_w) * pixel;
  // Where channel ci (of a task starting at c0) starts.
  const auto channel_offset = [&](int64_t ci, int64_t c0) { return nhwc ? ci : (ci - c0) * l.plane; };

  const int64_t in_image = p.in_channels * p.in_h * p.in_w;
  const int64_t out_image = p.out_channels * l.positions;
  const int64_t out_channel = p.channel_step(p.out_h, p.out_w), out_pixel = p.pixel_step(p.out_channels);
  const int64_t blocks = l.ld / l.lanes;
  const bool in_place =
      (nhwc || !p.channels_last) && p.pad_top == 0 && p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
  const bool gather_fits = out_channel * 16 < (int64_t{1} << 31);

  // Per tap, the output rows [oh, oh + h) and columns [ow, ow + w) whose
  // window reads it inside the image. With padding and enough channels per
  // task for full tiles, walking only those skips the products with padded
  // zeros (a 5x5 'same' layer on 7x7: 31% of them).
  std::vector<ValidRange> valid(taps_per_channel);
  bool padded_work = false;
  for (int64_t i = 0; i < p.kernel_h; ++i)
    for (int64_t j = 0; j < p.kernel_w; ++j) {
      ValidRange& v = valid[i * p.kernel_w + j];
      const auto range = [](int64_t offset, int64_t stride, int64_t in, int64_t out, int64_t* lo) {
        // o valid iff 0 <= o*stride + offset < in
        int64_t first = offset >= 0 ? 0 : ceil_div(-offset, stride);
        int64_t end = in - offset <= 0 ? 0 : ceil_div(in - offset, stride);
        first = std::min(first, out);
        end = std::max(first, std::min(end, out));
        *lo = first;
        return end - first;
      };
      v.h = range(i * p.dilation_h - p.pad_top, p.stride_h, p.in_h, p.out_h, &v.oh);
      v.w = range(j * p.dilation_w - p.pad_left, p.stride_w, p.in_w, p.out_w, &v.ow);
      padded_work = padded_work || v.h < p.out_h || v.w < p.out_w;
    }
  // Channels-last rows are channels at one tap whatever the padding: their
  // broadcasts then read adjacent values of one pixel, not 9 pixels a
  // cache line apart.
  const bool by_tap = (padded_work || nhwc) && l.channels_per_task >= kern.max_rows / 2;

  parallel_for(tasks, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* partial = l.shared ? shared.data() : scratch.slot(thread, per_thread);
    T* dout_t = scratch.slot(thread, per_thread) + (l.shared ? 0 : l.partial);
    T* padded = dout_t + l.dout_t;
    int64_t transposed = -1;
    int64_t offsets[64];  // max_rows <= 24 on every ISA
    for (int64_t task = begin; task < end; ++task) {
      // Shared: range by range, so that each thread's tasks cover whole
      // ranges (ranges are a multiple of the threads).
      const int64_t group = l.shared ? task % l.groups : task / l.ranges;
      const int64_t range = l.shared ? task / l.groups : task % l.ranges;
      const int64_t n0 = group * l.group, images = std::min(l.group, p.batch - n0);
      const int64_t c0 = std::min(p.in_channels, range * l.channels_per_task);
      const int64_t c1 = std::min(p.in_channels, c0 + l.channels_per_task);
      if (c0 >= c1) continue;
      if (transposed != group) {  // dout_t[block][i][position][lane] = dout[n0 + i, block*lanes + lane, position]
        for (int64_t i = 0; i < images; ++i) {
          const T* d = dout + (n0 + i) * out_image;
          for (int64_t b = 0; b < blocks; ++b) {
            const int live = static_cast<int>(std::min<int64_t>(l.lanes, p.out_channels - b * l.lanes));
            T* to = dout_t + ((b * l.group + i) * l.positions) * l.lanes;
            const T* from = d + b * l.lanes * out_channel;
            if (gather_fits)
              kern.gather_lanes(from, live, out_channel, out_pixel, l.positions, to, l.lanes);
            else
              for (int64_t q = 0; q < l.positions; ++q)
                for (int j = 0; j < l.lanes; ++j)
                  to[q * l.lanes + j] = j < live ? from[j * out_channel + q * out_pixel] : T(0);
          }
        }
        transposed = group;
      }
      const T* src = x + n0 * in_image;
      // Unpadded images (1x1 and 'valid' layers) are read in place.
      const T* planes = in_place ? src + (nhwc ? 0 : c0 * l.plane) : padded;
      const int64_t image_step = in_place ? in_image : (nhwc ? p.in_channels : l.channels_per_task) * l.plane;
      if (!in_place)
        for (int64_t i = 0; i < images; ++i) {
          if (nhwc)
            pad_input_pixels(p, src + i * in_image, l.pad_w, padded + i * image_step);
          else
            pad_input_planes(p, src + i * in_image, c0, c1, l.pad_w, l.plane, padded + i * image_step);
        }
      const int64_t row_step = p.stride_h * l.pad_w * pixel, column_step = p.stride_w * pixel;
      const int64_t block_step = l.group * l.positions * l.lanes;
      if (by_tap) {
        // Rows are channels at one tap, so the walk covers only the output
        // positions whose window tap lies inside the image, not the padding.
        const int64_t count = c1 - c0, tiles = ceil_div(count, kern.max_rows);
        for (int64_t tap = 0; tap < taps_per_channel; ++tap) {
          const ValidRange& v = valid[tap];
          if (v.h == 0 || v.w == 0) continue;
          const DirectWalk tap_walk{{images, v.h, v.w},
                                    {image_step, row_step, column_step},
                                    (p.out_w - v.w) * l.lanes,
                                    (p.out_h - v.h) * p.out_w * l.lanes};
          const int64_t start = tap_offset[tap] + v.oh * row_step + v.ow * column_step;
          for (int64_t tile = 0; tile < tiles; ++tile) {  // balanced: 16 channels are 8 + 8
            const int64_t r0 = count * tile / tiles, r1 = count * (tile + 1) / tiles;
            const int rows = static_cast<int>(r1 - r0);
            for (int r = 0; r < rows; ++r) offsets[r] = channel_offset(c0 + r0 + r, c0) + start;
            for (int64_t b = 0; b < blocks; ++b)
              kern.tile(tap_walk, planes, offsets, rows, dout_t + b * block_step + (v.oh * p.out_w + v.ow) * l.lanes,
                        partial + ((c0 + r0) * taps_per_channel + tap) * l.ld + b * l.lanes, taps_per_channel * l.ld);
          }
        }
        continue;
      }
      // Every output position of every image of the group: rows of out_w, stride apart.
      const DirectWalk walk{{images, p.out_h, p.out_w}, {image_step, row_step, column_step}};
      // Tiles of up to max_rows consecutive taps of dW^T (they may span channels).
      const int64_t first = c0 * taps_per_channel, last = c1 * taps_per_channel;
      for (int64_t t0 = first; t0 < last; t0 += kern.max_rows) {
        const int rows = static_cast<int>(std::min<int64_t>(kern.max_rows, last - t0));
        for (int r = 0; r < rows; ++r) {
          const int64_t t = t0 + r;
          offsets[r] = channel_offset(t / taps_per_channel, c0) + tap_offset[t % taps_per_channel];
        }
        for (int64_t b = 0; b < blocks; ++b)
          kern.tile(walk, planes, offsets, rows, dout_t + b * block_step, partial + t0 * l.ld + b * l.lanes, l.ld);
      }
    }
  });

  // dW[co][tap] = sum over threads of partial[tap][co], 16 taps at a time
  // so that both the partials' rows and dW's rows are read and written a
  // cache line at a time (column by column, each access would touch a new line).
  constexpr int64_t kTapBlock = 16;
  parallel_for(ceil_div(taps, kTapBlock), [&](int64_t begin, int64_t end, int) {
    std::vector<T> sum(static_cast<size_t>(kTapBlock * l.ld));
    for (int64_t block = begin; block < end; ++block) {
      const int64_t t0 = block * kTapBlock, n = std::min(taps - t0, kTapBlock);
      T* const total = sum.data();
      const T* first = (l.shared ? shared.data() : scratch.slot(0, per_thread)) + t0 * l.ld;
      std::copy(first, first + n * l.ld, total);
      for (int th = 1; th < (l.shared ? 1 : threads); ++th) {
        const T* part = scratch.slot(th, per_thread) + t0 * l.ld;
        for (int64_t e = 0; e < n * l.ld; ++e) total[e] += part[e];
      }
      for (int64_t co = 0; co < p.out_channels; ++co)
        for (int64_t t = 0; t < n; ++t) dw[co * taps + t0 + t] = total[t * l.ld + co];
    }
  });
}

template void conv2d_backward_weight_direct<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_backward_weight_direct<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastcnn

// 2-D convolution operators (NCHW; 1-D convolutions run as H = 1).
#pragma once
#include <cstdint>
#include <vector>

namespace fastcnn {

struct Conv2dParams {
  int64_t batch, in_channels, in_h, in_w;
  int64_t out_channels, kernel_h, kernel_w, out_h, out_w;
  int64_t stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right;
  int64_t dilation_h, dilation_w, groups;
  // Activations (x, out, dout, dx) are NHWC instead of NCHW; weights are
  // always (C_out, C_in/groups, KH, KW).
  bool channels_last;

  int64_t in_per_group() const { return in_channels / groups; }
  // Element (n, c, y, x) of an activation with `channels` channels and an
  // h x w plane sits at n*image + c*channel + (y*w + x)*pixel.
  int64_t channel_step(int64_t h, int64_t w) const { return channels_last ? 1 : h * w; }
  int64_t pixel_step(int64_t channels) const { return channels_last ? channels : 1; }
  int64_t out_per_group() const { return out_channels / groups; }
  int64_t gemm_k() const { return in_per_group() * kernel_h * kernel_w; }
};

// Validates shapes and arguments (std::invalid_argument naming the argument
// and shapes) and computes the output size.
Conv2dParams make_conv2d_params(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& w_shape,
                                int64_t stride_h, int64_t stride_w, int64_t pad_top, int64_t pad_bottom,
                                int64_t pad_left, int64_t pad_right, int64_t dilation_h, int64_t dilation_w,
                                int64_t groups, bool channels_last = false);

// How forward and backward-data compute: `automatic` picks by shape (a cost
// model), the others force one path (tests and benchmarks).
enum class ConvAlgorithm { automatic = 0, gemm = 1, winograd = 2, direct = 3 };

// Throws std::invalid_argument when `algorithm` cannot run this convolution
// (its weight gradient too when `weight_gradient`).
void check_conv2d_algorithm(const Conv2dParams& p, ConvAlgorithm algorithm, bool weight_gradient);

template <typename T>
void conv2d_forward(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out,
                    ConvAlgorithm algorithm = ConvAlgorithm::automatic);

template <typename T>
void conv2d_backward_data(const Conv2dParams& p, const T* dout, const T* w, T* dx,
                          ConvAlgorithm algorithm = ConvAlgorithm::automatic);

// Channels-last data through the channels-first algorithms in chunks of
// transposed images (conv2d_channels_first_route.cpp). The planner
// (conv_plan.cpp) asks the prefers_* rules about the channels-first
// geometry of one chunk: channels_first_chunk(p, elements of one image's
// input and result together).
Conv2dParams channels_first_chunk(const Conv2dParams& p, int64_t image_elements, int element_bytes);
bool prefers_channels_first_forward(const Conv2dParams& channels_first, int element_bytes);
bool winograd_pays_for_transposes(int64_t kernel, int64_t h, int64_t w);
bool prefers_channels_first_backward_data(const Conv2dParams& channels_first, int element_bytes);
// The weight gradient: where `auto` takes Winograd on channels-first data and
// its plane fills the 4x4 tiles (x and dout are both transposed).
bool prefers_channels_first_backward_weight(const Conv2dParams& channels_first);
template <typename T>
void conv2d_forward_through_channels_first(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out);
template <typename T>
void conv2d_backward_data_through_channels_first(const Conv2dParams& p, const T* dout, const T* w, T* dx);
template <typename T>
void conv2d_backward_weight_through_channels_first(const Conv2dParams& p, const T* dout, const T* x, T* dw);

// Backward-data of a stride-1 layer is the forward correlation of dout with
// the flipped, transposed weights: its geometry in *q, or false where it does
// not exist (a stride, groups, or padding past dilation x (kernel - 1)).
bool flipped_correlation(const Conv2dParams& p, Conv2dParams* q);
// That correlation on the direct tiles (conv2d_backward_data.cpp).
template <typename T>
void conv2d_backward_data_direct_tiles(const Conv2dParams& p, const T* dout, const T* w, T* dx);

// Direct convolution by output columns (conv2d_direct.cpp), forward only:
// one group, stride 1, dilation 1, NCHW; the automatic choice for few input
// channels.
bool direct_applies(const Conv2dParams& p);
bool prefers_direct(const Conv2dParams& p);
template <typename T>
void conv2d_forward_direct(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out);

// The direct tile (main, narrow or wide: see Kernels::direct_tile_narrow)
// for `channels` lanes of results: the narrow one when the main one would
// pad them by over 25%, the wide one for 2+ of its blocks without more
// padding than the main one.
enum class DirectTileKind { main, narrow, wide };
struct DirectTileShape {
  int lanes, max_rows;
  DirectTileKind kind;
};
DirectTileShape direct_tile_shape(int element_bytes, int64_t channels);

// Direct forward by tiles of output positions x channels
// (conv2d_direct_tiles.cpp): one group, any stride, padding and dilation.
bool direct_tiles_applies(const Conv2dParams& p);
bool direct_tiles_fits(const Conv2dParams& p, int element_bytes);
bool prefers_direct_tiles(const Conv2dParams& p, int element_bytes);
// Whether `channels` results fill at least 3/4 of the direct tile's lanes.
bool direct_tile_lanes_filled(int element_bytes, int64_t channels);
template <typename T>
void conv2d_forward_direct_tiles(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out);

// 1x1 convolutions, stride 1, no padding, NCHW, any groups
// (conv2d_pointwise.cpp): one GEMM per image reading its planes in place.
bool pointwise_applies(const Conv2dParams& p);
bool prefers_pointwise_forward(const Conv2dParams& p, int element_bytes);
template <typename T>
void conv2d_forward_pointwise(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out);
template <typename T>
void conv2d_backward_data_pointwise(const Conv2dParams& p, const T* dout, const T* w, T* dx);

// The implicit GEMM over a chunk of images laid out image-innermost
// (conv2d_image_lanes.cpp), forward: any stride, padding, dilation and
// groups, NCHW or NHWC, where nr images of the padded input fit its chunk.
bool image_lanes_applies(const Conv2dParams& p, int element_bytes);
bool prefers_image_lanes(const Conv2dParams& p, int element_bytes);
template <typename T>
void conv2d_forward_image_lanes(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out);

// Direct weight gradient (conv2d_direct_weight.cpp): one group, any stride,
// padding and dilation; `element_bytes` 4 or 8.
bool direct_weight_applies(const Conv2dParams& p);
bool direct_weight_fits(const Conv2dParams& p, int element_bytes);
bool prefers_direct_weight(const Conv2dParams& p, int element_bytes);
template <typename T>
void conv2d_backward_weight_direct(const Conv2dParams& p, const T* dout, const T* x, T* dw);

// Winograd F(4x4, 3x3) and F(4x4, 5x5) (conv2d_winograd.cpp): 3x3 or 5x5
// kernels, stride 1, dilation 1, one group, padding <= kernel - 1 per side.
bool winograd_applies(const Conv2dParams& p);
// F(4x4, 2x2) over the input's four phases (forward) or dx's (backward-data):
// 3x3 kernels, stride 2, dilation 1, one group, channels first, padding <= 2
// per side.
bool winograd_phase_applies(const Conv2dParams& p);
bool prefers_winograd_phases(const Conv2dParams& p);
bool prefers_winograd_phase_backward_data(const Conv2dParams& p);
// Whether the automatic choice takes Winograd, for a correlation from
// `source_channels` to `result_channels` planes of result_h x result_w
// (forward: C_in -> C_out, out_h x out_w; backward-data the reverse).
bool prefers_winograd(int64_t kernel, int64_t batch, int64_t source_channels, int64_t result_channels, int64_t result_h,
                      int64_t result_w);
// The same for the weight gradient, whose per-thread 6x6-domain sums take
// 36 x C_out x C_in values per thread.
// `transposed`: for channels-last data routed through channels-first
// copies, which must win by more than the transposes cost.
bool prefers_winograd_weight_gradient(const Conv2dParams& p, bool transposed = false);
// The same for deep layers (64+ channels each way), from fewer tiles; not
// for the weight gradient.
bool prefers_winograd_deep(int64_t kernel, int64_t batch, int64_t source_channels, int64_t result_channels,
                           int64_t result_h, int64_t result_w);
template <typename T>
void conv2d_forward_winograd(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out);
template <typename T>
void conv2d_backward_data_winograd(const Conv2dParams& p, const T* dout, const T* w, T* dx);
template <typename T>
void conv2d_backward_weight_winograd(const Conv2dParams& p, const T* dout, const T* x, T* dw);

// The few-input-channel variant (GEMM + col2im), and when it is the better one.
bool prefers_col2im(const Conv2dParams& p, int phase_mr, int col2im_mr);
template <typename T>
void conv2d_backward_data_col2im(const Conv2dParams& p, const T* dout, const T* w, T* dx);

template <typename T>
void conv2d_backward_weight(const Conv2dParams& p, const T* dout, const T* x, T* dw,
                            ConvAlgorithm algorithm = ConvAlgorithm::automatic);

template <typename T>
void conv2d_backward_bias(const Conv2dParams& p, const T* dout, T* db);

}  // namespace fastcnn

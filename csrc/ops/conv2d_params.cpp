#include <sstream>
#include <stdexcept>

#include "conv2d.h"

namespace fastcnn {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << (s.size() == 1 ? ",)" : ")");
  return o.str();
}

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

int64_t output_size(const char* dim, int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int64_t d) {
  const int64_t span = d * (k - 1) + 1;
  if (in + p0 + p1 < span) {
    std::ostringstream o;
    o << "kernel of extent " << span << " along " << dim << " does not fit in the padded input (" << in << " + " << p0
      << " + " << p1 << ")";
    fail(o.str());
  }
  return (in + p0 + p1 - span) / s + 1;
}

}  // namespace

Conv2dParams make_conv2d_params(const std::vector<int64_t>& xs, const std::vector<int64_t>& ws, int64_t stride_h,
                                int64_t stride_w, int64_t pad_top, int64_t pad_bottom, int64_t pad_left,
                                int64_t pad_right, int64_t dilation_h, int64_t dilation_w, int64_t groups,
                                bool channels_last) {
  if (xs.size() != 4)
    fail(std::string("x must be 4-D ") + (channels_last ? "(N, H, W, C)" : "(N, C, H, W)") + ", got shape " +
         shape_str(xs));
  if (ws.size() != 4) fail("w must be 4-D (C_out, C_in/groups, KH, KW), got shape " + shape_str(ws));
  for (int64_t v : xs)
    if (v <= 0) fail("x must have positive sizes, got shape " + shape_str(xs));
  for (int64_t v : ws)
    if (v <= 0) fail("w must have positive sizes, got shape " + shape_str(ws));
  if (stride_h <= 0 || stride_w <= 0) fail("stride must be positive");
  if (dilation_h <= 0 || dilation_w <= 0) fail("dilation must be positive");
  if (pad_top < 0 || pad_bottom < 0 || pad_left < 0 || pad_right < 0) fail("padding must be non-negative");
  if (groups <= 0) fail("groups must be positive");
  // Bounds that keep every index product far from int64 overflow.
  constexpr int64_t kLimit = int64_t{1} << 31;
  for (int64_t v : {stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right, dilation_h, dilation_w, ws[2], ws[3]})
    if (v > kLimit) fail("stride, padding, dilation and kernel size must be below 2**31");
  // From here on x's sizes are read as (N, C, H, W).
  const std::vector<int64_t> x_shape = channels_last ? std::vector<int64_t>{xs[0], xs[3], xs[1], xs[2]} : xs;
  if (x_shape[1] % groups || ws[0] % groups)
    fail("groups=" + std::to_string(groups) + " must divide x's channels " + shape_str(xs) +
         " and w's output channels " + shape_str(ws));
  if (ws[1] * groups != x_shape[1])
    fail("channel mismatch: x " + shape_str(xs) + " has " + std::to_string(x_shape[1]) + " channels, w " +
         shape_str(ws) + " expects " + std::to_string(ws[1]) + " x groups=" + std::to_string(groups));
  Conv2dParams p{};
  p.batch = x_shape[0];
  p.in_channels = x_shape[1];
  p.in_h = x_shape[2];
  p.in_w = x_shape[3];
  p.out_channels = ws[0];
  p.kernel_h = ws[2];
  p.kernel_w = ws[3];
  p.stride_h = stride_h;
  p.stride_w = stride_w;
  p.pad_top = pad_top;
  p.pad_bottom = pad_bottom;
  p.pad_left = pad_left;
  p.pad_right = pad_right;
  p.dilation_h = dilation_h;
  p.dilation_w = dilation_w;
  p.groups = groups;
  p.channels_last = channels_last;
  p.out_h = output_size("H", p.in_h, p.kernel_h, stride_h, pad_top, pad_bottom, dilation_h);
  p.out_w = output_size("W", p.in_w, p.kernel_w, stride_w, pad_left, pad_right, dilation_w);
  const double out_elements = double(p.batch) * double(p.out_channels) * double(p.out_h) * double(p.out_w);
  if (out_elements >= 4.0e18) fail("output of the convolution would have too many elements to index");
  return p;
}

}  // namespace fastcnn

#include "conv_plan.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cpu.h"
#include "gemm_blocking.h"

namespace fastcnn {

namespace {

// What the rules read: the convolution, what was asked for, and the
// backward-data weights' finiteness (asked once, on demand).
struct Context {
  const ConvPlanRequest& request;
  const Conv2dParams& p;
  bool forced_gemm, forced_winograd, forced_direct;
  bool any_auto;    // algorithm='auto'
  bool first_auto;  // algorithm='auto' on channels-first data
  int eb;
  mutable int finite = -1;

  explicit Context(const ConvPlanRequest& r)
      : request(r),
        p(r.p),
        forced_gemm(r.algorithm == ConvAlgorithm::gemm),
        forced_winograd(r.algorithm == ConvAlgorithm::winograd),
        forced_direct(r.algorithm == ConvAlgorithm::direct),
        any_auto(r.algorithm == ConvAlgorithm::automatic),
        first_auto(any_auto && !r.p.channels_last),
        eb(r.element_bytes) {}

  bool weights_finite() const {
    if (finite < 0) finite = !request.weights_finite || request.weights_finite() ? 1 : 0;
    return finite == 1;
  }
};

struct Verdict {
  bool applies, prefers;
  const char* why;
};

Verdict cannot(const char* why) { return {false, false, why}; }
Verdict take(const char* why) { return {true, true, why}; }
Verdict decline(const char* why) { return {true, false, why}; }
Verdict judge(bool prefers, const char* yes, const char* no) { return {true, prefers, prefers ? yes : no}; }

using Rule = Verdict (*)(const Context&);
struct Candidate {
  ConvPath path;
  Rule rule;
};

// ---------------------------------------------------------------- forward

Verdict forward_channels_first_route(const Context& c) {
  if (!c.any_auto || !c.p.channels_last) return cannot("only for algorithm='auto' on channels-last data");
  const int64_t image = c.p.in_h * c.p.in_w * c.p.in_channels + c.p.out_h * c.p.out_w * c.p.out_channels;
  return judge(prefers_channels_first_forward(channels_first_chunk(c.p, image, c.eb), c.eb),
               "Winograd on channels-first copies beats the channels-last tiles by more than the transposes",
               "Winograd would not run on the channels-first layout, or does not pay for the transposes");
}

Verdict forward_winograd_phases(const Context& c) {
  if (!winograd_phase_applies(c.p))
    return cannot("needs 3x3, stride 2, dilation 1, groups 1, channels-first data, padding <= 2");
  if (c.forced_winograd) return take("algorithm='winograd'");
  if (!c.first_auto) return cannot("only for algorithm='auto' or 'winograd'");
  return judge(prefers_winograd_phases(c.p),
               "32-64 input and 32+ output channels, 4x4 tiles cover the output exactly, 512+ tiles",
               "needs 32-64 input and 32+ output channels, an output divisible by 4 and 512+ tiles");
}

Verdict forward_winograd(const Context& c) {
  if (!winograd_applies(c.p))
    return cannot("needs a 3x3 or 5x5 kernel, stride 1, dilation 1, groups 1, padding <= kernel - 1");
  if (c.forced_winograd) return take("algorithm='winograd'");
  if (!c.first_auto) return cannot("only for algorithm='auto' or 'winograd' on channels-first data");
  const Conv2dParams& p = c.p;
  if (prefers_winograd_deep(p.kernel_h, p.batch, p.in_channels, p.out_channels, p.out_h, p.out_w))
    return take("3x3 with 64+ channels each way and 32+ tiles");
  if (!prefers_winograd(p.kernel_h, p.batch, p.in_channels, p.out_channels, p.out_h, p.out_w))
    return decline("too few channels (3x3: 8, 5x5: 6) or tiles (3x3: 160, 5x5: 128) for the transforms");
  const int64_t tiles = p.batch * ceil_div(p.out_h, 4) * ceil_div(p.out_w, 4);
  const bool few_tiles = tiles < 256 && (p.out_h * p.out_w <= 256 || p.in_channels <= 32);
  return judge(!(few_tiles && prefers_direct_tiles(p, c.eb)), "enough channels and tiles for the transforms",
               "under 256 tiles on a small plane or with few channels, where the direct tiles win");
}

Verdict forward_pointwise(const Context& c) {
  if (!pointwise_applies(c.p)) return cannot("needs a 1x1 kernel, stride 1, no padding, channels-first data");
  if (!c.first_auto) return cannot("only for algorithm='auto'");
  return judge(prefers_pointwise_forward(c.p, c.eb), "1x1: a plain GEMM reading the planes in place",
               "the implicit GEMM or tiles do better on this 1x1 layer's shape");
}

Verdict forward_direct_columns(const Context& c) {
  if (!direct_applies(c.p)) return cannot("needs groups 1, stride 1, dilation 1");
  if (!c.any_auto && !c.forced_direct) return cannot("only for algorithm='auto' or 'direct'");
  if (c.p.channels_last)
    return judge(c.any_auto && c.p.in_channels == 1, "channels-last data with one input channel",
                 "on channels-last data only for one input channel under algorithm='auto'");
  return judge(prefers_direct(c.p), "4 or fewer input channels: too few taps for a GEMM", "more than 4 input channels");
}

Verdict forward_direct_tiles(const Context& c) {
  if (!direct_tiles_applies(c.p)) return cannot("needs groups 1");
  if (c.forced_direct) return take("algorithm='direct'");
  if (!c.any_auto) return cannot("only for algorithm='auto' or 'direct'");
  if (c.p.channels_last && direct_tiles_fits(c.p, c.eb))
    return take("channels-last data: the tiles read each pixel's channels in place");
  return judge(prefers_direct_tiles(c.p, c.eb),
               "small output plane or an input that stays in L2, with lanes of output channels filled",
               "the plane or input is too large for the tiles, or too few output channels fill their lanes");
}

Verdict forward_image_lanes(const Context& c) {
  if (!image_lanes_applies(c.p, c.eb)) return cannot("needs a chunk of images of the padded input to fit in cache");
  if (!c.any_auto) return cannot("only for algorithm='auto'");
  return judge(prefers_image_lanes(c.p, c.eb), "many small images: the GEMM's columns would waste most lanes",
               "the images' positions fill the GEMM's columns");
}

Verdict forward_implicit_gemm(const Context& c) {
  return take(c.forced_gemm ? "algorithm='gemm'" : "any convolution; what the other candidates leave");
}

constexpr Candidate kForward[] = {
    {ConvPath::channels_first_route, forward_channels_first_route},
    {ConvPath::winograd_phases, forward_winograd_phases},
    {ConvPath::winograd, forward_winograd},
    {ConvPath::pointwise, forward_pointwise},
    {ConvPath::direct_columns, forward_direct_columns},
    {ConvPath::direct_tiles, forward_direct_tiles},
    {ConvPath::image_lanes, forward_image_lanes},
    {ConvPath::implicit_gemm, forward_implicit_gemm},
};

// ---------------------------------------------------------- backward data

Verdict data_nhwc_matmul(const Context& c) {
  const Conv2dParams& p = c.p;
  const bool one_by_one = p.groups == 1 && p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 &&
                          p.pad_top == 0 && p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
  if (!p.channels_last || !one_by_one)
    return cannot("needs channels-last data, a 1x1 kernel, stride 1, no padding, groups 1");
  if (!c.any_auto) return cannot("only for algorithm='auto'");
  return take("each pixel's dx row is its dout row times W: one GEMM over every pixel");
}

Verdict data_channels_first_route(const Context& c) {
  if (!c.any_auto || !c.p.channels_last) return cannot("only for algorithm='auto' on channels-last data");
  const int64_t image = c.p.out_h * c.p.out_w * c.p.out_channels + c.p.in_h * c.p.in_w * c.p.in_channels;
  return judge(prefers_channels_first_backward_data(channels_first_chunk(c.p, image, c.eb), c.eb),
               "the channels-first paths (Winograd, GEMMs, col2im) win by more than the transposes",
               "the channels-last direct tiles or phase GEMMs do better here");
}

Verdict data_col2im_for_non_finite(const Context& c) {
  if (!c.first_auto) return cannot("only for algorithm='auto' on channels-first data");
  return judge(!c.weights_finite(), "non-finite weights: col2im adds exactly the definition's terms",
               "the weights are finite");
}

Verdict data_winograd_phases(const Context& c) {
  if (!winograd_phase_applies(c.p))
    return cannot("needs 3x3, stride 2, dilation 1, groups 1, channels-first data, padding <= 2");
  if (c.forced_winograd) return take("algorithm='winograd'");
  if (!c.first_auto) return cannot("only for algorithm='auto' or 'winograd'");
  return judge(prefers_winograd_phase_backward_data(c.p), "128+ tiles on dx's phase grid, C_in x C_out bounded",
               "too few tiles on dx's phase grid, or too many channels for U to stay cached");
}

Verdict data_winograd(const Context& c) {
  if (!winograd_applies(c.p))
    return cannot("needs a 3x3 or 5x5 kernel, stride 1, dilation 1, groups 1, padding <= kernel - 1");
  if (c.forced_winograd) return take("algorithm='winograd'");
  if (!c.first_auto) return cannot("only for algorithm='auto' or 'winograd' on channels-first data");
  const Conv2dParams& p = c.p;
  return judge(prefers_winograd(p.kernel_h, p.batch, p.out_channels, p.in_channels, p.in_h, p.in_w) ||
                   prefers_winograd_deep(p.kernel_h, p.batch, p.out_channels, p.in_channels, p.in_h, p.in_w),
               "enough channels and tiles for the transforms", "too few channels or tiles for the transforms");
}

Verdict data_pointwise(const Context& c) {
  if (!pointwise_applies(c.p)) return cannot("needs a 1x1 kernel, stride 1, no padding, channels-first data");
  if (!c.first_auto) return cannot("only for algorithm='auto'");
  return take("1x1: a plain GEMM with W^T per image");
}

Verdict data_direct_tiles(const Context& c) {
  Conv2dParams q;
  if (!flipped_correlation(c.p, &q)) return cannot("needs stride 1, groups 1, padding <= dilation x (kernel - 1)");
  if (!c.any_auto) return cannot("only for algorithm='auto'");
  if (c.p.channels_last) {
    if (!c.weights_finite()) return decline("non-finite weights keep to the GEMMs");
    return judge(direct_tiles_applies(q) && direct_tiles_fits(q, c.eb),
                 "channels-last data: the tiles read dout's pixels in place",
                 "the padded dout does not fit the tiles' per-thread copy");
  }
  return judge(prefers_direct_tiles(q, c.eb), "the flipped correlation suits the tiles (small planes)",
               "the flipped correlation's plane or input is too large for the tiles");
}

Verdict data_col2im(const Context& c) {
  if (c.p.channels_last) return cannot("needs channels-first data");
  const int mr = c.eb == 4 ? with_row_tile(active_kernels().get<float>(), c.p.in_per_group()).gemm_mr
                           : with_row_tile(active_kernels().get<double>(), c.p.in_per_group()).gemm_mr;
  const int col2im_mr = c.eb == 4 ? active_kernels().get<float>().gemm_mr : active_kernels().get<double>().gemm_mr;
  return judge(prefers_col2im(c.p, mr, col2im_mr), "few input channels: the phase GEMMs would pad their row tile",
               "enough input channels for the phase GEMMs");
}

Verdict data_phase_gemm(const Context& c) {
  return take(c.forced_gemm ? "algorithm='gemm'" : "any convolution; what the other candidates leave");
}

constexpr Candidate kBackwardData[] = {
    {ConvPath::nhwc_matmul, data_nhwc_matmul},
    {ConvPath::channels_first_route, data_channels_first_route},
    {ConvPath::col2im, data_col2im_for_non_finite},
    {ConvPath::winograd_phases, data_winograd_phases},
    {ConvPath::winograd, data_winograd},
    {ConvPath::pointwise, data_pointwise},
    {ConvPath::direct_tiles, data_direct_tiles},
    {ConvPath::col2im, data_col2im},
    {ConvPath::phase_gemm, data_phase_gemm},
};

// -------------------------------------------------------- backward weight

Verdict weight_channels_first_route(const Context& c) {
  if (!c.any_auto || !c.p.channels_last) return cannot("only for algorithm='auto' on channels-last data");
  const int64_t image = c.p.in_h * c.p.in_w * c.p.in_channels + c.p.out_h * c.p.out_w * c.p.out_channels;
  return judge(prefers_channels_first_backward_weight(channels_first_chunk(c.p, image, c.eb)),
               "Winograd's weight gradient on channels-first copies pays for the transposes",
               "Winograd would not run on the channels-first layout, or does not pay for the transposes");
}

Verdict weight_winograd(const Context& c) {
  if (!winograd_applies(c.p))
    return cannot("needs a 3x3 or 5x5 kernel, stride 1, dilation 1, groups 1, padding <= kernel - 1");
  if (c.forced_winograd) return take("algorithm='winograd'");
  if (!c.first_auto) return cannot("only for algorithm='auto' or 'winograd' on channels-first data");
  return judge(prefers_winograd_weight_gradient(c.p), "enough channels and tiles filling the plane",
               "too few channels or tiles against the direct kernel, or too many channel pairs");
}

Verdict weight_direct(const Context& c) {
  if (!direct_weight_applies(c.p)) return cannot("needs groups 1");
  if (c.forced_direct) return take("algorithm='direct'");
  if (!c.any_auto) return cannot("only for algorithm='auto' or 'direct'");
  return judge(prefers_direct_weight(c.p, c.eb), "the direct kernel's sums fit its per-thread blocks",
               "the direct kernel's per-thread sums do not fit");
}

Verdict weight_gemm(const Context& c) {
  return take(c.forced_gemm ? "algorithm='gemm'" : "any convolution; what the other candidates leave");
}

constexpr Candidate kBackwardWeight[] = {
    {ConvPath::channels_first_route, weight_channels_first_route},
    {ConvPath::winograd, weight_winograd},
    {ConvPath::direct_weight, weight_direct},
    {ConvPath::gemm_weight, weight_gemm},
};

bool verbose_from_environment() {
  const char* v = std::getenv("FASTCNN_VERBOSE");
  return v && *v && std::strcmp(v, "0") != 0;
}

std::atomic<bool>& verbose_flag() {
  static std::atomic<bool> flag{verbose_from_environment()};
  return flag;
}

// Per pass: -1, or the path an override takes where it applies.
std::atomic<int> path_override[3] = {{-1}, {-1}, {-1}};

template <size_t N>
ConvPath choose(const Candidate (&list)[N], const Context& c, std::vector<ConvVerdict>* verdicts, const char** why) {
  const int forced = path_override[static_cast<int>(c.request.pass)].load(std::memory_order_relaxed);
  if (forced >= 0)
    for (const Candidate& candidate : list)
      if (static_cast<int>(candidate.path) == forced && candidate.rule(c).applies) {
        *why = "forced by set_conv_path_override";
        if (verdicts)
          for (const Candidate& other : list) {
            const Verdict v = other.rule(c);
            const bool it = &other == &candidate;
            verdicts->push_back({other.path, v.applies, it, it ? *why : v.why});
          }
        return candidate.path;
      }
  ConvPath chosen = list[N - 1].path;
  bool found = false;
  for (const Candidate& candidate : list) {
    const Verdict v = candidate.rule(c);
    if (verdicts) verdicts->push_back({candidate.path, v.applies, v.prefers, v.why});
    if (!found && v.applies && v.prefers) {
      chosen = candidate.path;
      *why = v.why;
      found = true;
      if (!verdicts) break;
    }
  }
  return chosen;
}

}  // namespace

const char* conv_pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::forward: return "forward";
    case ConvPass::backward_data: return "backward_data";
    case ConvPass::backward_weight: return "backward_weight";
  }
  return "?";
}

const char* conv_path_name(ConvPath path) {
  switch (path) {
    case ConvPath::channels_first_route: return "channels_first_route";
    case ConvPath::nhwc_matmul: return "nhwc_matmul";
    case ConvPath::winograd: return "winograd";
    case ConvPath::winograd_phases: return "winograd_phases";
    case ConvPath::pointwise: return "pointwise";
    case ConvPath::direct_columns: return "direct_columns";
    case ConvPath::direct_tiles: return "direct_tiles";
    case ConvPath::image_lanes: return "image_lanes";
    case ConvPath::implicit_gemm: return "implicit_gemm";
    case ConvPath::col2im: return "col2im";
    case ConvPath::phase_gemm: return "phase_gemm";
    case ConvPath::direct_weight: return "direct_weight";
    case ConvPath::gemm_weight: return "gemm_weight";
  }
  return "?";
}

bool conv_path_named(const std::string& name, ConvPath* path) {
  for (int i = 0; i <= static_cast<int>(ConvPath::gemm_weight); ++i)
    if (name == conv_path_name(static_cast<ConvPath>(i))) {
      *path = static_cast<ConvPath>(i);
      return true;
    }
  return false;
}

ConvPath plan_conv2d(const ConvPlanRequest& request, std::vector<ConvVerdict>* verdicts) {
  const Context c(request);
  const char* why = "";
  ConvPath path;
  switch (request.pass) {
    case ConvPass::forward: path = choose(kForward, c, verdicts, &why); break;
    case ConvPass::backward_data: path = choose(kBackwardData, c, verdicts, &why); break;
    default: path = choose(kBackwardWeight, c, verdicts, &why); break;
  }
  if (request.announce && conv_plan_verbose()) {
    const Conv2dParams& p = request.p;
    std::fprintf(stderr,
                 "fastcnn: conv2d %s x=(%lld, %lld, %lld, %lld) w=(%lld, %lld, %lld, %lld) stride=(%lld, %lld) "
                 "%s%s -> %s (%s)\n",
                 conv_pass_name(request.pass), (long long)p.batch, (long long)p.in_channels, (long long)p.in_h,
                 (long long)p.in_w, (long long)p.out_channels, (long long)p.in_per_group(), (long long)p.kernel_h,
                 (long long)p.kernel_w, (long long)p.stride_h, (long long)p.stride_w,
                 p.channels_last ? "channels_last " : "", request.element_bytes == 4 ? "float32" : "float64",
                 conv_path_name(path), why);
  }
  return path;
}

void set_conv_path_override(ConvPass pass, bool has_path, ConvPath path) {
  path_override[static_cast<int>(pass)].store(has_path ? static_cast<int>(path) : -1, std::memory_order_relaxed);
}

bool conv_plan_verbose() { return verbose_flag().load(std::memory_order_relaxed); }
void set_conv_plan_verbose(bool on) { verbose_flag().store(on, std::memory_order_relaxed); }

}  // namespace fastcnn

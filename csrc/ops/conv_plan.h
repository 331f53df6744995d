// Which algorithm computes a convolution pass: the one place that decides.
//
// Per pass (forward, backward-data, backward-weight) an ordered list of
// candidates; each states whether it applies (capability: can it compute
// this convolution under the requested `algorithm`) and whether it is
// preferred (policy, with one line of why). The first candidate that
// applies and is preferred runs; the last of each list always is. The
// executors (conv2d_forward.cpp, conv2d_backward_data.cpp,
// conv2d_backward_weight.cpp) only execute the chosen path.
//
// fastcnn.explain() returns the choice and every candidate's verdict;
// FASTCNN_VERBOSE=1 prints the choice of every call to stderr. The
// measurements behind the rules are in docs/algorithms.md and
// bench/planner_rules.py.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "conv2d.h"

namespace fastcnn {

enum class ConvPass { forward, backward_data, backward_weight };

enum class ConvPath {
  channels_first_route,  // channels-last data through the channels-first paths, in transposed chunks
  nhwc_matmul,           // dx of a channels-last 1x1 stride-1 layer: one GEMM over all pixels
  winograd,              // F(4x4, 3x3) / F(4x4, 5x5), stride 1
  winograd_phases,       // F(4x4, 2x2) over the four phases of a 3x3 stride-2 layer
  pointwise,             // 1x1 stride 1 unpadded: a plain GEMM per image
  direct_columns,        // the column kernel: few input channels, stride 1
  direct_tiles,          // register tiles of positions x output channels (dx: flipped weights)
  image_lanes,           // implicit GEMM with a chunk of images in the vector lanes
  implicit_gemm,         // im2col-free GEMM over tap tables
  col2im,                // dx: GEMM into columns, then col2im
  phase_gemm,            // dx: a transposed implicit GEMM per stride phase
  direct_weight,         // dW: the direct weight-gradient kernel
  gemm_weight,           // dW: GEMM over the batch from im2col bands
};

const char* conv_pass_name(ConvPass pass);
const char* conv_path_name(ConvPath path);
// The path of that name (false if none).
bool conv_path_named(const std::string& name, ConvPath* path);

// One candidate's verdict on one convolution.
struct ConvVerdict {
  ConvPath path;
  bool applies = false;
  bool prefers = false;
  std::string why;  // the rule that decided, in a line
};

struct ConvPlanRequest {
  ConvPass pass = ConvPass::forward;
  Conv2dParams p{};
  ConvAlgorithm algorithm = ConvAlgorithm::automatic;
  int element_bytes = 4;
  // backward-data only: whether every weight is finite (asked only when a
  // rule needs it: non-finite weights keep to col2im, which adds exactly
  // the terms of the definition).
  std::function<bool()> weights_finite;
  // false for a rule's own question about another geometry (no verbose line)
  bool announce = true;
};

// The chosen path; with `verdicts`, every candidate's verdict in order
// (the rules of candidates after the chosen one are still evaluated).
ConvPath plan_conv2d(const ConvPlanRequest& request, std::vector<ConvVerdict>* verdicts = nullptr);

// Tests and benchmarks: take `path` for every call of `pass` where that
// candidate applies, whatever the policy says (other calls plan as usual);
// has_path false clears it.
void set_conv_path_override(ConvPass pass, bool has_path, ConvPath path);

// Whether FASTCNN_VERBOSE asks for a line per call, and the switch.
bool conv_plan_verbose();
void set_conv_plan_verbose(bool on);

}  // namespace fastcnn

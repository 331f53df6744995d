// The Winograd schemes fastcnn uses, by kernel size: F(4x4, 3x3) (hand-written
// transforms) and F(4x4, 5x5) (hand-written
// transforms in kernels/winograd/winograd_f4x5_impl.h).
#pragma once
#include "../kernels/kernel_table.h"

namespace fastcnn {

// The scheme for an r x r kernel (r = 3 or 5), or null.
const WinogradMatrices* winograd_scheme(int64_t r);

// F(4x4, 2x2), for 3x3 stride-2 convolutions split into input phases.
const WinogradMatrices* winograd_phase_scheme();

}  // namespace fastcnn

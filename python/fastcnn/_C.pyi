"""Type stub of fastcnn._C, the native module (csrc/bindings*.cpp).

These are the raw kernels behind fastcnn.functional, fastcnn.elementwise and
fastcnn.plan; the documented API is fastcnn.functional. Every array argument
is float32 or float64 (one dtype per call; indices int64) and is checked
again here, so a malformed call raises ValueError / TypeError, never crashes.
Geometry is spelled out per side: stride_h/w, pad_top/bottom/left/right,
dilation_h/w. `channels_last=True` means NHWC instead of NCHW.

tests/ops/test_stub.py checks that this file names exactly what the module exports.
"""

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

_Float = NDArray[np.floating[Any]]  # float32 or float64
_Indices = NDArray[np.int64]
_Algorithm = Literal["auto", "gemm", "direct", "winograd"]
_Activation = str  # "identity", "relu", "leaky_relu", "sigmoid", "tanh", ...

# ----------------------------------------------------------------- convolution

def conv2d_forward(
    x: _Float,
    w: _Float,
    b: _Float | None,
    stride_h: int,
    stride_w: int,
    pad_top: int,
    pad_bottom: int,
    pad_left: int,
    pad_right: int,
    dilation_h: int,
    dilation_w: int,
    groups: int,
    algorithm: _Algorithm | str = "auto",
    channels_last: bool = False,
) -> _Float:
    """Convolution of x (N, C, H, W) with w (C_out, C / groups, KH, KW), plus b (C_out,) if given."""

def conv2d_backward(
    dout: _Float,
    x: _Float,
    w: _Float,
    stride_h: int,
    stride_w: int,
    pad_top: int,
    pad_bottom: int,
    pad_left: int,
    pad_right: int,
    dilation_h: int,
    dilation_w: int,
    groups: int,
    need_dx: bool,
    need_dw: bool,
    need_db: bool,
    algorithm: _Algorithm | str = "auto",
    channels_last: bool = False,
) -> tuple[_Float | None, _Float | None, _Float | None]:
    """(dx, dw, db); an entry not asked for by need_* is None."""

def explain_conv2d(
    pass_name: Literal["forward", "backward_data", "backward_weight"],
    x_shape: Sequence[int],
    w: _Float,
    stride_h: int,
    stride_w: int,
    pad_top: int,
    pad_bottom: int,
    pad_left: int,
    pad_right: int,
    dilation_h: int,
    dilation_w: int,
    groups: int,
    algorithm: _Algorithm | str = "auto",
    channels_last: bool = False,
) -> dict[str, Any]:
    """The path the planner takes for one pass: {"pass", "path", "why", "candidates": [
    {"path", "applies", "preferred", "chosen", "why"}, ...]}. x_shape is in the native layout."""

def set_conv_verbose(on: bool) -> None:
    """Turn on or off a line per convolution call naming its path (as FASTCNN_VERBOSE does)."""

def conv_verbose() -> bool: ...
def set_conv_path_override(
    pass_name: Literal["forward", "backward_data", "backward_weight"], path: str | None
) -> None:
    """Tests and benchmarks: take `path` (a name explain_conv2d reports) for every call of this
    pass where that candidate applies; None clears it."""

def matmul(a: _Float, b: _Float) -> _Float:
    """a (M, K) @ b (K, N), both of one dtype."""

# --------------------------------------------------------------------- pooling

def max_pool2d_forward(
    x: _Float,
    kernel_h: int,
    kernel_w: int,
    stride_h: int,
    stride_w: int,
    pad_top: int,
    pad_bottom: int,
    pad_left: int,
    pad_right: int,
    out_h: int,
    out_w: int,
    want_indices: bool,
    channels_last: bool = False,
) -> tuple[_Float, _Indices | None]:
    """(out, indices): indices are flat positions in each input plane (None unless want_indices)."""

def max_pool2d_backward(
    dout: _Float, indices: _Indices, in_h: int, in_w: int, channels_last: bool = False
) -> _Float: ...
def avg_pool2d_forward(
    x: _Float,
    kernel_h: int,
    kernel_w: int,
    stride_h: int,
    stride_w: int,
    pad_top: int,
    pad_bottom: int,
    pad_left: int,
    pad_right: int,
    out_h: int,
    out_w: int,
    count_include_pad: bool,
    channels_last: bool = False,
) -> _Float: ...
def avg_pool2d_backward(
    dout: _Float,
    in_h: int,
    in_w: int,
    kernel_h: int,
    kernel_w: int,
    stride_h: int,
    stride_w: int,
    pad_top: int,
    pad_bottom: int,
    pad_left: int,
    pad_right: int,
    count_include_pad: bool,
    channels_last: bool = False,
) -> _Float: ...
def global_avg_pool_forward(x: _Float, /) -> _Float:
    """Mean of each row of x (rows, size) -> (rows,)."""

def global_avg_pool_backward(dout: _Float, size: int, /) -> _Float:
    """dout (rows,) spread evenly over (rows, size)."""

def global_max_pool_forward(x: _Float, /) -> tuple[_Float, _Indices]:
    """(max, argmax) of each row of x (rows, size)."""

def global_max_pool_backward(dout: _Float, indices: _Indices, size: int, /) -> _Float: ...

# --------------------------------------------------------- elementwise and BN

def batch_norm_moments(x: _Float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(mean, variance) per channel (axis 1 of x viewed as (outer, C, inner)), in float64."""

def batch_norm_apply(
    x: _Float,
    scale: _Float,
    shift: _Float,
    activation: _Activation = "identity",
    slope: float = 0.0,
    out: _Float | None = None,
) -> _Float:
    """activation(x * scale + shift) per channel."""

def batch_norm_gradient_moments(
    dout: _Float,
    x: _Float,
    scale: _Float,
    shift: _Float,
    mean: _Float,
    activation: _Activation = "identity",
    slope: float = 0.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(sum dz, sum dz * (x - mean)) per channel, dz being dout through the activation."""

def batch_norm_gradient_apply(
    dout: _Float,
    x: _Float,
    a: _Float,
    b: _Float,
    d: _Float,
    scale: _Float,
    shift: _Float,
    activation: _Activation = "identity",
    slope: float = 0.0,
    out: _Float | None = None,
) -> _Float:
    """dx = a * dz + b * x + d per channel (dz: dout through the activation)."""

def activation_forward(
    x: _Float, activation: _Activation, slope: float = 0.0, out: _Float | None = None
) -> _Float: ...
def add(a: _Float, b: _Float, out: _Float | None = None) -> _Float:
    """a + b (same shape and dtype), threaded; out may be a or b."""

def activation_backward(
    dout: _Float, y: _Float, activation: _Activation, slope: float = 0.0, out: _Float | None = None
) -> _Float:
    """The gradient through an activation, from its output y."""

def softmax_forward(x: _Float, out: _Float | None = None) -> _Float:
    """Softmax over the last axis."""

def softmax_backward(dout: _Float, y: _Float, out: _Float | None = None) -> _Float: ...
def dropout(x: _Float, seed: int, rate: float, out: _Float | None = None) -> _Float:
    """x with a `rate` share of entries zeroed and the rest scaled by 1 / (1 - rate)."""

def flip_images(x: _Float, flags: NDArray[np.uint8], channels_last: bool = False) -> _Float:
    """Image n flipped left-right where flags[n] & 1, upside down where flags[n] & 2."""

def crop_images(
    x: _Float,
    corners: NDArray[np.int64],
    height: int,
    width: int,
    fill: float = 0.0,
    channels_last: bool = False,
) -> _Float:
    """Image n's (height, width) window at corners[n] = (top, left); outside the image: fill."""

def warp_affine(
    x: _Float,
    maps: NDArray[np.float64],
    height: int,
    width: int,
    interpolation: str = "bilinear",
    fill_mode: str = "reflect",
    fill: float = 0.0,
    channels_last: bool = False,
) -> _Float:
    """Image n warped by the affine map maps[n] from output pixel to source point."""

def adjust_images(
    x: _Float,
    contrast: NDArray[np.float64],
    brightness: NDArray[np.float64],
    clip: bool = False,
    low: float = 0.0,
    high: float = 0.0,
    channels_last: bool = False,
) -> _Float:
    """(x - channel mean) * contrast[n] + mean + brightness[n] per image, clipped to [low, high] when clip."""

def resample2d(
    x: _Float,
    row_lo: NDArray[np.int64],
    row_hi: NDArray[np.int64],
    row_weight: NDArray[np.float64],
    col_lo: NDArray[np.int64],
    col_hi: NDArray[np.int64],
    col_weight: NDArray[np.float64],
    bilinear: bool,
    fill: float,
    channels_last: bool,
) -> _Float:
    """Output row i reads input rows row_lo[i] (and row_hi[i]), column j columns col_lo[j] (and col_hi[j])."""

def resample2d_backward(
    dout: _Float,
    row_lo: NDArray[np.int64],
    row_hi: NDArray[np.int64],
    row_weight: NDArray[np.float64],
    col_lo: NDArray[np.int64],
    col_hi: NDArray[np.int64],
    col_weight: NDArray[np.float64],
    bilinear: bool,
    in_h: int,
    in_w: int,
    channels_last: bool,
) -> _Float:
    """The adjoint of resample2d for an input of (in_h, in_w)."""

def softmax_cross_entropy(
    logits: _Float, target: _Float | _Indices, grad_scale: float, want_grad: bool
) -> tuple[float, _Float | None]:
    """(summed loss, gradient * grad_scale or None); target is int64 labels or probabilities."""

def optimizer_step(
    kind: str,
    c: Sequence[float],
    decay: float,
    clipnorm: float,
    params: list[_Float],
    grads: list[_Float],
    states: list[Sequence[_Float | None]],
) -> None:
    """One in-place update of every parameter; `c` holds the rule's scalars (<= 10), each
    states[i] its 3 state arrays (None where the rule needs none)."""

# ------------------------------------------------------------ inference plan

class InferencePlan:
    """A run of native layers' inference, built step by step (fastcnn/plan.py) and run in one
    call with the GIL released. Values are ints: 0 the input, 1 the output, others from value()."""

    def __init__(
        self,
        dtype: Literal["float32", "float64"],
        input_elements: int,
        output_elements: int,
        arena_elements: int,
    ) -> None: ...
    def value(self, offset: int, elements: int) -> int:
        """A new intermediate value at `offset` in the arena; returns its id."""
    def conv2d(
        self,
        input: int,
        output: int,
        x_shape: Sequence[int],
        w: _Float,
        b: _Float | None,
        stride_h: int,
        stride_w: int,
        pad_top: int,
        pad_bottom: int,
        pad_left: int,
        pad_right: int,
        dilation_h: int,
        dilation_w: int,
        groups: int,
        channels_last: bool,
        activation: _Activation,
        slope: float,
        /,
    ) -> None: ...
    def conv_transpose(
        self,
        input: int,
        output: int,
        y_shape: Sequence[int],
        w: _Float,
        b: _Float | None,
        stride_h: int,
        stride_w: int,
        pad_top: int,
        pad_bottom: int,
        pad_left: int,
        pad_right: int,
        dilation_h: int,
        dilation_w: int,
        groups: int,
        channels_last: bool,
        activation: _Activation,
        slope: float,
        /,
    ) -> None:
        """The transpose of the convolution from y_shape (the step output) with w; bias, activation."""
    def concat(self, input: int, input2: int, output: int, rows: int, first: int, second: int) -> None:
        """Rows of `first` values from input then `second` from input2."""
    def dense(
        self,
        input: int,
        output: int,
        rows: int,
        w: _Float,
        b: _Float | None,
        activation: _Activation,
        slope: float,
        /,
    ) -> None: ...
    def pool2d(
        self,
        input: int,
        output: int,
        mode: Literal["max", "avg"],
        batch: int,
        channels: int,
        in_h: int,
        in_w: int,
        kernel_h: int,
        kernel_w: int,
        stride_h: int,
        stride_w: int,
        pad_top: int,
        pad_bottom: int,
        pad_left: int,
        pad_right: int,
        out_h: int,
        out_w: int,
        count_include_pad: bool,
        channels_last: bool,
        /,
    ) -> None: ...
    def global_avg_pool(self, input: int, output: int, rows: int, size: int, /) -> None: ...
    def resample(
        self,
        input: int,
        output: int,
        batch: int,
        channels: int,
        in_h: int,
        in_w: int,
        row_lo: NDArray[np.int64],
        row_hi: NDArray[np.int64],
        row_weight: NDArray[np.float64],
        col_lo: NDArray[np.int64],
        col_hi: NDArray[np.int64],
        col_weight: NDArray[np.float64],
        bilinear: bool,
        fill: float,
        channels_last: bool,
        /,
    ) -> None: ...
    def activation(self, input: int, output: int, size: int, name: _Activation, slope: float, /) -> None: ...
    def softmax(self, input: int, output: int, rows: int, columns: int, /) -> None: ...
    def add(
        self, input: int, input2: int, output: int, size: int, activation: _Activation, slope: float
    ) -> None:
        """output = activation(input + input2) over `size` values (a merge layer)."""
    def batch_norm(
        self,
        input: int,
        output: int,
        outer: int,
        channels: int,
        inner: int,
        scale: _Float,
        shift: _Float,
        activation: _Activation,
        slope: float,
        /,
    ) -> None: ...
    def run(self, x: _Float, out: _Float) -> None:
        """Runs every step on x, writing out (both C-contiguous, of the plan's dtype and sizes)."""
    @property
    def steps(self) -> int: ...
    @property
    def arena_elements(self) -> int: ...
    @property
    def dtype(self) -> str: ...
    @property
    def packed_bytes(self) -> int:
        """Bytes of weights packed by the runs so far and kept for the next."""

# ------------------------------------------------------------------- runtime

def set_num_threads(n: int, /) -> None: ...
def get_num_threads() -> int: ...
def set_isa(name: str, /) -> None:
    """Force a SIMD path: one of cpu_info()["supported_isas"]."""

def cpu_info() -> dict[str, Any]:
    """isa, supported_isas, num_threads, cpu, cache sizes, GEMM tiles, thread-pool settings."""

def set_output_cache_limit(bytes: int, /) -> None:
    """Bytes of recycled result blocks (of 1 MiB and more) kept for reuse; 0 turns the cache off."""

def output_cache_info() -> dict[str, int]: ...
def pool_stats() -> dict[str, int]:
    """Thread-pool counters since the last reset_pool_stats()."""

def reset_pool_stats() -> None: ...
def set_pool_spin_us(us: int, /) -> None: ...
def pool_spin_us() -> int: ...
def set_openmp_team(on: bool, /) -> None: ...
def openmp_team() -> bool: ...
def set_grain_scale(scale: float, /) -> None: ...
def grain_scale() -> float: ...
def serial_grain(family: Literal["conv", "pool", "matmul", "elementwise"], /) -> int:
    """The serial grain: multiply-adds (conv, matmul) or bytes (pool, elementwise) below
    which an op of this family does not split its work over threads."""

def fma_peak_gflops(threads: int = 0) -> float:
    """Measured float32 FMA peak (GFLOP/s) of the active ISA."""

def copy_bandwidth_gbs(threads: int = 0) -> float:
    """Measured memcpy bandwidth (GB/s read + written) over 128 MiB."""

# ------------------------------------------------ kernel tester (private, tests only)
# csrc/bindings_kernel_test.cpp: each calls one entry of a named ISA's kernel table
# (csrc/kernels/kernel_table.h) on buffers the caller prepares; `isa` must be in
# cpu_info()["supported_isas"]; buffers are C-contiguous, of one float dtype, and
# checked to hold everything the kernel touches. Driven by
# tests/kernels/test_microkernels.py.

def _kernel_table(isa: str) -> dict[str, Any]:
    """{"isa", "float32": {field: int | address | None}, "float64": {...}} of one table."""

def _test_gemm(
    isa: str,
    kernel: Literal["gemm", "gemm_narrow"],
    kc: int,
    a: _Float,
    b: _Float,
    c: _Float,
    ldc: int,
    accumulate: int,
) -> None: ...
def _test_gemm_offset_b(
    isa: str,
    kernel: Literal["gemm_offset_b", "gemm_offset_b_narrow"],
    kc: int,
    a: _Float,
    b: _Float,
    offset: _Indices,
    c: _Float,
    ldc: int,
    accumulate: int,
) -> None: ...
def _test_gemm_offset_b_store(
    isa: str,
    kernel: Literal["gemm_offset_b_store", "gemm_offset_b_store_narrow"],
    kc: int,
    a: _Float,
    b: _Float,
    offset: _Indices,
    c: _Float,
    ldc: int,
    accumulate: int,
    bias: _Float | None,
    rows: int,
    store_offset: _Indices,
    store_mask: NDArray[np.uint32],
    out: _Float,
    out_row_stride: int,
) -> None: ...
def _test_gemm_strided_b(
    isa: str,
    kernel: Literal["gemm_strided_b", "gemm_strided_b_narrow"],
    kc: int,
    a: _Float,
    b: _Float,
    ldb: int,
    c: _Float,
    ldc: int,
    rows: int,
    cols: int,
    accumulate: int,
    bias: _Float | None,
) -> None: ...
def _test_direct_tile(
    isa: str,
    kernel: Literal["direct_tile", "direct_tile_narrow", "direct_tile_wide"],
    count: Sequence[int],
    step: Sequence[int],
    b_row_skip: int,
    b_outer_skip: int,
    src: _Float,
    offsets: _Indices,
    rows: int,
    b: _Float,
    acc: _Float,
    ld: int,
    init: _Float | None = None,
) -> None: ...
def _test_direct_store_transposed(
    isa: str,
    kernel: Literal["direct_tile", "direct_tile_narrow", "direct_tile_wide"],
    acc: _Float,
    ld: int,
    rows: int,
    live: int,
    out: _Float,
    out_stride: int,
) -> None: ...
def _test_winograd_input(
    isa: str,
    scheme: Literal["f4x3", "f4x5", "f4x2"],
    transform: Literal["input", "output_gradient", "dx_input"],
    tiles: dict[str, int],
    plane: _Float,
    tile_begin: int,
    count: int,
    v: _Float,
    local0: int,
    point_stride: int,
    panel_stride: int,
    nr: int,
) -> None: ...
def _test_winograd_output(
    isa: str,
    scheme: Literal["f4x3", "f4x5", "f4x2"],
    tiles: dict[str, int],
    m: _Float,
    point_stride: int,
    tile_begin: int,
    count: int,
    bias: float,
    plane: _Float,
) -> None: ...
def _test_pool(
    isa: str,
    kernel: str,
    window: Sequence[int],
    count_include_pad: bool,
    src: _Float,
    dst: _Float,
    indices: _Indices | None = None,
    row_begin: int = 0,
    row_end: int = -1,
    channels: int = 1,
    stream: bool = False,
) -> None:
    """kernel: max_forward, avg_forward, avg_backward or their _nhwc forms; window: (in_h, in_w,
    out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right)."""

def _test_pool_reduce(isa: str, kernel: Literal["sum", "max_with_index"], x: _Float) -> tuple[float, int]: ...
def _test_copy(isa: str, kernel: Literal["pool.copy_streaming"], src: _Float, dst: _Float) -> None: ...
def _test_activation(isa: str, act: int, slope: float, x: _Float, y: _Float | None, out: _Float) -> None:
    """y None: activation_forward(x); else activation_backward(dy=x, y). act: Activation's value."""

def _test_bn_apply(
    isa: str, x: _Float, scale: _Float, shift: _Float, act: int, slope: float, out: _Float
) -> None: ...
def _test_softmax(isa: str, x: _Float, y: _Float | None, out: _Float) -> None: ...
def _test_optimizer_update(
    isa: str,
    kind: int,
    c: Sequence[float],
    decay: float,
    grad_scale: float,
    p: _Float,
    g: _Float,
    s0: _Float | None,
    s1: _Float | None,
    s2: _Float | None,
) -> None: ...
def _test_gemv_rows(
    isa: str,
    a: _Float,
    a_row: int,
    a_step: int,
    rows: int,
    b: _Float,
    b_row: int,
    k: int,
    n: int,
    c: _Float,
    c_row: int,
) -> None: ...
def _test_direct_gather_lanes(
    isa: str,
    kernel: Literal["direct_tile", "direct_tile_narrow", "direct_tile_wide"],
    src: _Float,
    live: int,
    channel_step: int,
    position_step: int,
    positions: int,
    to: _Float,
) -> None:
    """That tile's gather_lanes: to[q * lanes + j] = src[j * channel_step + q * position_step]."""

def _test_direct_rows(
    isa: str,
    conv: Sequence[int],
    padded: _Float,
    w_packed: _Float,
    bias: _Float | None,
    out: _Float,
    co_begin: int,
    co_end: int,
    row_begin: int,
    row_end: int,
) -> None:
    """direct.rows; conv: (in_channels, pad_h, pad_w, kernel_h, kernel_w, out_h, out_w, out_pixel)."""

def _test_winograd_dx_output(
    isa: str,
    tiles: dict[str, int],
    m: _Float,
    point_stride: int,
    phase_stride: int,
    tile_begin: int,
    count: int,
    plane: _Float,
) -> None:
    """winograd_f4x2_dx.output: four phases' M (phase_stride apart) into 8x8 blocks of dx."""

def _test_winograd_filter(
    isa: str,
    G: _Float,
    alpha: int,
    r: int,
    c_in: int,
    g: _Float,
    g_row: int,
    rows: int,
    mr: int,
    dst: _Float,
    point_stride: int,
) -> None:
    """winograd_filter (U = G g G^T of one A micro-panel); G: alpha x 7 in the filters' dtype."""

def _test_winograd_gradient_transform(
    isa: str, G: _Float, alpha: int, r: int, c_in: int, m: _Float, point_stride: int, dw: _Float
) -> None:
    """winograd_gradient_transform (dW = G^T M G over the input channels); G: alpha x 7."""

def _test_bn_moments(
    isa: str, x: _Float, shift: _Float, sum: NDArray[np.float64], sum_sq: NDArray[np.float64]
) -> None:
    """x 1-D: bn_moments_run (shift of one value); x 2-D (rows, channels): bn_moments_rows.
    Accumulates into the float64 sum and sum_sq."""

def _test_bn_gradient_moments(
    isa: str,
    dy: _Float,
    x: _Float,
    scale: _Float,
    shift: _Float,
    mean: _Float,
    act: int,
    slope: float,
    sum_dz: NDArray[np.float64],
    sum_dz_xc: NDArray[np.float64],
) -> None:
    """bn_gradient_moments_run (x 1-D) or _rows (x 2-D); act: 0 identity, 1 relu, 2 leaky_relu."""

def _test_bn_gradient_apply(
    isa: str,
    dy: _Float,
    x: _Float,
    a: _Float,
    b: _Float,
    d: _Float,
    scale: _Float,
    shift: _Float,
    act: int,
    slope: float,
    out: _Float,
) -> None:
    """bn_gradient_apply_run (x 1-D) or _rows (x 2-D); act: 0 identity, 1 relu, 2 leaky_relu."""

def _test_dropout_apply(
    isa: str, x: _Float, seed: int, first: int, threshold: int, scale: float, out: _Float
) -> None: ...
def _test_copy_runs(
    isa: str, src: _Float, column: _Indices, offset: _Indices, length: _Indices, dst: _Float
) -> None:
    """copy_runs; src and dst hold one 64-byte vector of slack past each run."""

def _test_pack_rows_transposed(
    isa: str, a: _Float, row: int, rows: int, k: int, mr: int, dst: _Float
) -> None: ...

"""Benchmark cases, and the callables that run them, shared by `compare.py`
and the pytest-benchmark suite `test_bench_ops.py`.

All cases are float32 NCHW (conv cases also NHWC with `as_channels_last()`,
against PyTorch's channels_last tensors). Conv cases come from the layers of small MNIST
and CIFAR nets and from ResNet's stage bodies; pool cases are a LeNet-style
2x2 pool and ResNet's 3x3 stride-2 stem pool (padding 1).

Forward is `conv2d(x, w, b)` / `max_pool2d(x)` / `avg_pool2d(x)`. Backward is
every gradient at once: dx, dw and db of a convolution, dx of a pool (max pool
from the forward's indices, as PyTorch does). PyTorch runs on tensors sharing
the NumPy arrays' memory: `torch.nn.functional` forwards under `no_grad`, and
`torch.ops.aten.convolution_backward` / `max_pool2d_with_indices_backward` /
`avg_pool2d_backward`, which compute exactly those gradients without autograd.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fastcnn import conv_output_size

try:
    import torch
except ImportError:  # PyTorch is optional
    torch = None

DIRECTIONS = ("forward", "backward")

BYTES_F32 = 4
BYTES_INDEX = 8  # max-pool indices are int64


@dataclass(frozen=True)
class ConvCase:
    name: str
    n: int
    c_in: int
    h: int
    w: int
    c_out: int
    k: int
    stride: int = 1
    padding: int = 0
    channels_last: bool = False  # x, dout and results NHWC (weights stay OIHW)

    unit = "GFLOP/s"  # how `work` is rated (a class constant, not a field)

    @property
    def out_hw(self):
        return (
            conv_output_size(self.h, self.k, self.stride, self.padding),
            conv_output_size(self.w, self.k, self.stride, self.padding),
        )

    @property
    def out_shape(self):
        return (self.n, self.c_out) + self.out_hw

    def forward_flops(self):
        """2 * N * C_out * H_out * W_out * C_in * KH * KW (one multiply-add = 2 flops)."""
        h_out, w_out = self.out_hw
        return 2 * self.n * self.c_out * h_out * w_out * self.c_in * self.k * self.k

    def backward_flops(self):
        """dx and dw each cost one forward; db is negligible."""
        return 2 * self.forward_flops()

    def work(self, direction):
        """Flops of one call, the numerator of the GFLOP/s rate."""
        return self.forward_flops() if direction == "forward" else self.backward_flops()

    def with_batch(self, n):
        return replace(self, n=n)

    def as_channels_last(self):
        return replace(self, channels_last=True)

    def describe(self):
        return (
            f"N{self.n} {self.c_in}x{self.h}x{self.w} -> {self.c_out}, "
            f"{self.k}x{self.k} s{self.stride} p{self.padding}" + (" NHWC" if self.channels_last else "")
        )

    def inputs(self, seed=0):
        """x, w, b and an upstream gradient dout, all float32 C-contiguous."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.n, self.c_in, self.h, self.w), dtype=np.float32)
        w = rng.standard_normal((self.c_out, self.c_in, self.k, self.k), dtype=np.float32)
        w *= np.float32(1.0 / np.sqrt(self.c_in * self.k * self.k))
        b = rng.standard_normal(self.c_out, dtype=np.float32)
        dout = rng.standard_normal(self.out_shape, dtype=np.float32)
        if self.channels_last:
            x, dout = (np.ascontiguousarray(np.moveaxis(a, 1, -1)) for a in (x, dout))
        return x, w, b, dout


@dataclass(frozen=True)
class PoolCase:
    name: str
    kind: str  # "max" or "avg"
    n: int
    c: int
    h: int
    w: int
    k: int
    stride: int
    padding: int = 0

    unit = "GB/s"  # how `work` is rated (a class constant, not a field)

    @property
    def out_hw(self):
        return (
            conv_output_size(self.h, self.k, self.stride, self.padding),
            conv_output_size(self.w, self.k, self.stride, self.padding),
        )

    @property
    def out_shape(self):
        return (self.n, self.c) + self.out_hw

    def _sizes(self):
        n_in = self.n * self.c * self.h * self.w
        h_out, w_out = self.out_hw
        return n_in, self.n * self.c * h_out * w_out

    def forward_bytes(self):
        """x read + output written."""
        n_in, n_out = self._sizes()
        return BYTES_F32 * (n_in + n_out)

    def backward_bytes(self):
        """dout read (+ int64 indices read for max) + dx written."""
        n_in, n_out = self._sizes()
        index_bytes = BYTES_INDEX * n_out if self.kind == "max" else 0
        return BYTES_F32 * (n_out + n_in) + index_bytes

    def work(self, direction):
        """Bytes moved by one call, the numerator of the GB/s rate."""
        return self.forward_bytes() if direction == "forward" else self.backward_bytes()

    def with_batch(self, n):
        return replace(self, n=n)

    def describe(self):
        return (
            f"{self.kind} N{self.n} {self.c}x{self.h}x{self.w}, "
            f"{self.k}x{self.k} s{self.stride} p{self.padding}"
        )

    def inputs(self, seed=0):
        """x and an upstream gradient dout, float32 C-contiguous."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.n, self.c, self.h, self.w), dtype=np.float32)
        dout = rng.standard_normal(self.out_shape, dtype=np.float32)
        return x, dout


CONV_CASES = [
    ConvCase("mnist_c1", 64, 1, 28, 28, 16, 5, padding=2),
    ConvCase("mnist_c2", 64, 16, 14, 14, 32, 5, padding=2),
    ConvCase("mnist_c3", 64, 32, 7, 7, 64, 5, padding=2),
    ConvCase("cifar_c1", 32, 3, 32, 32, 32, 3),
    ConvCase("cifar_c2", 32, 32, 15, 15, 64, 3),
    ConvCase("res_3x3", 32, 64, 56, 56, 64, 3, padding=1),
    ConvCase("res_3x3_s2", 32, 64, 56, 56, 128, 3, stride=2, padding=1),
    ConvCase("res_1x1", 32, 256, 14, 14, 64, 1),
]

# Later ResNet stages (not in the 16-ratio geomean): many channels on small
# planes, whose weights are megabytes, batch 32 and a small batch; stride-2
# downsampling of ResNet-18 and ResNet-50 v1.5; ResNet-50's 1x1 expansion.
DEEP_CASES = [
    ConvCase("res4_3x3", 32, 256, 14, 14, 256, 3, padding=1),
    ConvCase("res5_3x3", 32, 512, 7, 7, 512, 3, padding=1),
    ConvCase("res5_3x3_b8", 8, 512, 7, 7, 512, 3, padding=1),
    ConvCase("res4_3x3_s2", 32, 256, 14, 14, 512, 3, stride=2, padding=1),
    ConvCase("res50_3x3_s2", 16, 128, 56, 56, 128, 3, stride=2, padding=1),
    ConvCase("res50_1x1", 32, 512, 7, 7, 2048, 1),
]

POOL_CASES = [
    PoolCase("maxpool_2x2", "max", 64, 32, 28, 28, 2, 2),
    PoolCase("maxpool_3x3_s2", "max", 32, 64, 112, 112, 3, 2, padding=1),
    PoolCase("avgpool_2x2", "avg", 64, 32, 28, 28, 2, 2),
    PoolCase("avgpool_3x3_s2", "avg", 32, 64, 112, 112, 3, 2, padding=1),
]

CASES = {case.name: case for case in CONV_CASES + POOL_CASES}


# ------------------------------------------------------------ implementations


class NumpyApi:
    """fastcnn.functional or fastcnn.reference: both take the same arguments.

    Each method returns a no-argument callable running one op on ready inputs.
    """

    def __init__(self, module):
        self.f = module

    def conv_forward(self, case, x, w, b, dout):
        if case.channels_last:
            return lambda: self.f.conv2d(x, w, b, case.stride, case.padding, data_format="channels_last")
        return lambda: self.f.conv2d(x, w, b, case.stride, case.padding)

    def conv_backward(self, case, x, w, b, dout):
        if case.channels_last:
            return lambda: self.f.conv2d_backward(
                dout, x, w, case.stride, case.padding, data_format="channels_last"
            )
        return lambda: self.f.conv2d_backward(dout, x, w, case.stride, case.padding)

    def pool_forward(self, case, x, dout):
        pool = self.f.max_pool2d if case.kind == "max" else self.f.avg_pool2d
        return lambda: pool(x, case.k, case.stride, case.padding)

    def pool_backward(self, case, x, dout):
        if case.kind == "avg":
            return lambda: self.f.avg_pool2d_backward(dout, x, case.k, case.stride, case.padding)
        _, indices = self.f.max_pool2d(x, case.k, case.stride, case.padding, return_indices=True)
        return lambda: self.f.max_pool2d_backward(dout, x, case.k, case.stride, case.padding, indices=indices)


def _torch_activation(case, a):
    """A tensor on the array's memory; NHWC arrays become channels_last NCHW views."""
    t = torch.from_numpy(a)
    return t.permute(0, 3, 1, 2) if case.channels_last else t


class TorchApi:
    """The same ops through PyTorch (requires torch); channels-last cases run
    on channels_last tensors (weights too, as PyTorch's own NHWC path wants)."""

    def conv_forward(self, case, x, w, b, dout):
        x, w, b = _torch_activation(case, x), torch.from_numpy(w), torch.from_numpy(b)
        if case.channels_last:
            w = w.contiguous(memory_format=torch.channels_last)

        def run():
            with torch.no_grad():
                return torch.nn.functional.conv2d(x, w, b, case.stride, case.padding)

        return run

    def conv_backward(self, case, x, w, b, dout):
        dout, x, w = _torch_activation(case, dout), _torch_activation(case, x), torch.from_numpy(w)
        if case.channels_last:
            w = w.contiguous(memory_format=torch.channels_last)
        stride, padding = [case.stride] * 2, [case.padding] * 2
        return lambda: torch.ops.aten.convolution_backward(
            dout, x, w, [case.c_out], stride, padding, [1, 1], False, [0, 0], 1, [True, True, True]
        )

    def pool_forward(self, case, x, dout):
        x = torch.from_numpy(x)
        pool = torch.nn.functional.max_pool2d if case.kind == "max" else torch.nn.functional.avg_pool2d
        return lambda: pool(x, case.k, case.stride, case.padding)

    def pool_backward(self, case, x, dout):
        x, dout = torch.from_numpy(x), torch.from_numpy(dout)
        kernel, stride, padding = [case.k] * 2, [case.stride] * 2, [case.padding] * 2
        if case.kind == "avg":
            return lambda: torch.ops.aten.avg_pool2d_backward(
                dout, x, kernel, stride, padding, False, True, None
            )
        _, indices = torch.nn.functional.max_pool2d(x, case.k, case.stride, case.padding, return_indices=True)
        return lambda: torch.ops.aten.max_pool2d_with_indices_backward(
            dout, x, kernel, stride, padding, [1, 1], False, indices
        )


def make_op(api, case, direction, inputs=None):
    """A no-argument callable running `direction` of `case` with `api`.

    `inputs` defaults to `case.inputs()`; pass the same arrays to several
    APIs to time them on identical data.
    """
    if inputs is None:
        inputs = case.inputs()
    kind = "conv" if isinstance(case, ConvCase) else "pool"
    return getattr(api, f"{kind}_{direction}")(case, *inputs)

"""The convolution planner (csrc/ops/conv_plan.cpp) as fastcnn.explain reports
it: every path is reachable and chosen where its rule says, forced
algorithms are obeyed, the report lists every candidate in order, and the
path explain names is the one that runs (FASTCNN_VERBOSE's line per call)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastcnn
from fastcnn import functional as F

FORWARD = [
    "channels_first_route",
    "winograd_phases",
    "winograd",
    "pointwise",
    "direct_columns",
    "direct_tiles",
    "image_lanes",
    "implicit_gemm",
]
BACKWARD_DATA = [
    "nhwc_matmul",
    "channels_first_route",
    "col2im",
    "winograd_phases",
    "winograd",
    "pointwise",
    "direct_tiles",
    "col2im",
    "phase_gemm",
]
BACKWARD_WEIGHT = ["channels_first_route", "winograd", "direct_weight", "gemm_weight"]


def _case(n, c_in, c_out, size, k, last=False, dtype=np.float32, groups=1):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c_in, size, size)).astype(dtype)
    if last:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    w = rng.standard_normal((c_out, c_in // groups, k, k)).astype(dtype)
    return x, w


def _path(op, x, w, **kw):
    return fastcnn.explain(op, x, w, **kw).path


# (op, case, arguments, the path the rules give)
CHOICES = [
    ("conv2d", (8, 64, 64, 32, 3), dict(padding=1), "winograd"),
    ("conv2d", (32, 64, 64, 32, 3), dict(stride=2, padding=1), "winograd_phases"),
    (
        "conv2d",
        (8, 64, 64, 32, 3, True),
        dict(padding=1, data_format="channels_last"),
        "channels_first_route",
    ),
    ("conv2d", (8, 1, 16, 28, 5), dict(padding=2), "direct_columns"),
    ("conv2d", (1, 256, 256, 8, 3), dict(padding=1), "direct_tiles"),
    ("conv2d", (4, 16, 40, 12, 3, True), dict(padding=1, data_format="channels_last"), "direct_tiles"),
    ("conv2d", (32, 3, 16, 6, 3), dict(stride=2, padding=1), "image_lanes"),
    ("conv2d", (2, 32, 32, 7, 3, False, np.float32, 4), dict(padding=1, groups=4), "implicit_gemm"),
    ("conv2d_backward_data", (8, 256, 64, 14, 1, True), dict(data_format="channels_last"), "nhwc_matmul"),
    ("conv2d_backward_data", (8, 64, 64, 32, 3), dict(padding=1), "winograd"),
    ("conv2d_backward_data", (8, 64, 128, 14, 1), dict(), "pointwise"),
    ("conv2d_backward_data", (8, 1, 16, 28, 5), dict(padding=2), "col2im"),
    (
        "conv2d_backward_data",
        (2, 32, 32, 7, 3, False, np.float32, 4),
        dict(padding=1, groups=4),
        "phase_gemm",
    ),
    ("conv2d_backward_weight", (8, 64, 64, 32, 3), dict(padding=1), "winograd"),
    ("conv2d_backward_weight", (8, 64, 128, 14, 1), dict(), "direct_weight"),
    (
        "conv2d_backward_weight",
        (2, 32, 32, 7, 3, False, np.float32, 4),
        dict(padding=1, groups=4),
        "gemm_weight",
    ),
]


@pytest.mark.parametrize(
    "op,case,kw,path", CHOICES, ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(CHOICES)]
)
def test_rules_choose_the_expected_path(op, case, kw, path):
    x, w = _case(*case)
    assert _path(op, x, w, **kw) == path


def test_forced_algorithms_are_obeyed():
    x, w = _case(8, 64, 64, 32, 3)
    assert _path("conv2d", x, w, padding=1, algorithm="gemm") == "implicit_gemm"
    assert _path("conv2d", x, w, padding=1, algorithm="direct") == "direct_tiles"
    assert _path("conv2d_backward_weight", x, w, padding=1, algorithm="direct") == "direct_weight"
    x, w = _case(1, 128, 128, 16, 3)
    assert _path("conv2d", x, w, padding=1, algorithm="winograd") == "winograd"
    x, w = _case(32, 3, 16, 6, 3)  # 'gemm' means the implicit GEMM, not its image-lanes form
    assert _path("conv2d", x, w, stride=2, padding=1) == "image_lanes"
    assert _path("conv2d", x, w, stride=2, padding=1, algorithm="gemm") == "implicit_gemm"
    x, w = _case(2, 8, 8, 9, 3)
    assert _path("conv2d", x, w, stride=2, padding=1, algorithm="winograd") == "winograd_phases"
    with pytest.raises(ValueError, match="winograd"):
        fastcnn.explain("conv2d", x, w, stride=3, algorithm="winograd")


def test_non_finite_weights_keep_backward_data_to_col2im():
    x, w = _case(8, 64, 64, 32, 3)
    w[0, 0, 0, 0] = np.nan
    report = fastcnn.explain("conv2d_backward_data", x, w, padding=1)
    assert report.path == "col2im" and "non-finite" in report.why


@pytest.mark.parametrize(
    "op,order",
    [
        ("conv2d", FORWARD),
        ("conv2d_backward_data", BACKWARD_DATA),
        ("conv2d_backward_weight", BACKWARD_WEIGHT),
    ],
)
def test_report_lists_every_candidate_once_with_one_chosen(op, order):
    x, w = _case(4, 16, 32, 14, 3)
    report = fastcnn.explain(op, x, w, padding=1)
    assert [c.path for c in report.candidates] == order
    chosen = [c for c in report.candidates if c.chosen]
    assert len(chosen) == 1 and chosen[0].path == report.path and chosen[0].applies and chosen[0].preferred
    first = next(c for c in report.candidates if c.applies and c.preferred)
    assert first is chosen[0]  # the first that applies and prefers wins
    assert all(c.why for c in report.candidates)
    assert report.path in str(report)
    assert order[-1] in str(report)


def test_conv1d_is_planned_as_height_one():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 50)), rng.standard_normal((4, 3, 5))
    assert _path("conv1d", x, w) == _path("conv2d", x[:, :, None, :], w[:, :, None, :])
    last = np.ascontiguousarray(x.transpose(0, 2, 1))
    assert _path("conv1d", last, w, data_format="channels_last") in FORWARD


def test_explain_rejects_bad_arguments():
    x, w = _case(2, 4, 4, 8, 3)
    with pytest.raises(ValueError, match="op must be"):
        fastcnn.explain("conv3d", x, w)
    with pytest.raises(ValueError, match="algorithm"):
        fastcnn.explain("conv2d", x, w, algorithm="fft")
    with pytest.raises(ValueError):
        fastcnn.explain("conv2d", x, w[:, :3])


VERBOSE_SCRIPT = """
import numpy as np, fastcnn
from fastcnn import functional as F
rng = np.random.default_rng(0)
for shape, w, kw in [((8, 64, 32, 32), (64, 64, 3, 3), dict(padding=1)),
                     ((8, 1, 28, 28), (16, 1, 5, 5), dict(padding=2)),
                     ((32, 3, 6, 6), (16, 3, 3, 3), dict(stride=2, padding=1))]:
    x, w = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(w).astype(np.float32)
    print("EXPECT", fastcnn.explain("conv2d", x, w, **kw).path, flush=True)
    F.conv2d(x, w, **kw)
"""


def test_verbose_prints_the_path_explain_names():
    env = dict(os.environ, FASTCNN_VERBOSE="1")
    run = subprocess.run(
        [sys.executable, "-c", VERBOSE_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    expected = [line.split()[1] for line in run.stdout.splitlines() if line.startswith("EXPECT")]
    ran = [
        line.split(" -> ")[1].split()[0]
        for line in run.stderr.splitlines()
        if line.startswith("fastcnn: conv2d forward")
    ]
    assert expected and ran == expected


def test_verbose_switch():
    before = fastcnn._C.conv_verbose()
    try:
        fastcnn.set_verbose(True)
        assert fastcnn._C.conv_verbose()
        fastcnn.set_verbose(False)
        assert not fastcnn._C.conv_verbose()
    finally:
        fastcnn.set_verbose(before)


@pytest.mark.parametrize(
    "op,case,kw,path", CHOICES[:8], ids=[c[3] + str(i) for i, c in enumerate(CHOICES[:8])]
)
def test_every_forward_path_computes_the_reference(op, case, kw, path):
    x, w = _case(*case)
    got = F.conv2d(x, w, **kw)
    fmt = kw.get("data_format", "channels_first")
    first = np.moveaxis(x, -1, 1) if fmt == "channels_last" else x
    args = {k: v for k, v in kw.items() if k != "data_format"}
    want = fastcnn.reference.conv2d(first.astype(np.float64), w.astype(np.float64), **args)
    if fmt == "channels_last":
        want = np.moveaxis(want, 1, -1)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize(
    "pass_name,path",
    [
        ("forward", "direct_columns"),
        ("forward", "implicit_gemm"),
        ("backward_data", "col2im"),
        ("backward_weight", "gemm_weight"),
    ],
)
def test_path_override_forces_a_path_where_it_applies(pass_name, path):
    x, w = _case(8, 16, 32, 14, 3)
    op = {
        "forward": "conv2d",
        "backward_data": "conv2d_backward_data",
        "backward_weight": "conv2d_backward_weight",
    }[pass_name]
    want = fastcnn.reference.conv2d_backward(
        np.ones((8, 32, 14, 14)), x.astype(np.float64), w.astype(np.float64), padding=1
    )
    try:
        fastcnn._C.set_conv_path_override(pass_name, path)
        report = fastcnn.explain(op, x, w, padding=1)
        assert report.path == path
        assert [c.path for c in report.candidates if c.chosen] == [path]
        if pass_name == "forward":
            got, ref = F.conv2d(x, w, padding=1), fastcnn.reference.conv2d(x, w, padding=1)
        else:
            dx, dw, _ = F.conv2d_backward(np.ones((8, 32, 14, 14), np.float32), x, w, padding=1)
            got, ref = (dx, want[0]) if pass_name == "backward_data" else (dw, want[1])
        np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(ref).max()))
        # where the path does not apply, planning goes on as usual
        fastcnn._C.set_conv_path_override(
            pass_name, "nhwc_matmul" if pass_name != "backward_weight" else "direct_weight"
        )
        assert fastcnn.explain(op, x, w, padding=1, groups=1).path
    finally:
        fastcnn._C.set_conv_path_override(pass_name, None)
    with pytest.raises(ValueError, match="unknown path"):
        fastcnn._C.set_conv_path_override(pass_name, "fft")

"""bench/cs231n_speedup.py compares like with like: its pure-NumPy backends
and NumPy Adam compute what fastcnn.compat.cs231n computes, a training step
updates every parameter, and the script runs end to end."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastcnn.compat.cs231n import optim
from fastcnn.compat.cs231n.classifiers.cnn import ThreeLayerConvNet

BENCH = Path(__file__).resolve().parents[2] / "bench"
if not (BENCH / "cs231n_speedup.py").exists():
    pytest.skip("bench/ is not beside tests/", allow_module_level=True)
sys.path.insert(0, str(BENCH))
import cs231n_speedup as bench  # noqa: E402

SMALL = dict(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=6, num_classes=5, dtype=np.float64)


def _model(backend=None):
    np.random.seed(0)
    return ThreeLayerConvNet(**SMALL, weight_scale=0.1, backend=backend)


def test_numpy_backends_give_fastcnn_gradients():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 3, 8, 8)), rng.integers(0, 5, 3)
    loss, grads = _model().loss(x, y)
    for backend in (bench.NAIVE, bench.IM2COL):
        their_loss, their_grads = _model(backend).loss(x, y)
        assert abs(their_loss - loss) < 1e-12
        for k in grads:
            assert np.allclose(their_grads[k], grads[k], rtol=1e-10, atol=1e-12), (backend.__name__, k)


def test_train_step_with_either_adam_moves_every_parameter_alike():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 3, 8, 8)), rng.integers(0, 5, 3)
    ours, theirs = _model(), _model(bench.IM2COL)
    initial = {k: v.copy() for k, v in ours.params.items()}
    our_configs, their_configs = {}, {}
    for _ in range(3):
        bench.train_step(ours, x, y, optim.adam, our_configs)
        bench.train_step(theirs, x, y, bench._adam, their_configs)
    for k in initial:
        assert not np.array_equal(ours.params[k], initial[k]), k
        assert np.allclose(ours.params[k], theirs.params[k], rtol=1e-9, atol=1e-12), k
        assert our_configs[k]["t"] == their_configs[k]["t"] == 3


def test_the_script_runs():
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH / "cs231n_speedup.py"),
            "--repeats",
            "1",
            "--batch",
            "2",
            "--threads",
            "1",
            "--skip-naive",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(("float32", "float64"))]
    assert [r[1] for r in rows] == ["fastcnn", "im2col"] * 2
    assert all(float(r[-1]) < 1e-4 for r in rows)  # gradients agree with fastcnn's

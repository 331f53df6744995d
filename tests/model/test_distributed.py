"""Data-parallel training over MPI (fastcnn.distributed), run under `mpirun -n 2`.

Skipped when mpirun or mpi4py is missing (pip install '.[mpi]' and
apt-get install openmpi-bin libopenmpi-dev). The in-process tests check the
single-process fallbacks, which need neither.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fastcnn import distributed

TESTS = Path(__file__).resolve().parents[1]
SCRIPT = TESTS / "mpi_scripts" / "train_small.py"
TIMEOUT = 120
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None

needs_mpi = pytest.mark.skipif(
    shutil.which("mpirun") is None or not HAVE_MPI4PY,
    reason="needs mpirun (openmpi-bin) and mpi4py (the [mpi] extra)",
)


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI_", "PMIX_"))}
    env["OMP_NUM_THREADS"] = "1"
    env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
    return env


def mpirun(n, *args, timeout=TIMEOUT, cwd=None):
    cmd = [shutil.which("mpirun"), "-n", str(n), "--oversubscribe", "--bind-to", "none"]
    if os.geteuid() == 0:
        cmd.insert(1, "--allow-run-as-root")
    cmd += [sys.executable, *map(str, args)]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=cwd)
    return proc, time.monotonic() - start


def run_alone(*args):
    return subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT, env=_env()
    )


# ------------------------------------------------------------ without MPI


def test_single_process_world_is_a_no_op():
    if "mpi4py.MPI" not in sys.modules and distributed.env_world_size() == 1:
        world = distributed.get_world()
        assert (world.rank, world.size, world.comm) == (0, 1, None)
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import train_small
    finally:
        sys.path.pop(0)
    x, y = train_small.make_data()
    a, b = train_small.build_model(), train_small.build_model()
    ha = a.fit(x, y, batch_size=64, epochs=1, seed=3, verbose=0)
    hb = b.fit(x, y, batch_size=64, epochs=1, seed=3, verbose=0, distributed=True)
    assert ha.history == hb.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_missing_mpi4py_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py -> ImportError
    monkeypatch.setattr(distributed, "_WORLD", None)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(ImportError, match=r"fastcnn\[mpi\]"):
        distributed.get_world()


# ------------------------------------------------------------ under mpirun


def test_gradient_buckets_follow_backward_order():
    """Buckets are cut at layer boundaries, last layer first, never above the size
    limit unless one layer alone is larger, and cover every parameter once."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import train_small
    finally:
        sys.path.pop(0)
    model = train_small.build_model()
    model._ensure_built(np.zeros((1, 1, 8, 8)))
    sizes = [p.nbytes for p in model.params]
    for bucket_bytes in (1, 400, 2**20):
        buckets = distributed._GradientBuckets(model, bucket_bytes)
        covered = sorted(pi for _, members, _ in buckets.buckets for pi, _ in members)
        assert covered == list(range(len(model.params)))
        firsts = [min(layers) for _, _, layers in buckets.buckets]
        assert firsts == sorted(firsts, reverse=True)  # started in backward order
        for flat, members, layers in buckets.buckets:
            assert flat.nbytes <= bucket_bytes or len(layers) == 1
            for pi, view in members:
                assert view.shape == model.params[pi].shape and np.shares_memory(view, flat)
        if bucket_bytes == 2**20:
            assert len(buckets.buckets) == 1 and buckets.nbytes == sum(sizes)
        if bucket_bytes == 1:  # one bucket per layer
            assert len(buckets.buckets) == sum(1 for layer in model.layers if layer.params)


@needs_mpi
@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--bucket-mb", 1e-6],  # a bucket per layer
        ["--graph"],  # a two-output fastcnn.Model: per-output losses and metrics
        ["--iterable"],  # each rank its own list of batches
        ["--graph", "--iterable"],
    ],
    ids=["default_buckets", "small_buckets", "graph", "iterable", "graph_iterable"],
)
def test_two_ranks_match_one_rank_with_twice_the_batch(tmp_path, options):
    proc, _ = mpirun(2, SCRIPT, tmp_path / "two.npz", 32, "--steps", 20, *options)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ref = run_alone(SCRIPT, tmp_path / "one.npz", 64, "--steps", 20, *options)
    assert ref.returncode == 0, ref.stdout + ref.stderr
    two, one = np.load(tmp_path / "two.npz"), np.load(tmp_path / "one.npz")
    assert int(two["steps"]) == 20 and int(two["iterations"]) == int(one["iterations"]) == 20
    assert float(two["max_rank_diff"]) == 0.0  # the replicas never drift
    names = [k for k in one.files if k.startswith("arr_")]
    assert names
    for k in names:
        scale = np.max(np.abs(one[k]))
        assert np.max(np.abs(two[k] - one[k])) <= 1e-5 * scale, k
    logged = sorted(k for k in one.files if k.startswith("history/"))
    assert logged == sorted(k for k in two.files if k.startswith("history/"))
    if "--graph" in options:
        assert {"history/classes_loss", "history/value_loss", "history/classes_precision"} <= set(logged)
    for k in logged:  # losses to rounding; accuracy and precision are ratios of the same counts
        np.testing.assert_allclose(two[k], one[k], rtol=1e-9, atol=1e-12, err_msg=k)


@needs_mpi
def test_stop_training_on_one_rank_stops_every_rank_after_the_same_batch(tmp_path):
    proc, _ = mpirun(2, SCRIPT, tmp_path / "stop.npz", 32, "--mode", "stop")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = np.load(tmp_path / "stop.npz")
    assert int(result["iterations"]) == 3 and float(result["max_rank_diff"]) == 0.0
    assert len(result["loss"]) == 1  # the epoch ends after that batch, and training with it


@needs_mpi
def test_batchnorm_statistics_and_checkpoints(tmp_path):
    """BatchNorm moving stats are averaged (the replicas stay identical); rank 0 alone
    writes one loadable checkpoint per epoch."""
    from fastcnn.model import load_model

    ckpt = tmp_path / "ckpt-{epoch}.npz"
    proc, _ = mpirun(2, SCRIPT, tmp_path / "bn.npz", 32, "--steps", 20, "--bn", "--checkpoint", ckpt)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = np.load(tmp_path / "bn.npz")
    assert float(result["max_rank_diff"]) == 0.0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ckpt")) == [
        "ckpt-1.npz",
        "ckpt-2.npz",
    ]
    model = load_model(tmp_path / "ckpt-2.npz")
    assert model.epochs == 2 and model.optimizer.iterations == 20
    weights = [result[f"arr_{i}"] for i in range(len(model.get_weights()))]
    for saved, final in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(saved, final)


@needs_mpi
@pytest.mark.parametrize(
    "mode, expect",
    [
        ("raise", "rank 1 failed during a training step"),  # all ranks raise, no hang
        ("raise_backward", "failure in backward on the last rank"),  # reductions in flight
        ("hang", "waited more than"),  # watchdog -> comm.Abort
        ("abort", "failed outside a collective step"),  # rank 0 only -> comm.Abort
        ("mismatch", "ranks disagree on (samples"),  # checked before the first step
    ],
)
def test_a_failing_rank_ends_every_rank(tmp_path, mode, expect):
    proc, seconds = mpirun(2, SCRIPT, tmp_path / "x.npz", 32, "--mode", mode, "--timeout", 3, timeout=90)
    assert proc.returncode != 0
    assert expect in proc.stderr, proc.stderr[-3000:]
    assert seconds < 60
    assert not (tmp_path / "x.npz").exists()


@needs_mpi
def test_cli_train_under_mpirun(tmp_path):
    pytest.importorskip("sklearn")
    proc, _ = mpirun(
        2,
        "-m",
        "fastcnn",
        "train",
        "--model",
        "digits",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--save",
        tmp_path / "digits.npz",
        "--verbose",
        "1",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.count("training digits") == 1 and "2 ranks" in out
    assert out.count("test accuracy") == 1
    accuracy = float(out.split("test accuracy")[1].split()[0])
    assert accuracy > 0.5
    from fastcnn.model import load_model

    model = load_model(tmp_path / "digits.npz")
    assert model.epochs == 1

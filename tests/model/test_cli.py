"""The command line: `fastcnn train` on a fresh install, one-line failures, downloads.

Most tests call `fastcnn.cli.main` in this process; a few run `python -m
fastcnn` to see the exit status and stderr a shell sees. The slow test runs
the README's set-up commands in a fresh virtual environment.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import struct
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

from fastcnn import cli, data

REPO = Path(__file__).resolve().parents[2]


def fails(argv, capsys):
    """Runs main(argv), which must fail: (exit status, its one stderr line)."""
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return e.value.code, lines[0]


def accuracy_of(out):
    return float(re.search(r"test accuracy (\d\.\d+)", out).group(1))


# ----------------------------------------------------------------------------- train


def test_train_without_arguments_trains_on_the_packaged_digits(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # no scikit-learn needed
    assert cli.main(["train", "--epochs", "4", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "training digits on 1438 samples" in out
    assert accuracy_of(out) > 0.85, out


def test_train_help_lists_models_and_datasets(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for model in cli.MODEL_DATASETS:
        assert model in out
    epilog = out.split("datasets:")[1]
    for name in ("digits", "mnist", "fashion-mnist", "cifar10", "mnist1d"):
        assert re.search(rf"^  {name} ", epilog, re.M), name
    assert epilog.count("downloaded on first use") == 3 and "no download" in epilog
    assert "(11.6 MB)" in epilog and "(170.5 MB)" in epilog  # from the download table's sizes


def test_every_zoo_model_has_a_dataset():
    from fastcnn import zoo

    assert set(cli.MODEL_DATASETS) == set(zoo.MODELS)
    assert set(cli.MODEL_DATASETS.values()) == {"digits", "mnist", "fashion-mnist", "cifar10", "mnist1d"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "nope"], "argument --model: invalid choice: 'nope'"),
        (["train", "--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
        (["train", "--batch-size", "x"], "argument --batch-size: expected an integer, got 'x'"),
        (["train", "--validation-split", "1.5"], "argument --validation-split: must be in [0, 1), got 1.5"),
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required"),
        (["download"], "the following arguments are required: DATASET"),
        (["download", "digits"], "invalid choice: 'digits'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys):
    code, line = fails(argv, capsys)
    assert code == 2
    assert message in line and line.startswith("fastcnn") and "--help" in line


def test_missing_data_offline_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FASTCNN_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_checkout_data_dir", lambda: None)
    code, line = fails(["train", "--model", "mnist-keras"], capsys)
    assert code == 2
    assert line.startswith("fastcnn train: error: cannot download mnist/train-images-idx3-ubyte.gz")
    assert "http://127.0.0.1:9/mnist/train-images-idx3-ubyte.gz" in line  # the closed port of conftest
    assert f"put it at {tmp_path / 'cache' / 'mnist' / 'train-images-idx3-ubyte.gz'}" in line
    code, line = fails(["train", "--model", "cifar-keras", "--no-download"], capsys)
    assert code == 2 and "CIFAR-10 file" in line and "not found" in line


def idx_gz(arr):
    """Gzipped IDX bytes of a uint8 array: 0, 0, 0x08, ndim, big-endian dims, data."""
    arr = np.asarray(arr, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return gzip.compress(header + arr.tobytes())


def idx_pair(n, seed):
    rng = np.random.default_rng(seed)
    return {
        "images-idx3-ubyte": rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8),
        "labels-idx1-ubyte": rng.integers(0, 10, size=n, dtype=np.uint8),
    }


def test_train_downloads_from_the_mirror(capsys, dataset_server):
    """`--model mnist-keras` on an empty cache: downloads, trains, prints the accuracy."""
    for prefix, n, seed in (("train", 64, 0), ("t10k", 32, 1)):
        for part, arr in idx_pair(n, seed).items():
            dataset_server.publish(f"mnist/{prefix}-{part}.gz", idx_gz(arr))
    assert cli.main(["train", "--model", "mnist-keras", "--epochs", "1", "--verbose", "0"]) == 0
    captured = capsys.readouterr()
    assert "training mnist-keras on 64 samples" in captured.out
    assert 0.0 <= accuracy_of(captured.out) <= 1.0
    assert f"downloading {dataset_server.url}/mnist/train-images-idx3-ubyte.gz" in captured.err
    assert len(dataset_server.requests) == 4
    assert cli.main(["download", "mnist"]) == 0  # already there: nothing fetched
    assert "mnist: 64 training and 32 test images ready" in capsys.readouterr().out
    assert len(dataset_server.requests) == 4


def test_mnist_uses_a_train_5k_subset_kept_beside_the_test_set(tmp_path):
    """The repository's shared data holds the MNIST test set and a 5,000-image
    training subset: the CLI trains on that instead of downloading."""
    for prefix, n in (("train-5k", 40), ("t10k", 20)):
        for part, arr in idx_pair(n, 0).items():
            (tmp_path / f"{prefix}-{part}.gz").write_bytes(idx_gz(arr))
    (x, y), (xt, yt) = cli.load_dataset("mnist-pytorch", str(tmp_path), download=True)
    assert len(x) == 40 and len(xt) == 20


def test_interrupt_is_one_line(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_dataset", interrupted)
    code, line = fails(["train"], capsys)
    assert (code, line) == (130, "fastcnn: interrupted")


def test_unexpected_errors_are_one_line_unless_debugging(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "load_dataset", broken)
    code, line = fails(["train"], capsys)
    assert code == 2
    expected = "ZeroDivisionError: division by zero (FASTCNN_DEBUG=1 shows the traceback)"
    assert line == f"fastcnn train: error: {expected}"
    monkeypatch.setenv("FASTCNN_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["train"])


def test_outputs_are_checked_before_training(capsys, monkeypatch, tmp_path):
    def must_not_load(*args, **kwargs):
        raise AssertionError("trained before checking the outputs")

    monkeypatch.setattr(cli, "load_dataset", must_not_load)
    code, line = fails(["train", "--save", str(tmp_path / "missing" / "m.npz")], capsys)
    assert code == 2 and f"folder {tmp_path / 'missing'} does not exist" in line
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: None)
    code, line = fails(["train", "--plot", str(tmp_path / "curves.png")], capsys)
    assert code == 2 and "--plot needs matplotlib" in line


def test_bench_still_runs(capsys, monkeypatch):
    monkeypatch.setattr(cli, "BENCH_CASES", [("tiny", 2, 3, 8, 8, 4, 3, 1, 1)])
    assert cli.main(["bench", "--repeat", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("threads=1 ") and re.search(r"^tiny .* GF/s .* GF/s", out, re.M)


def run_module(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "fastcnn", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_exit_status_as_a_shell_sees_it(tmp_path):
    bad = run_module("train", "--model", "nope")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and bad.stdout == ""
    offline = run_module(
        "train", "--model", "fashion-bn", "--data", str(tmp_path / "empty"), "--limit", "10"
    )  # a given --data folder downloads into itself
    assert offline.returncode == 2, offline.stderr
    assert offline.stderr.count("\n") == 1 and "cannot download fashion-mnist/" in offline.stderr
    ok = run_module("train", "--epochs", "1", "--verbose", "0")
    assert ok.returncode == 0 and "test accuracy" in ok.stdout, ok.stderr


# ----------------------------------------------------------------------------- a fresh install


def readme_setup_commands():
    """The commands of the README's first bash block, comments removed."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_readme_setup_commands_are_the_expected_pair():
    commands = readme_setup_commands()
    assert commands == ['pip install ".[test]" && fastcnn train', "pytest"]
    ci = (REPO / ".ci" / "run").read_text()
    assert all(c in ci for c in commands)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("FASTCNN_SLOW") != "1", reason="builds the C++ (minutes); FASTCNN_SLOW=1 runs it"
)
def test_readme_setup_in_a_fresh_virtual_environment(tmp_path):
    """A copy of the source tree (no build folder), a new virtual environment, and
    the README's commands exactly as written, each in bash with the venv active."""
    source = tmp_path / "fastcnn"
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (t.decode() for t in tracked)):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTCNN_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(PATH=f"{env_dir / 'bin'}:{env['PATH']}", VIRTUAL_ENV=str(env_dir), HOME=str(tmp_path / "home"))
    log = []
    for command in readme_setup_commands():
        done = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {command}"],
            cwd=source,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        log.append(f"$ {command}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        assert done.returncode == 0, "\n".join(log)
        if command.endswith("fastcnn train"):
            assert accuracy_of(done.stdout) > 0.85, done.stdout
    print("\n".join(log))
    site = subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-c",
            "import fastcnn, os; print(os.path.dirname(fastcnn.__file__))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(site, "_datasets", "digits.npz").is_file() and Path(site, "_datasets", "README.md").is_file()
    assert not Path(site).is_relative_to(source)  # the installed copy, not the source tree
    assert np.load(Path(site, "_datasets", "digits.npz"))["images"].shape == (1797, 8, 8)

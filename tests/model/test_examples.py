"""The examples in examples/ run and give the tutorial's numbers."""

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load(name):
    path = EXAMPLES / f"{name}.py"
    if not path.exists():
        pytest.skip(f"{path} not in this checkout")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_worked_example_matches_the_hand_computation():
    steps = load("worked_example").run(verbose=False)
    values = list(steps.values())
    np.testing.assert_array_equal(
        values[0][0, 0],
        [[-3, -4, 0, 4, 3], [-6, -6, 0, 6, 6], [-7, -6, 0, 6, 7], [-6, -6, 0, 6, 6], [-3, -4, 0, 4, 3]],
    )
    np.testing.assert_array_equal(values[2][0, 0], [[0, 6], [0, 6]])
    np.testing.assert_array_equal(values[3][0, 0], [[-6, -6], [6, 6]])
    np.testing.assert_array_equal(values[5][0, 0], [[6]])
    assert not np.signbit(values[1]).any(), "ReLU must give +0, not -0"
    np.testing.assert_allclose(steps["logits"][0], [7.0611362, -1.5500176, 8.042091], rtol=1e-6)
    # The tutorial prints 0.7274 for the last probability; exp arithmetic
    # gives 0.72726 (the three printed values sum to 1.00005), so 2e-4.
    np.testing.assert_allclose(steps["softmax"][0], [0.2726, 0.0000496, 0.7274], atol=2e-4)
    np.testing.assert_allclose(steps["softmax"].sum(), 1.0, rtol=1e-6)
    assert steps["class"] == 2


def test_cli_trains_the_digits_model(capsys):
    pytest.importorskip("sklearn")
    from fastcnn import cli

    cli.main(["train", "--model", "digits", "--epochs", "4", "--verbose", "0"])
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy")[1].split()[0])
    assert accuracy > 0.85, out


def test_every_zoo_model_builds_and_takes_one_step():
    from fastcnn import zoo

    rng = np.random.default_rng(0)
    for name, build in zoo.MODELS.items():
        model = build(seed=0)
        model.compile(**zoo.compile_args(name))
        x = rng.random((4,) + tuple(model.input_shape), dtype=np.float32)
        y = rng.integers(0, 10, 4)
        before = [p.copy() for p in model.params]
        model.train_on_batch(x, y)
        assert any(not np.array_equal(a, b) for a, b in zip(before, model.params)), name


def test_unet_example_segments_generated_shapes():
    _, score, _ = load("unet_shapes").run(images=96, epochs=8, size=16, verbose=0)
    assert score > 0.5, score


def test_autoencoder_example_learns_to_reconstruct_mnist():
    shared = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"
    if not (shared / "mnist").exists():
        pytest.skip("../shared/data/mnist not present")
    _, before, after, _ = load("conv_autoencoder_mnist").run(
        str(shared / "mnist"), epochs=2, limit=2048, verbose=0
    )
    assert after < 0.6 * before


def test_resnet20_example_runs_on_a_slice_of_fashion_mnist(capsys):
    shared = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"
    if not (shared / "fashion-mnist").exists():
        pytest.skip("../shared/data/fashion-mnist not present")
    accuracy = load("resnet20").main(
        ["fashion", str(shared / "fashion-mnist"), "--epochs", "1", "--limit", "512"]
    )
    assert 0.0 <= accuracy <= 1.0 and "test accuracy" in capsys.readouterr().out


def test_cifar_example_trains_on_augmented_batches_with_callbacks(tmp_path, capsys):
    log = tmp_path / "log.csv"
    history, accuracy = load("cifar_keras_cnn").main(
        ["--synthetic", "128", "--epochs", "2", "--log", str(log)]
    )
    assert len(history.history["loss"]) == 2 and 0 <= accuracy <= 1
    assert "lr" in log.read_text().splitlines()[0] or "learning_rate" in log.read_text().splitlines()[0]
    assert len(log.read_text().splitlines()) == 3  # a header and one row per epoch

"""The examples in examples/ run and give the tutorial's numbers."""
import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


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
    np.testing.assert_array_equal(values[0][0, 0], [[-3, -4, 0, 4, 3], [-6, -6, 0, 6, 6],
                                                    [-7, -6, 0, 6, 7], [-6, -6, 0, 6, 6],
                                                    [-3, -4, 0, 4, 3]])
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

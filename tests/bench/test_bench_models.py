"""bench/models.py: each model's PyTorch twin computes what the fastcnn
model computes (inference and one training step's loss), and the script
runs end to end on one small model."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
BENCH = Path(__file__).resolve().parents[2] / "bench"
if not (BENCH / "models.py").exists():
    pytest.skip("bench/ is not beside tests/", allow_module_level=True)
sys.path.insert(0, str(BENCH))
import models  # noqa: E402


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_torch_twin_matches_the_model(name):
    build, _ = models.MODELS[name]
    model = build(seed=1)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[])
    twin = models.torch_twin(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4,) + model.input_shape).astype(np.float32)
    twin.eval()
    with torch.no_grad():
        want = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-4, atol=1e-4)
    if any(type(layer).__name__ == "Dropout" for layer in model.layers):
        return  # masks differ: training outputs cannot match
    twin.train()
    y = rng.integers(0, 10, 4)
    want_loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y))
    model.compile("adam", fastcnn_loss(), metrics=[])
    assert abs(model.train_on_batch(x, y) - float(want_loss)) < 1e-4 * max(1, float(want_loss))


def fastcnn_loss():
    from fastcnn import losses

    return losses.SparseCategoricalCrossentropy(from_logits=True)


def test_models_script_runs():
    out = subprocess.run(
        [sys.executable, str(BENCH / "models.py"), "--quick", "--models", "mnist_keras", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "| mnist_keras bs32 |" in out.stdout and "geometric mean" in out.stdout

"""The tutorial's hand-computed CNN, step by step, on fastcnn layers.

A 5x5 image goes through conv 'same' (vertical-edge kernel) -> ReLU -> 2x2
max pool -> conv 'same' (horizontal-edge kernel) -> ReLU -> 2x2 max pool ->
dense (3 classes, fixed weights) -> softmax. Every intermediate value is the
one computed by hand in the tutorial; `python examples/worked_example.py`
prints them, and tests/model/test_examples.py checks them.
"""

from __future__ import annotations

import numpy as np

from fastcnn import layers

IMAGE = np.array(
    [[0, 1, 2, 1, 0], [1, 2, 3, 2, 1], [2, 3, 4, 3, 2], [1, 2, 3, 2, 1], [0, 1, 2, 1, 0]], dtype=np.float32
)
VERTICAL_EDGE = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float32)
HORIZONTAL_EDGE = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.float32)
DENSE_WEIGHTS = np.array([[1.176856, -0.25833628, 1.3403485]], dtype=np.float32)


def conv_layer(kernel):
    conv = layers.Conv2D(1, 3, padding="same", use_bias=False)
    conv.build((1, 5, 5))
    conv.set_weights([kernel[None, None]])
    return conv


def run(verbose=True):
    """Returns every intermediate array of the pipeline, by name."""
    steps = {}
    x = IMAGE[None, None]  # (N=1, C=1, 5, 5)
    pipeline = [
        ("conv1 (vertical edges, 'same')", conv_layer(VERTICAL_EDGE)),
        ("relu1", layers.ReLU()),
        ("pool1 (2x2 max, stride 2)", layers.MaxPool2D(2)),
        ("conv2 (horizontal edges, 'same')", conv_layer(HORIZONTAL_EDGE)),
        ("relu2", layers.ReLU()),
        ("pool2 (2x2 max, stride 2)", layers.MaxPool2D(2)),
        ("flatten", layers.Flatten()),
    ]
    for name, layer in pipeline:
        x = layer.forward(x)
        steps[name] = x
    dense = layers.Dense(3, use_bias=False)
    dense.build((1,))
    dense.set_weights([DENSE_WEIGHTS])
    steps["logits"] = logits = dense.forward(x)
    steps["softmax"] = probs = layers.Softmax().forward(logits)
    steps["class"] = int(np.argmax(probs))
    if verbose:
        for name, value in steps.items():
            shown = value[0, 0] if isinstance(value, np.ndarray) and value.ndim == 4 else value
            print(f"{name}:\n{np.array2string(np.asarray(shown), precision=7, suppress_small=True)}\n")
    return steps


if __name__ == "__main__":
    run()

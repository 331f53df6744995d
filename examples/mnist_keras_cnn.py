"""The Keras tutorial's MNIST CNN, trained with fastcnn, on MNIST and Fashion-MNIST.

Conv2D 32 4x4 relu, MaxPool 3x3, Conv2D 64 4x4 relu, MaxPool 3x3, Flatten,
Dense 64 relu, Dense 10 (logits); sparse cross-entropy from logits; Adam;
5 epochs; validation_split 0.1. MNIST: the 5,000-image training subset of
shared/data and the official test set; Fashion-MNIST: the full 60,000/10,000.
`python examples/mnist_keras_cnn.py [DATA_DIR] [--plot curves.png]`
"""

import sys

import numpy as np

from fastcnn import data, zoo

args = [a for a in sys.argv[1:] if not a.startswith("--")]
directory = args[0] if args else None
plot = sys.argv[sys.argv.index("--plot") + 1] if "--plot" in sys.argv else None

datasets = {
    "MNIST (5k train)": (
        data.load_mnist(directory, "train", prefix="train-5k"),
        data.load_mnist(directory, "test"),
    ),
    "Fashion-MNIST": (
        data.load_fashion_mnist(directory, "train"),
        data.load_fashion_mnist(directory, "test"),
    ),
}
for name, ((x, y), (x_test, y_test)) in datasets.items():
    # validation_split holds out the *last* 10% (Keras' rule); the 5k MNIST
    # subset is sorted by class, so shuffle once first or the held-out part
    # is all nines (and never trained on).
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    model = zoo.mnist_keras(seed=0)
    model.compile(**zoo.compile_args("mnist-keras"))
    history = model.fit(x, y, batch_size=32, epochs=5, validation_split=0.1, seed=0)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256)
    print(f"{name}: test accuracy {accuracy:.4f} (loss {loss:.4f})")
    if plot:
        history.plot(plot.replace(".png", f"-{name.split()[0].lower()}.png"))

"""The PyTorch tutorial's MNIST CNN, trained with fastcnn.

conv 1->16 5x5 p2, ReLU, maxpool 2; conv 16->32 5x5 p2, ReLU; conv 32->32
5x5 p2, ReLU, maxpool 2; conv 32->64 5x5 p2, ReLU; Linear 64*7*7 -> 10;
cross-entropy on logits; Adam; batch 64; 9 epochs.

Data: the 5,000 real MNIST training images in shared/data/mnist/train-5k-*
and the official 10,000 test images (pass another directory as argv[1]).
Note: the tutorial's learning rate 0.01 diverges on this 5,000-image subset
(PyTorch itself ends at 10% accuracy with it); we use Adam's default 1e-3,
with which PyTorch reaches 97.46% on the same data.
"""

import sys

from fastcnn import data, layers as L, losses, optimizers
from fastcnn.model import Sequential

directory = (sys.argv[1] or None) if len(sys.argv) > 1 else None
x, y = data.load_mnist(directory, "train", prefix="train-5k")
x_test, y_test = data.load_mnist(directory, "test")

model = Sequential(
    [
        L.Input((1, 28, 28)),
        L.Conv2D(16, 5, padding=2, activation="relu", seed=0),
        L.MaxPool2D(2),
        L.Conv2D(32, 5, padding=2, activation="relu", seed=1),
        L.Conv2D(32, 5, padding=2, activation="relu", seed=2),
        L.MaxPool2D(2),
        L.Conv2D(64, 5, padding=2, activation="relu", seed=3),
        L.Flatten(),
        L.Dense(10, seed=4),
    ]
)
model.compile(
    optimizer=optimizers.Adam(learning_rate=1e-3),
    loss=losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
model.summary()
model.fit(x, y, batch_size=64, epochs=9, seed=0)
loss, accuracy = model.evaluate(x_test, y_test, batch_size=256)
print(f"test accuracy {accuracy:.4f} (loss {loss:.4f})")

"""A Fashion-MNIST CNN with two conv blocks, BatchNorm and pooling (fastcnn.zoo.fashion_bn).

The dataset's benchmark table lists 0.934 test accuracy for "2 Conv +
pooling + BN"; this model is in that family. Adam 1e-3, decayed by 0.7 per
epoch (without the decay it plateaus near 0.929). `python examples/fashion_bn.py [DATA_DIR] [EPOCHS]`
"""

import sys

from fastcnn import data, zoo

directory = (sys.argv[1] or None) if len(sys.argv) > 1 else None
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 8
(x, y), (x_test, y_test) = (
    data.load_fashion_mnist(directory, "train"),
    data.load_fashion_mnist(directory, "test"),
)
model = zoo.fashion_bn(seed=0)
model.compile(**zoo.compile_args("fashion-bn"))
model.summary()
model.fit(x, y, batch_size=64, epochs=epochs, seed=0, **zoo.fit_args("fashion-bn"))
loss, accuracy = model.evaluate(x_test, y_test, batch_size=256)
print(f"test accuracy {accuracy:.4f} (loss {loss:.4f})")

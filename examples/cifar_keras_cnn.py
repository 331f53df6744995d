"""The Keras tutorial's CIFAR-10 CNN (fastcnn.zoo.cifar_keras), 10 epochs with Adam.

`python examples/cifar_keras_cnn.py DIR` reads the CIFAR-10 python batches
(data_batch_1..5, test_batch) from DIR and plots accuracy curves to
cifar_accuracy.png. CIFAR-10 cannot be downloaded on the machines this
project is tested on; without DIR the script trains on generated data of the
same shape (a smoke run: random labels, so expect ~10% accuracy).
"""

import sys

import numpy as np

from fastcnn import data, zoo

if len(sys.argv) > 1:
    (x, y), (x_test, y_test) = data.load_cifar10(sys.argv[1], "train"), data.load_cifar10(sys.argv[1], "test")
    epochs = 10
else:
    rng = np.random.default_rng(0)
    x, y = rng.random((512, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, 512)
    x_test, y_test = rng.random((128, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, 128)
    epochs = 2
model = zoo.cifar_keras(seed=0)
model.compile(**zoo.compile_args("cifar-keras"))
model.summary()
history = model.fit(x, y, batch_size=64, epochs=epochs, validation_data=(x_test, y_test), seed=0)
print("test [loss, accuracy]:", model.evaluate(x_test, y_test, batch_size=256))
history.plot("cifar_accuracy.png")

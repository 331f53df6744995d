"""1-D signal classification with Conv1D (the tutorial's ECG-style case) on MNIST-1D.

MNIST-1D (Greydanus 2020) is generated offline by the `mnist1d` package
(`pip install mnist1d`): 4,000 training and 1,000 test signals of 40
samples, 10 classes. Its paper reports CNN ~94%, MLP 68%, logistic 32%.
"""

import sys

from fastcnn import data, zoo

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
(x, y), (x_test, y_test) = data.load_mnist1d()
model = zoo.signal_1d(seed=0, length=x.shape[-1])
model.compile(**zoo.compile_args("signal-1d"))
model.summary()
model.fit(x, y, batch_size=64, epochs=epochs, seed=0, verbose=1)
loss, accuracy = model.evaluate(x_test, y_test, batch_size=256)
print(f"test accuracy {accuracy:.4f} (loss {loss:.4f})")

"""The Keras tutorial's CIFAR-10 CNN (fastcnn.zoo.cifar_keras) with the CIFAR
augmentation recipe and the usual callbacks.

    python examples/cifar_keras_cnn.py [DIR] [--epochs 20] [--no-augment]

DIR holds the CIFAR-10 python batches (data_batch_1..5, test_batch); without
it the script downloads CIFAR-10 into the dataset cache (`fastcnn download
cifar10`), and with --synthetic it trains on generated data of the same
shape (a smoke run: random labels, expect ~10% accuracy).

Training batches come from a fastcnn.data.Dataset: shuffled per epoch, each
batch flipped left-right at random and cropped 32x32 from the image padded
by 4 (native ops, on the prefetch thread while the previous batch trains).
Callbacks: the best weights by validation accuracy come back at the end
(EarlyStopping), the learning rate drops when validation loss stalls
(ReduceLROnPlateau), and each epoch is logged to cifar_log.csv.
"""

import argparse

import numpy as np

import fastcnn.augment as A
from fastcnn import callbacks, data, zoo


def augmented(x, y, batch_size, seed):
    rng = np.random.default_rng(seed)

    def flip_and_crop(xb, yb):
        xb = A.random_flip(xb, "horizontal", rng=rng)
        return A.random_crop(xb, 32, 32, padding=4, rng=rng), yb

    return data.Dataset.from_arrays(x, y).shuffle(seed=seed).batch(batch_size).map(flip_and_crop).prefetch(2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", default=None)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--synthetic", type=int, default=0, help="train on N generated images instead")
    parser.add_argument("--log", default="cifar_log.csv")
    args = parser.parse_args(argv)
    if args.synthetic:
        rng = np.random.default_rng(0)
        n = args.synthetic
        x, y = rng.random((n, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, n)
        x_test, y_test = rng.random((n // 4, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, n // 4)
    else:
        (x, y), (x_test, y_test) = data.load_cifar10(args.data, "train"), data.load_cifar10(args.data, "test")
    model = zoo.cifar_keras(seed=0)
    model.compile(**zoo.compile_args("cifar-keras"))
    model.summary()
    train = (x, y) if args.no_augment else (augmented(x, y, args.batch_size, seed=0),)
    history = model.fit(
        *train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(x_test, y_test),
        seed=0,
        callbacks=[
            callbacks.EarlyStopping(monitor="val_accuracy", patience=5, restore_best_weights=True),
            callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),
            callbacks.CSVLogger(args.log),
        ],
    )
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256)
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f})")
    return history, accuracy


if __name__ == "__main__":
    main()

"""A convolutional autoencoder (fastcnn.zoo.conv_autoencoder: strided convs down,
Conv2DTranspose up) trained to reconstruct MNIST digits. Prints the test
reconstruction loss; with matplotlib installed, `--plot PATH` saves digits and
their reconstructions.

    python examples/conv_autoencoder_mnist.py [DATA_DIR] [--epochs 3] [--limit N] [--plot ae.png]
"""

import argparse

import numpy as np

from fastcnn import data, zoo


def run(directory=None, epochs=3, limit=0, verbose=1):
    try:
        x, _ = data.load_mnist(directory, "train")
    except FileNotFoundError:  # the shared data ships a 5,000-image training subset
        x, _ = data.load_mnist(directory, "train", prefix="train-5k")
    x_test, _ = data.load_mnist(directory, "test")
    if limit:
        x, x_test = x[:limit], x_test[: max(limit // 5, 64)]
    model = zoo.conv_autoencoder(seed=0)
    model.compile("adam", "binary_crossentropy", metrics=[])
    before = model.evaluate(x_test, x_test, batch_size=256)
    model.fit(x, x, batch_size=64, epochs=epochs, seed=0, verbose=verbose)
    return model, before, model.evaluate(x_test, x_test, batch_size=256), x_test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    parser.add_argument("--plot", default=None, help="save a picture (needs matplotlib)")
    args = parser.parse_args(argv)
    model, before, after, x_test = run(args.data, args.epochs, args.limit)
    print(f"test reconstruction loss {after:.4f} (untrained {before:.4f})")
    if args.plot:
        import matplotlib.pyplot as plt

        out = model.predict(x_test[:8])
        fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
        for j in range(8):
            for row, image in enumerate((x_test[j, 0], out[j, 0])):
                axes[row, j].imshow(np.clip(image, 0, 1), cmap="gray")
                axes[row, j].axis("off")
        fig.savefig(args.plot, bbox_inches="tight")
        print(f"saved {args.plot}")


if __name__ == "__main__":
    main()

"""Segmentation with a small U-Net (fastcnn.zoo.unet) on generated images: discs and
squares on noise, the mask marking the shape. Prints the intersection over union
on held-out images; with matplotlib installed, `--plot PATH` saves images, masks
and predictions side by side.

    python examples/unet_shapes.py [--images 512] [--epochs 6] [--plot unet.png]
"""

import argparse

import numpy as np

from fastcnn import losses, optimizers, zoo


def shapes(n, size=32, seed=0):
    """n noisy images with one bright disc or square each, and its (N, 1, size, size) mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    x = rng.normal(0, 0.4, (n, 1, size, size)).astype(np.float32)
    y = np.zeros((n, 1, size, size), np.float32)
    for i in range(n):
        cy, cx = rng.integers(6, size - 6, 2)
        r = rng.integers(3, 6)
        inside = (
            (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r if i % 2 else (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
        )
        y[i, 0][inside] = 1
        x[i, 0][inside] += 1.0
    return x, y


def iou(logits, masks):
    predicted, truth = logits > 0, masks > 0
    return float(np.logical_and(predicted, truth).sum() / max(np.logical_or(predicted, truth).sum(), 1))


def run(images=512, epochs=6, size=32, verbose=1):
    x, y = shapes(images, size, seed=0)
    x_test, y_test = shapes(128, size, seed=1)
    model = zoo.unet(seed=0, input_shape=(1, size, size), base=8)
    model.compile(optimizers.Adam(3e-3), losses.BinaryCrossentropy(from_logits=True), metrics=[])
    model.fit(x, y, batch_size=32, epochs=epochs, seed=0, verbose=verbose)
    return model, iou(model.predict(x_test), y_test), (x_test, y_test)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--plot", default=None, help="save a picture (needs matplotlib)")
    args = parser.parse_args(argv)
    model, score, (x_test, y_test) = run(args.images, args.epochs)
    print(f"held-out intersection over union {score:.3f}")
    if args.plot:
        import matplotlib.pyplot as plt

        logits = model.predict(x_test[:6])
        fig, axes = plt.subplots(3, 6, figsize=(9, 4.5))
        for j in range(6):
            for row, image in enumerate((x_test[j, 0], y_test[j, 0], logits[j, 0] > 0)):
                axes[row, j].imshow(image, cmap="gray")
                axes[row, j].axis("off")
        fig.savefig(args.plot, bbox_inches="tight")
        print(f"saved {args.plot}")


if __name__ == "__main__":
    main()
